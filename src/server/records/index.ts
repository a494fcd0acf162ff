// Records engine: runtime CRUD, status, history and listing over the entities modeling publishes.
//
// Service API (each call is one transaction; the `...InTx` twins run in the caller's transaction,
// which is how the workflow engine makes "decision + execution" one commit):
//   createRecord, getRecord, updateRecord, deleteRecord, submitRecord, cancelRecord,
//   amendRecord, listRecords, recordHistory   — all take (ctx, actor, app, entity, …);
//   createAndSubmitRecord: a new document submitted at once, one transaction
// Hook points: `recordHooks.onBeforeSubmit / onAfterSubmit` (see hooks.ts).
// Every write also records history, an outbox event (trellis.record.*) and an audit entry.
import type { Engine } from '../engine.ts';
import { recordsMigrations } from './migrations.ts';
import { recordsRoutes } from './routes.ts';

export {
  createRecord,
  createRecordInTx,
  createAndSubmitRecord,
  getRecord,
  getRecordInTx,
  updateRecord,
  updateRecordInTx,
  deleteRecord,
  deleteRecordInTx,
  submitRecord,
  submitRecordInTx,
  cancelRecord,
  cancelRecordInTx,
  amendRecord,
  amendRecordInTx,
  recordHistory,
  recordHistoryInTx,
  amendedName,
  etagOf,
  type CreateOptions,
  type UpdateOptions,
  type TransitionOptions,
  type RecordAction,
} from './service.ts';
export { listRecords, listRecordsInTx, MAX_LIMIT, DEFAULT_LIMIT } from './list.ts';
export { recordHooks, type BeforeSubmitHook, type AfterSubmitHook, type SubmitEvent } from './hooks.ts';
export { nextInSeries, formatName, parseNamingPattern, seriesPrefix } from './naming.ts';
export { loadEntity, type EntitySchema } from './schema.ts';
export { canReadRecordField, fileRefsOf, type FileRef } from './file-refs.ts';
export type { RecordJson, ListOptions, ListResult, HistoryEntry, SubmitResult, RecordStatus } from './types.ts';

export const recordsEngine: Engine = {
  name: 'records',
  migrations: recordsMigrations,
  routes: (api, ctx) => recordsRoutes(api, ctx),
};
