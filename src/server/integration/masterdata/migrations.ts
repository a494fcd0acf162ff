// Master-data cache tables (md_*), pull jobs and their run log.
import type { Migration } from '../../db/index.ts';
import { sampleErpMigrations } from '../drivers/sample-erp.ts';

const common = `
  connector_id text not null,
  source_key text not null,
  code text not null,
  name text not null default '',
  data jsonb not null,
  content_hash text not null,
  source_watermark text,
  first_seen_at timestamptz not null,
  changed_at timestamptz not null,
  last_pulled_at timestamptz not null,
  last_seen_run bigint,
  deleted_at timestamptz,
  primary key (connector_id, source_key)`;

const table = (name: string, extra: string) => `
create table ${name} (${common}${extra ? `,\n${extra}` : ''});
create index ${name}_code on ${name} (code);
create index ${name}_name on ${name} (lower(name));`;

export const masterDataMigrations: Migration[] = [
  ...sampleErpMigrations,
  {
    id: 'integration.masterdata.001-cache',
    up: `
${table('md_materials', '  uom text, type text')}
${table('md_suppliers', '')}
${table('md_boms', '  output_code text')}
create table md_bom_lines (
  connector_id text not null,
  bom_key text not null,
  direction text not null check (direction in ('input', 'output')),
  line_no int not null,
  material_code text,
  quantity numeric,
  uom text,
  primary key (connector_id, bom_key, direction, line_no),
  foreign key (connector_id, bom_key) references md_boms (connector_id, source_key) on delete cascade
);
create index md_bom_lines_material on md_bom_lines (material_code);
${table('md_work_orders', '  state text, product_code text, quantity numeric, planned_start_date date, planned_date date, bom_code text')}
create index md_work_orders_product on md_work_orders (product_code);
${table('md_purchase_orders', '  state text, supplier_code text, delivery_date date, total_amount numeric')}
create table md_purchase_order_lines (
  connector_id text not null,
  po_key text not null,
  line_no int not null,
  material_code text,
  quantity numeric,
  unit text,
  unit_price numeric,
  delivery_date date,
  primary key (connector_id, po_key, line_no),
  foreign key (connector_id, po_key) references md_purchase_orders (connector_id, source_key) on delete cascade
);
create index md_purchase_order_lines_material on md_purchase_order_lines (material_code);
${table('md_equipment', '  category text, workshop text, model text, commissioned_on date, runtime_hours numeric')}

create table md_pull_jobs (
  id uuid primary key,
  connector_id text not null,
  object text not null,
  cron text not null,
  timezone text not null,
  window_start text,
  window_end text,
  mode text not null default 'incremental' check (mode in ('incremental', 'full')),
  page_size int not null default 500,
  enabled boolean not null default true,
  watermark text,
  due_at timestamptz not null,
  lease_until timestamptz,
  locked_by text,
  last_run_at timestamptz,
  last_status text,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (connector_id, object)
);
create index md_pull_jobs_due on md_pull_jobs (due_at) where enabled;

create table md_pull_runs (
  id bigserial primary key,
  job_id uuid not null references md_pull_jobs (id) on delete cascade,
  connector_id text not null,
  object text not null,
  trigger text not null,
  status text not null check (status in ('running', 'succeeded', 'failed')),
  started_at timestamptz not null,
  finished_at timestamptz,
  duration_ms int,
  pages int not null default 0,
  rows_seen int not null default 0,
  inserted int not null default 0,
  updated int not null default 0,
  unchanged int not null default 0,
  deleted int not null default 0,
  error text,
  retryable boolean
);
create index md_pull_runs_job on md_pull_runs (job_id, id desc);
`,
  },
];
