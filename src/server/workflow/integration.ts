// Where approval trees come from and where their outcomes go: the published app version
// (modeling) supplies the tree; the records engine's submit hook starts an instance, and the
// final decision makes the document effective in the same transaction.
import type { Tx } from '../db/index.ts';
import type { Actor, AppContext } from '../platform/context.ts';
import { AppError, notFound } from '../platform/errors.ts';
import type { WorkflowDef } from '../../shared/workflow-definition.ts';
import { startInstance, type StartResult } from './runtime.ts';

export interface WorkflowLookup {
  appVersion: number;
  workflow: WorkflowDef;
  record: Record<string, unknown>;
  title?: string;
}

/** Finds the published tree for a document and reads the document (set by the integration with modeling/records). */
export type WorkflowSource = (tx: Tx, ref: { app: string; entity: string; recordId: string }) => Promise<WorkflowLookup | null>;
let source: WorkflowSource | null = null;
export function setWorkflowSource(fn: WorkflowSource | null): void {
  source = fn;
}

export async function startFromPublished(
  ctx: AppContext,
  actor: Actor,
  input: { app: string; entity: string; recordId: string; picks?: Record<string, string[]> },
): Promise<StartResult> {
  if (!source) throw new AppError(503, 'not-available', 'Not available', 'Approvals cannot be started yet: no published app definitions are available on this server.');
  return ctx.db.tx(async (tx) => {
    const found = await source!(tx, input);
    if (!found) throw notFound(`The app "${input.app}" has no approval flow for "${input.entity}" record ${input.recordId}.`);
    return startInstance(tx, {
      app: input.app,
      appVersion: found.appVersion,
      workflow: found.workflow,
      recordId: input.recordId,
      record: found.record,
      title: found.title,
      actor,
      picks: input.picks,
      now: ctx.clock.now(),
    });
  });
}
