// Hook points around submit, for the workflow engine (approval trees) and automations.
//
//  - `onBeforeSubmit(fn)`: runs inside the submit transaction, after the record has been locked and
//    checked, before its status changes. Throw an AppError to refuse the submit (nothing is
//    written). Return `{ intercept: … }` to take the submit over: the record stays a draft, nothing
//    else of the submit happens (no status change, no history/event for "submitted"), and the
//    caller gets back `{ record, intercepted: … }` (HTTP 202). This is how an approval tree starts:
//    it writes its own workflow rows in the same transaction and, when the approval completes,
//    calls `submitRecordInTx(..., { skipHooks: true })` in the transaction of the final decision.
//  - `onAfterSubmit(fn)`: runs inside the same transaction after the status changed and the history
//    and event were written. Throwing rolls the whole submit back.
//
// Hooks are registered once at start-up by the engines that need them; each registration returns
// a function that removes it (tests).
import type { Tx } from '../db/index.ts';
import type { Actor, AppContext } from '../platform/index.ts';
import type { RecordJson } from './types.ts';

export interface SubmitEvent {
  ctx: AppContext;
  actor: Actor;
  app: string;
  entity: string;
  record: RecordJson;
}

/** A user changes or deletes a record (not the workflow engine itself). */
export interface ChangeEvent extends SubmitEvent {
  action: 'update' | 'delete';
}
export type BeforeChangeHook = (tx: Tx, e: ChangeEvent) => Promise<void>;

export type BeforeSubmitHook = (tx: Tx, e: SubmitEvent) => Promise<void | { intercept: unknown }>;
export type AfterSubmitHook = (tx: Tx, e: SubmitEvent) => Promise<void>;

const before: BeforeSubmitHook[] = [];
const after: AfterSubmitHook[] = [];
const beforeChange: BeforeChangeHook[] = [];

function remover<T>(list: T[], fn: T): () => void {
  list.push(fn);
  return () => {
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
  };
}

export const recordHooks = {
  onBeforeSubmit: (fn: BeforeSubmitHook) => remover(before, fn),
  onAfterSubmit: (fn: AfterSubmitHook) => remover(after, fn),
  /** Runs inside the update/delete transaction after the row is locked; throw to refuse. */
  onBeforeChange: (fn: BeforeChangeHook) => remover(beforeChange, fn),
};

export async function runBeforeChange(tx: Tx, e: ChangeEvent): Promise<void> {
  for (const fn of beforeChange) await fn(tx, e);
}

/** Runs the before-submit hooks in order; the first that intercepts wins. */
export async function runBeforeSubmit(tx: Tx, e: SubmitEvent): Promise<{ intercept: unknown } | null> {
  for (const fn of before) {
    const r = await fn(tx, e);
    if (r && 'intercept' in r) return r;
  }
  return null;
}

export async function runAfterSubmit(tx: Tx, e: SubmitEvent): Promise<void> {
  for (const fn of after) await fn(tx, e);
}
