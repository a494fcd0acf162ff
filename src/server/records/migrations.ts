// System tables of the records engine: naming-series counters and field-level change history.
import type { Migration } from '../db/index.ts';
import { backfillFileRefs } from './file-refs.ts';

export const recordsMigrations: Migration[] = [
  {
    id: 'records.001-initial',
    up: `
-- One row per naming series and period (see naming.ts): incremented in the creating transaction.
create table naming_counters (
  series_key text primary key,
  last bigint not null
);

-- Who changed what, when and from where: one row per action on a record, field-level diff.
create table record_history (
  id bigserial primary key,
  app text not null,
  entity text not null,
  record_id uuid not null,
  version int not null,
  action text not null,
  changed_by uuid,
  changed_at timestamptz not null default now(),
  ip text,
  user_agent text,
  request_id text,
  changes jsonb not null default '[]'::jsonb
);
create index record_history_record on record_history(app, entity, record_id, id);
`,
  },
  {
    // Which record field references which uploaded file (file-refs.ts): downloads follow the
    // permissions of the records that reference a file. Filled from the existing rows once.
    id: 'records.002-file-refs',
    up: async (tx) => {
      await tx.exec(`
create table file_refs (
  file_id uuid not null,
  app text not null,
  entity text not null,
  record_id uuid not null,
  field text not null,
  unique (file_id, app, entity, record_id, field)
);
create index file_refs_record on file_refs(app, entity, record_id);`);
      await backfillFileRefs(tx);
    },
  },
];
