// The files table: content, checksum, who uploaded it and when.
import type { Migration } from '../db/index.ts';

export const filesMigrations: Migration[] = [
  {
    id: 'files.001-initial',
    up: `
create table files (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  content_type text not null,
  size integer not null,
  sha256 text not null,
  data bytea not null,
  created_by uuid not null,
  created_at timestamptz not null default now()
);
create index files_created_by on files(created_by, created_at);

`,
  },
  {
    // Comment attachments may be downloaded by those who may read the approval trail
    // (access.ts): find the trail events that carry a file id without scanning them all. Partial:
    // most events carry no attachments, and a GIN index would otherwise take a NULL entry for
    // each of them (~10 events per approval cycle); `attachments @> …` implies NOT NULL, so the
    // planner still uses it.
    id: 'files.002-trail-attachments-index',
    up: `create index if not exists wf_events_attachments on wf_events using gin (attachments jsonb_path_ops) where attachments is not null;`,
  },
];
