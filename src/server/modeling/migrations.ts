// System tables of the modeling engine: the apps and every published version of each.
import type { Migration } from '../db/index.ts';

export const modelingMigrations: Migration[] = [
  {
    id: 'modeling.001-apps',
    up: `
create table apps (
  name text primary key,
  label jsonb not null,
  current_version int not null,
  status text not null default 'published',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Every published definition is kept: history, diff and rollback.
create table app_versions (
  app_name text not null references apps(name) on delete cascade,
  version int not null,
  definition jsonb not null,
  published_at timestamptz not null default now(),
  published_by uuid,
  changes jsonb not null default '[]'::jsonb,
  primary key (app_name, version)
);

-- Substring search over entity tables (search_text) uses trigram GIN indexes when pg_trgm can
-- be installed; without it the records engine falls back to a sequential ILIKE scan.
do $$
begin
  create extension if not exists pg_trgm;
exception when others then
  raise notice 'pg_trgm is not available: search_text is not indexed';
end
$$;
`,
  },
  {
    // The designer's work in progress: one draft per app (also before its first publish).
    id: 'modeling.002-app-drafts',
    up: `
create table app_drafts (
  app_name text primary key,
  definition jsonb not null,
  revision int not null,
  based_on_version int,
  updated_at timestamptz not null default now(),
  updated_by uuid
);
`,
  },
];
