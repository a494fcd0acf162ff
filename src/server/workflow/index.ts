// Approval and workflow engine: DingTalk-style approval trees, tasks, durable timers,
// e-signatures, inbox. Other folders import only this file.
import type { Engine } from '../engine.ts';
import { registerScopes } from '../platform/auth/index.ts';
import { workflowMigrations } from './migrations.ts';
import { workflowRoutes } from './routes.ts';
import { startTimerWorker } from './timers.ts';
import { linkRecords } from './integration.ts';
import { registerPublishCheck } from '../modeling/index.ts';
import { calendarProblems, setCalendarLog } from './calendar-store.ts';
import type { WorkflowDef } from '../../shared/workflow-definition.ts';
import './actions.ts';

export {
  onWorkflowOutcome,
  onRecordChange,
  registerWorkflowAction,
  setDocumentLoader,
  type Outcome,
  type OutcomeEvent,
  type RecordChangeEvent,
  type ActionHandler,
} from './hooks.ts';
export { startInstance, nodeOutcome, type StartOptions, type StartResult } from './runtime.ts';
export { startFromPublished, workflowOf, documentSnapshot } from './integration.ts';
export { TimerWorker, registerTimerKind, type TimerWorkerOptions } from './timers.ts';
export * as workflowService from './service.ts';
export * as workflowInbox from './inbox.ts';
export { checkWorkflow, validateWorkflow, WorkflowDef } from '../../shared/workflow-definition.ts';

registerScopes('workflow:read', 'workflow:write');
// an approval tree may only name business-hours calendars that exist
registerPublishCheck((tx, app) => calendarProblems(tx, (app.workflows ?? []) as WorkflowDef[]));

export const workflowEngine: Engine = {
  name: 'workflow',
  migrations: workflowMigrations,
  routes: workflowRoutes,
  bootstrap: async (ctx) => {
    linkRecords(ctx);
    setCalendarLog(ctx.db, ctx.log); // SLA due times warn about a calendar with no working time
  },
  start: async (ctx) => {
    const worker = startTimerWorker(ctx);
    return () => worker.stop();
  },
};
