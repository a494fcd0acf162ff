// System tables of the platform: organisation, accounts, sessions, API keys, audit, settings.
import type { Migration } from '../db/index.ts';

export const platformMigrations: Migration[] = [
  {
    id: 'platform.001-initial',
    up: `
create table system_settings (
  key text primary key,
  value jsonb not null,
  updated_at timestamptz not null default now()
);

create table positions (
  id uuid primary key default gen_random_uuid(),
  code text not null unique,
  name text not null,
  name_en text,
  level int not null default 0,
  created_at timestamptz not null default now()
);

create table departments (
  id uuid primary key default gen_random_uuid(),
  code text not null unique,
  name text not null,
  name_en text,
  parent_id uuid references departments(id),
  head_user_id uuid,
  sort int not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index departments_parent on departments(parent_id);

-- ancestor/descendant pairs (depth 0 = itself): subtree scopes become one indexed lookup
create table department_closure (
  ancestor_id uuid not null references departments(id) on delete cascade,
  descendant_id uuid not null references departments(id) on delete cascade,
  depth int not null,
  primary key (ancestor_id, descendant_id)
);
create index department_closure_desc on department_closure(descendant_id);

create table users (
  id uuid primary key default gen_random_uuid(),
  username text not null unique check (username = lower(username)),
  display_name text not null,
  display_name_en text,
  email text,
  phone text,
  kind text not null default 'person' check (kind in ('person', 'service', 'system')),
  password_hash text,
  signing_pin_hash text,
  manager_id uuid references users(id),
  position_id uuid references positions(id),
  title text,
  locale text not null default 'zh-CN',
  active boolean not null default true,
  failed_logins int not null default 0,
  locked_until timestamptz,
  password_changed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index users_manager on users(manager_id);
alter table departments add constraint departments_head_fk foreign key (head_user_id) references users(id);

insert into users (id, username, display_name, display_name_en, kind)
values ('00000000-0000-0000-0000-000000000000', 'system', '系统', 'System', 'system');

create table user_departments (
  user_id uuid not null references users(id) on delete cascade,
  department_id uuid not null references departments(id) on delete cascade,
  is_primary boolean not null default false,
  primary key (user_id, department_id)
);
create index user_departments_dept on user_departments(department_id);

create table roles (
  id uuid primary key default gen_random_uuid(),
  code text not null unique,
  name text not null,
  name_en text,
  description text,
  builtin boolean not null default false,
  created_at timestamptz not null default now()
);

create table user_roles (
  user_id uuid not null references users(id) on delete cascade,
  role_id uuid not null references roles(id) on delete cascade,
  primary key (user_id, role_id)
);
create index user_roles_role on user_roles(role_id);

create table sessions (
  id text primary key,            -- sha-256 of the cookie token; the token itself is never stored
  user_id uuid not null references users(id) on delete cascade,
  csrf_token text not null,
  ip text,
  user_agent text,
  created_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz
);
create index sessions_user on sessions(user_id);

create table api_keys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users(id) on delete cascade,
  name text not null,
  prefix text not null unique,    -- public part shown in lists, e.g. trk_ab12cd34
  secret_hash text not null,      -- sha-256 of the full key
  scopes text[] not null,
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_by uuid references users(id),
  created_at timestamptz not null default now()
);
create index api_keys_user on api_keys(user_id);

-- Append-only and hash-chained: hash = sha256(prev_hash || canonical(entry)).
create table audit_log (
  seq bigint primary key,
  at timestamptz not null,
  actor_id uuid,
  actor_name text,
  action text not null,
  target_type text,
  target_id text,
  ip text,
  user_agent text,
  request_id text,
  detail jsonb not null default '{}'::jsonb,
  prev_hash text not null,
  hash text not null
);
create index audit_log_target on audit_log(target_type, target_id);
create index audit_log_actor on audit_log(actor_id, at);
`,
  },
  {
    // Organisation: one primary department per user, lookups used by approver resolution,
    // the built-in roles (the demo plant adds the plant's own roles), and the audit chain head
    // (seq + hash of the newest entry) that lets `verifyAuditChain` notice a deleted tail.
    id: 'platform.010-org-builtins-audit-head',
    up: `
create unique index user_departments_one_primary on user_departments(user_id) where is_primary;
create index departments_head on departments(head_user_id);
create index users_position on users(position_id);

insert into roles (code, name, name_en, description, builtin) values
  ('admin', '系统管理员', 'Administrator', 'Full rights on everything, including granting admin.', true),
  ('it_admin', 'IT管理员', 'IT administrator', 'Manages the organisation, users, roles and apps.', true),
  ('auditor', '审计员', 'Auditor', 'Reads the audit trail and verifies its integrity.', true),
  ('employee', '员工', 'Employee', 'Every member of staff.', true)
on conflict (code) do update set builtin = true;

insert into system_settings (key, value)
select 'audit.head', jsonb_build_object('seq', seq, 'hash', hash) from audit_log order by seq desc limit 1
on conflict (key) do nothing;
`,
  },
  {
    // Entries are written without a lock and chained by the sealer (see audit/index.ts).
    id: 'platform.020-audit-sealed-chain',
    up: `
create sequence audit_log_seq;
select setval('audit_log_seq', coalesce((select max(seq) from audit_log), 0) + 1, false);
alter table audit_log alter column seq set default nextval('audit_log_seq');
alter sequence audit_log_seq owned by audit_log.seq;
alter table audit_log alter column prev_hash drop not null;
alter table audit_log alter column hash drop not null;
alter table audit_log add column chain_pos bigint unique;
update audit_log set chain_pos = seq;
create index audit_log_unsealed on audit_log(seq) where chain_pos is null;
`,
  },
];
