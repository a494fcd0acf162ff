// Tables of the approval engine. Instances pin the app version and carry a snapshot of the
// approval tree, so publishing a new version never disturbs a running instance.
import type { Migration } from '../db/index.ts';

export const workflowMigrations: Migration[] = [
  {
    id: 'workflow.001-initial',
    up: `
create table wf_instances (
  id uuid primary key default gen_random_uuid(),
  app text not null,
  app_version int not null,
  workflow text not null,
  entity text not null,
  record_id text not null,
  title text not null,
  definition jsonb not null,           -- the approval tree as it was when the instance started
  record jsonb not null,               -- the document as submitted (updated by editable fields)
  picks jsonb not null default '{}'::jsonb,
  status text not null check (status in ('running', 'returned', 'approved', 'rejected', 'withdrawn', 'cancelled')),
  round int not null default 1,
  initiator_id uuid not null references users(id),
  initiator_department_id uuid references departments(id),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  ended_at timestamptz
);
create index wf_instances_initiator on wf_instances(initiator_id, created_at desc);
create index wf_instances_record on wf_instances(app, entity, record_id);
-- at most one live instance per document
create unique index wf_instances_live on wf_instances(app, entity, record_id) where status in ('running', 'returned');

create table wf_node_runs (
  id uuid primary key default gen_random_uuid(),
  instance_id uuid not null references wf_instances(id) on delete cascade,
  node_id text not null,
  node_type text not null,
  parent_run_id uuid references wf_node_runs(id),   -- enclosing parallel run (its join)
  round int not null,
  status text not null check (status in ('active', 'waiting', 'approved', 'rejected', 'completed', 'skipped', 'cancelled', 'returned')),
  state jsonb not null default '{}'::jsonb,
  started_at timestamptz not null,
  ended_at timestamptz
);
create index wf_node_runs_instance on wf_node_runs(instance_id, started_at);

create table wf_tasks (
  id uuid primary key default gen_random_uuid(),
  instance_id uuid not null references wf_instances(id) on delete cascade,
  run_id uuid references wf_node_runs(id),
  node_id text not null,
  kind text not null check (kind in ('approve', 'handle', 'resubmit')),
  assignee_id uuid not null references users(id),
  on_behalf_of uuid references users(id),         -- set when a standing delegation applied
  origin text not null default 'main' check (origin in ('main', 'added_before', 'added_after')),
  seq int not null default 0,
  blocks_task_id uuid references wf_tasks(id),    -- an added-before signer blocks this task
  status text not null check (status in ('queued', 'pending', 'waiting', 'approved', 'rejected', 'done', 'returned', 'transferred', 'escalated', 'cancelled')),
  decision text,
  comment text,
  auto boolean not null default false,
  escalation_level int not null default 0,
  title text not null,
  app text not null,
  workflow text not null,
  initiator_id uuid not null,
  created_at timestamptz not null,
  decided_at timestamptz,
  decided_by uuid
);
-- the inbox: "to do" and "done" for one user are index range scans whatever the table size
create index wf_tasks_todo on wf_tasks(assignee_id, created_at desc, id) where status = 'pending';
create index wf_tasks_done on wf_tasks(assignee_id, decided_at desc, id) where decided_at is not null;
create index wf_tasks_instance on wf_tasks(instance_id);
create index wf_tasks_run on wf_tasks(run_id);

create table wf_cc (
  id uuid primary key default gen_random_uuid(),
  instance_id uuid not null references wf_instances(id) on delete cascade,
  node_id text not null,
  user_id uuid not null references users(id),
  created_at timestamptz not null,
  read_at timestamptz,
  unique (instance_id, node_id, user_id)
);
create index wf_cc_user on wf_cc(user_id, created_at desc);

-- the trail: ordered, append-only history of an instance
create table wf_events (
  id bigserial primary key,
  instance_id uuid not null references wf_instances(id) on delete cascade,
  seq int not null,
  at timestamptz not null,
  type text not null,
  node_id text,
  task_id uuid,
  actor_id uuid,
  actor_name text,
  on_behalf_of uuid,
  comment text,
  attachments jsonb,
  detail jsonb not null default '{}'::jsonb,
  ip text,
  user_agent text,
  unique (instance_id, seq)
);

-- durable timers: claimed under a lease with FOR UPDATE SKIP LOCKED, fired exactly once
create table wf_timers (
  id bigserial primary key,
  due_at timestamptz not null,
  kind text not null,
  instance_id uuid references wf_instances(id) on delete cascade,
  task_id uuid,
  run_id uuid,
  payload jsonb not null default '{}'::jsonb,
  lease_until timestamptz,
  locked_by text,
  attempts int not null default 0,
  last_error text,
  fired_at timestamptz,
  failed_at timestamptz,
  created_at timestamptz not null
);
create index wf_timers_due on wf_timers(due_at) where fired_at is null and failed_at is null;
create index wf_timers_task on wf_timers(task_id) where fired_at is null;
create index wf_timers_instance on wf_timers(instance_id) where fired_at is null;

create table wf_delegations (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users(id),
  delegate_id uuid not null references users(id),
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  app text,                                   -- null = every app
  reason text,
  created_at timestamptz not null,
  revoked_at timestamptz,
  check (ends_at > starts_at),
  check (user_id <> delegate_id)
);
create index wf_delegations_user on wf_delegations(user_id, starts_at);

create table wf_signatures (
  id uuid primary key default gen_random_uuid(),
  instance_id uuid not null references wf_instances(id) on delete cascade,
  task_id uuid not null references wf_tasks(id),
  user_id uuid not null references users(id),
  username text not null,
  decision text not null,
  comment text,
  method text not null check (method in ('password', 'pin')),
  signed_at timestamptz not null,
  ip text,
  user_agent text,
  document jsonb not null,                    -- the canonical snapshot of what was signed
  document_hash text not null,                -- sha-256 of the canonical snapshot
  hash text not null                          -- sha-256 over document hash + decision + who/when/where
);
create index wf_signatures_instance on wf_signatures(instance_id);

create table wf_notifications (
  id bigserial primary key,
  user_id uuid not null references users(id),
  kind text not null check (kind in ('task', 'reminder', 'escalation', 'outcome', 'cc', 'returned')),
  instance_id uuid references wf_instances(id) on delete cascade,
  task_id uuid,
  title text not null,
  body text,
  created_at timestamptz not null,
  read_at timestamptz
);
create index wf_notifications_user on wf_notifications(user_id, id desc);
create index wf_notifications_unread on wf_notifications(user_id) where read_at is null;
`,
  },
  {
    // the app's entities and time zone: branch conditions evaluate exactly like list filters
    id: 'workflow.002-condition-scope',
    up: `alter table wf_instances add column if not exists scope jsonb;`,
  },
  {
    // business-hours calendars for SLA timers (workflow/calendar.ts), edited by administrators
    id: 'workflow.003-calendars',
    up: `
create table wf_calendars (
  name text primary key,
  definition jsonb not null,          -- CalendarDef: time zone, weekdays, hours, holidays, make-up days
  updated_at timestamptz not null,
  updated_by uuid references users(id)
);`,
  },
  {
    // An approval of a published app is pinned to its app version, whose tree and entities never
    // change: it keeps no copy of them (a copy per instance cost kilobytes of JSON written, then
    // read and parsed on every action). Instances started from a tree given directly still copy it.
    id: 'workflow.004-pinned-definition',
    up: `alter table wf_instances alter column definition drop not null;
alter table wf_instances add column if not exists pinned boolean not null default false;`,
  },
  {
    // Foreign keys the approval cycle paid for on every row and that guard nothing the engine
    // does not already guarantee (decision 0010, "Foreign keys on the hot path"): each check is
    // a query of its own, and a check against `users` takes a key-share lock on the user's row —
    // with many documents going to the same approver at once, that lock becomes a MultiXact.
    // Users are never deleted (they are deactivated); instances are never deleted; runs, tasks,
    // trail events, notifications and timers are written only by the engine, in the transaction
    // that holds their instance's lock. Kept: the initiator's department (departments can be
    // deleted), a task's blocking task, signatures, delegations, CC rows → instance.
    id: 'workflow.005-hot-path-foreign-keys',
    up: `alter table wf_instances drop constraint if exists wf_instances_initiator_id_fkey;
alter table wf_tasks drop constraint if exists wf_tasks_assignee_id_fkey;
alter table wf_tasks drop constraint if exists wf_tasks_on_behalf_of_fkey;
alter table wf_cc drop constraint if exists wf_cc_user_id_fkey;
alter table wf_notifications drop constraint if exists wf_notifications_user_id_fkey;
alter table wf_notifications drop constraint if exists wf_notifications_instance_id_fkey;
alter table wf_events drop constraint if exists wf_events_instance_id_fkey;
alter table wf_timers drop constraint if exists wf_timers_instance_id_fkey;
alter table wf_node_runs drop constraint if exists wf_node_runs_instance_id_fkey;
alter table wf_tasks drop constraint if exists wf_tasks_instance_id_fkey;
alter table wf_tasks drop constraint if exists wf_tasks_run_id_fkey;`,
  },
  {
    // A trail event is named by its instance and its place in that instance's trail; the
    // surrogate bigserial id was read by nothing, yet cost every event a sequence step and a
    // second unique index entry (seven per approval cycle).
    id: 'workflow.006-trail-key',
    up: `alter table wf_events drop column if exists id;
alter table wf_events drop constraint if exists wf_events_instance_id_seq_key;
alter table wf_events add constraint wf_events_pkey primary key (instance_id, seq);`,
  },
  {
    // The allowed statuses and kinds as domains instead of CHECK constraints: the same rule on
    // every row, but PostgreSQL re-reads and plans a table's CHECK expressions on every insert
    // or update statement, while a domain's rule is kept with the type (about 3 % of the
    // database's CPU in an approval cycle went to re-reading these).
    id: 'workflow.007-status-domains',
    up: `create domain wf_instance_status as text check (value in ('running', 'returned', 'approved', 'rejected', 'withdrawn', 'cancelled'));
alter table wf_instances drop constraint if exists wf_instances_status_check;
alter table wf_instances alter column status type wf_instance_status;
create domain wf_run_status as text check (value in ('active', 'waiting', 'approved', 'rejected', 'completed', 'skipped', 'cancelled', 'returned'));
alter table wf_node_runs drop constraint if exists wf_node_runs_status_check;
alter table wf_node_runs alter column status type wf_run_status;
create domain wf_task_kind as text check (value in ('approve', 'handle', 'resubmit'));
create domain wf_task_origin as text check (value in ('main', 'added_before', 'added_after'));
create domain wf_task_status as text check (value in ('queued', 'pending', 'waiting', 'approved', 'rejected', 'done', 'returned', 'transferred', 'escalated', 'cancelled'));
alter table wf_tasks drop constraint if exists wf_tasks_kind_check, drop constraint if exists wf_tasks_origin_check, drop constraint if exists wf_tasks_status_check;
alter table wf_tasks alter column kind type wf_task_kind, alter column origin type wf_task_origin, alter column status type wf_task_status;`,
  },
];
