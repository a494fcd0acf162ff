// Extension points of the workflow engine, filled by other engines at start-up:
// what an outcome does to the document (records), how editable fields reach the document,
// and typed actions that `action` nodes run. Every hook runs inside the caller's transaction.
import type { Tx } from '../db/index.ts';
import type { Actor } from '../platform/context.ts';

export type Outcome = 'approved' | 'rejected' | 'withdrawn' | 'returned' | 'resubmitted';

export interface OutcomeEvent {
  instanceId: string;
  app: string;
  appVersion: number;
  workflow: string;
  entity: string;
  recordId: string;
  outcome: Outcome;
  /** The document as the approval saw it (with fields edited by approvers). */
  record: Record<string, unknown>;
  actor: Actor;
  at: Date;
}

export interface RecordChangeEvent {
  instanceId: string;
  app: string;
  entity: string;
  recordId: string;
  changes: Record<string, unknown>;
  actor: Actor;
  at: Date;
}

export interface ActionEvent {
  instanceId: string;
  app: string;
  entity: string;
  recordId: string;
  record: Record<string, unknown>;
  nodeId: string;
  params: Record<string, unknown>;
  actor: Actor;
  at: Date;
}

export type OutcomeHook = (tx: Tx, e: OutcomeEvent) => Promise<void>;
/** May return the document as stored after the change (normalised values), which the instance then keeps. */
export type RecordChangeHook = (tx: Tx, e: RecordChangeEvent) => Promise<void | Record<string, unknown>>;
/** Returns changes to merge into the instance's copy of the document, if any. */
export type ActionHandler = (tx: Tx, e: ActionEvent) => Promise<void | { changes?: Record<string, unknown> }>;

const outcomeHooks = new Set<OutcomeHook>();
const recordChangeHooks = new Set<RecordChangeHook>();
const actions = new Map<string, ActionHandler>();

/** Called when an instance ends or changes hands with the initiator; returns an unregister function. */
export function onWorkflowOutcome(fn: OutcomeHook): () => void {
  outcomeHooks.add(fn);
  return () => outcomeHooks.delete(fn);
}

export function onRecordChange(fn: RecordChangeHook): () => void {
  recordChangeHooks.add(fn);
  return () => recordChangeHooks.delete(fn);
}

export function registerWorkflowAction(name: string, fn: ActionHandler): () => void {
  actions.set(name, fn);
  return () => actions.delete(name);
}

export function workflowAction(name: string): ActionHandler | undefined {
  return actions.get(name);
}

export function workflowActionNames(): string[] {
  return [...actions.keys()].sort();
}

export async function runOutcomeHooks(tx: Tx, e: OutcomeEvent): Promise<void> {
  for (const h of outcomeHooks) await h(tx, e);
}

export async function runRecordChangeHooks(tx: Tx, e: RecordChangeEvent): Promise<Record<string, unknown> | null> {
  let stored: Record<string, unknown> | null = null;
  for (const h of recordChangeHooks) stored = (await h(tx, e)) ?? stored;
  return stored;
}

/** Reads the document as it is now (records engine), for signature verification. */
export type DocumentLoader = (sql: import('../db/index.ts').Sql, ref: { app: string; entity: string; recordId: string }) => Promise<Record<string, unknown> | null>;
let documentLoader: DocumentLoader | null = null;
export function setDocumentLoader(fn: DocumentLoader | null): void {
  documentLoader = fn;
}
export function getDocumentLoader(): DocumentLoader | null {
  return documentLoader;
}

/**
 * The approval tree and condition scope of a published app version (modeling, via the
 * integration): what an instance pinned to that version runs on. Null when the version or its
 * tree is gone.
 */
export type PinnedLoader = (
  sql: import('../db/index.ts').Sql,
  ref: { app: string; version: number; entity: string },
) => Promise<{ definition: import('../../shared/workflow-definition.ts').WorkflowDef; scope: { app: import('../../shared/definition.ts').AppDef; timezone: string } } | null>;
let pinnedLoader: PinnedLoader | null = null;
export function setPinnedLoader(fn: PinnedLoader | null): void {
  pinnedLoader = fn;
}
export function getPinnedLoader(): PinnedLoader | null {
  return pinnedLoader;
}
