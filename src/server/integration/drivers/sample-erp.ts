// The sample ERP (`sample_erp`): a clearly labelled stand-in for a real ERP, kept in the Trellis
// database itself (erp_sample_* tables) and seeded with the demo plant's master data, so that a
// fresh `npm start` has something to pull from and write back to. It speaks the Tryton driver's
// vocabulary: the same source objects and the same write-back payloads
// ({ model: 'production' | 'purchase.purchase' | 'ir.note' …, method: create|write|button|call }),
// so a flow built against it runs unchanged against Tryton. Creates are idempotent: the delivery's
// idempotency key is kept (unique) on the created row and looked up first.
import { z } from 'zod';
import type { Migration, Sql, Tx } from '../../db/index.ts';
import type { AppContext } from '../../platform/context.ts';
import type {
  ConnectionTestResult,
  DeliveryOutcome,
  DeliveryRequest,
  DestinationHandle,
  Driver,
  DriverContext,
  LookupResult,
  PullRequest,
  PullResult,
  SourceHandle,
} from '../types.ts';
import { registerDriver } from './registry.ts';
import { DEFAULT_IDEMPOTENCY_FIELDS, RefValue, equalityConditions, idempotencyMarker, parseWriteBack, type WriteBack } from '../masterdata/objects.ts';
import { SAMPLE_BOMS, SAMPLE_MATERIALS, SAMPLE_SUPPLIERS, sampleEquipment, samplePurchaseOrders, sampleWorkOrders } from './sample-erp-data.ts';

/** The connector id under which the built-in sample ERP's pulls run when no ERP is configured. */
export const SAMPLE_ERP_CONNECTOR_ID = 'sample-erp';

const TABLES = {
  material: 'erp_sample_products',
  supplier: 'erp_sample_suppliers',
  bom: 'erp_sample_boms',
  work_order: 'erp_sample_productions',
  purchase_order: 'erp_sample_purchases',
  equipment: 'erp_sample_equipment',
  note: 'erp_sample_notes',
} as const;
type SampleObject = keyof typeof TABLES;

/** Tryton model names → sample tables. */
const MODELS: Record<string, SampleObject> = {
  'product.product': 'material',
  'party.party': 'supplier',
  'production.bom': 'bom',
  production: 'work_order',
  'purchase.purchase': 'purchase_order',
  'maintenance.equipment': 'equipment',
  'ir.note': 'note',
};

export const sampleErpMigrations: Migration[] = [
  {
    id: 'integration.sample-erp.001-tables',
    up: `
create sequence erp_sample_change_seq;
${Object.values(TABLES)
  .map(
    (t) => `create table ${t} (
  id bigserial primary key,
  code text not null unique,
  data jsonb not null,
  idempotency_key text unique,
  change_seq bigint not null default nextval('erp_sample_change_seq'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index ${t}_change on ${t} (change_seq);`,
  )
  .join('\n')}
comment on table erp_sample_products is 'Sample ERP (demo data, not a real ERP): materials';
`,
  },
];

/** Loads the demo plant's ERP master data once (no-op when the sample ERP already holds data). */
export async function seedSampleErp(tx: Sql, today: Date = new Date()): Promise<{ seeded: boolean; counts: Record<string, number> }> {
  const have = await tx.query<{ n: number }>(`select count(*)::int as n from erp_sample_products`);
  if ((have.rows[0]?.n ?? 0) > 0) return { seeded: false, counts: {} };
  const sets: Array<[SampleObject, Array<Record<string, unknown>>, string]> = [
    ['material', SAMPLE_MATERIALS.map(({ purchasable: _p, producible: _m, price: _x, ...m }) => m), 'code'],
    ['supplier', SAMPLE_SUPPLIERS as unknown as Array<Record<string, unknown>>, 'code'],
    ['bom', SAMPLE_BOMS as unknown as Array<Record<string, unknown>>, 'code'],
    ['work_order', sampleWorkOrders(today) as unknown as Array<Record<string, unknown>>, 'number'],
    ['purchase_order', samplePurchaseOrders(today) as unknown as Array<Record<string, unknown>>, 'number'],
    ['equipment', sampleEquipment() as unknown as Array<Record<string, unknown>>, 'code'],
  ];
  const counts: Record<string, number> = {};
  for (const [obj, rows, codeField] of sets) {
    // one statement per table; the row order is kept so ids follow the document numbers
    await tx.query(
      `insert into ${TABLES[obj]} (code, data)
       select x.value->>$2, x.value from jsonb_array_elements($1::jsonb) with ordinality as x(value, n) order by x.n`,
      [JSON.stringify(rows), codeField],
    );
    counts[obj] = rows.length;
  }
  return { seeded: true, counts };
}

export class SampleErpError extends Error {
  readonly retryable: boolean;
  constructor(message: string, retryable = false) {
    super(message);
    this.retryable = retryable;
  }
}

// ---- source ---------------------------------------------------------------------------------

async function pull(sql: Sql, req: PullRequest): Promise<PullResult> {
  const obj = req.object as SampleObject;
  if (!(obj in TABLES) || obj === 'note') {
    throw new SampleErpError(`The sample ERP has no object "${req.object}"; choose one of: ${Object.keys(TABLES).filter((x) => x !== 'note').join(', ')}`);
  }
  const since = req.since === null ? 0 : Number(req.since);
  if (!Number.isSafeInteger(since) || since < 0) throw new SampleErpError(`The watermark "${req.since}" is not one the sample ERP wrote; reset the pull job`);
  const limit = Math.max(1, Math.min(req.limit, 1000));
  const r = await sql.query<{ id: number; data: Record<string, unknown>; change_seq: number }>(
    `select id, data, change_seq from ${TABLES[obj]} where change_seq > $1 order by change_seq limit $2`,
    [since, limit + 1],
  );
  const more = r.rows.length > limit;
  const rows = r.rows.slice(0, limit);
  return {
    rows: rows.map((x) => ({ key: String(x.id), watermark: String(x.change_seq), data: x.data })),
    nextWatermark: rows.length ? String(rows[rows.length - 1]!.change_seq) : req.since,
    more,
  };
}

// ---- destination ----------------------------------------------------------------------------

type Row = Record<string, unknown>;
const PRODUCTION_STATES: Record<string, { from: string[]; to: string }> = {
  wait: { from: ['draft', 'assigned'], to: 'waiting' },
  assign_try: { from: ['waiting'], to: 'assigned' },
  assign_force: { from: ['waiting'], to: 'assigned' },
  run: { from: ['waiting', 'assigned'], to: 'running' },
  done: { from: ['running'], to: 'done' },
  cancel: { from: ['draft', 'waiting', 'assigned', 'request'], to: 'cancelled' },
  draft: { from: ['request', 'waiting', 'cancelled'], to: 'draft' },
};
const PURCHASE_STATES: Record<string, { from: string[]; to: string }> = {
  quote: { from: ['draft'], to: 'quotation' },
  confirm: { from: ['quotation'], to: 'confirmed' },
  process: { from: ['confirmed'], to: 'processing' },
  cancel: { from: ['draft', 'quotation'], to: 'cancelled' },
  draft: { from: ['quotation', 'cancelled'], to: 'draft' },
};
/** Writable fields per model: Tryton field name → sample data key. */
const WRITABLE: Partial<Record<SampleObject, Record<string, string>>> = {
  work_order: { product: 'product_code', bom: 'bom_code', quantity: 'quantity', planned_date: 'planned_date', planned_start_date: 'planned_start_date', reference: 'reference', uom: '', warehouse: '', location: '', company: '' },
  purchase_order: { comment: 'comment', reference: 'reference', description: 'description', delivery_date: 'delivery_date' },
  note: { resource: 'resource', message: 'message' },
  supplier: { name: 'name' },
};

function objectOf(model: string): SampleObject {
  const o = MODELS[model];
  if (!o) throw new SampleErpError(`The sample ERP has no model "${model}"; it knows: ${Object.keys(MODELS).join(', ')}`);
  return o;
}

async function search(sql: Sql, model: string, domain: unknown[]): Promise<Array<{ id: number; code: string; data: Row }>> {
  const obj = objectOf(model);
  const conds = equalityConditions(domain);
  if (!conds) throw new SampleErpError(`The sample ERP understands only [[field, "=", value], …] conditions, not ${JSON.stringify(domain).slice(0, 200)}`);
  const where: string[] = [];
  const params: unknown[] = [];
  for (const [field, value] of conds) {
    if (!/^[a-z_]+$/.test(field)) throw new SampleErpError(`"${field}" is not a field name`);
    const vals = value && typeof value === 'object' && 'in' in value ? ((value as { in: unknown[] }).in ?? []) : [value];
    params.push(vals.map(String));
    if (field === 'id') where.push(`id::text = any($${params.length})`);
    else if (['code', 'number'].includes(field)) where.push(`code = any($${params.length})`);
    else if (field === 'name' && obj === 'bom') where.push(`(data->>'name' = any($${params.length}) or code = any($${params.length}))`);
    else where.push(`data->>'${field}' = any($${params.length})`);
  }
  const r = await sql.query<{ id: number; code: string; data: Row }>(`select id, code, data from ${TABLES[obj]} ${where.length ? `where ${where.join(' and ')}` : ''} order by id limit 501`, params);
  return r.rows;
}

async function resolve(sql: Sql, v: unknown): Promise<unknown> {
  const ref = RefValue.safeParse(v);
  if (ref.success) {
    const { model, domain, reference } = ref.data.$ref;
    const hits = await search(sql, model, domain);
    if (hits.length === 0) throw new SampleErpError(`No ${model} in the sample ERP matches ${JSON.stringify(domain)}`);
    if (hits.length > 1) throw new SampleErpError(`Several ${model} records in the sample ERP match ${JSON.stringify(domain)}; make the condition unique`);
    return reference ? `${model},${hits[0]!.id}` : hits[0]!.id;
  }
  if (Array.isArray(v)) return Promise.all(v.map((x) => resolve(sql, x)));
  if (v && typeof v === 'object') {
    const out: Row = {};
    for (const [k, x] of Object.entries(v)) out[k] = await resolve(sql, x);
    return out;
  }
  return v;
}

/** Tryton-style values → the sample row's data (ids of products/BOMs become codes, numbers exact strings). */
async function toData(sql: Sql, obj: SampleObject, model: string, values: Row): Promise<Row> {
  const allowed = WRITABLE[obj];
  if (!allowed) throw new SampleErpError(`The sample ERP does not write ${model}`);
  const out: Row = {};
  for (const [k, raw] of Object.entries(values)) {
    if (!(k in allowed)) throw new SampleErpError(`The sample ERP's ${model} has no writable field "${k}"; it accepts: ${Object.keys(allowed).join(', ')}`);
    const target = allowed[k]!;
    if (!target) continue; // accepted for Tryton compatibility, not kept
    let v = await resolve(sql, raw);
    if ((k === 'product' || k === 'bom') && v !== null) {
      const table = k === 'product' ? TABLES.material : TABLES.bom;
      const r = await sql.query<{ code: string; name: string }>(`select code, data->>'name' as name from ${table} where id::text = $1 or code = $1`, [String(v)]);
      if (!r.rows[0]) throw new SampleErpError(`The sample ERP has no ${k} ${JSON.stringify(v)}`);
      v = r.rows[0].code;
      if (k === 'product') out.product_name = r.rows[0].name;
    }
    if (k === 'quantity' && v !== null) {
      if (!/^-?\d+(\.\d+)?$/.test(String(v))) throw new SampleErpError(`quantity must be a number, not ${JSON.stringify(v)}`);
      v = String(v);
    }
    if (/date$/.test(k) && v !== null && !/^\d{4}-\d{2}-\d{2}/.test(String(v))) throw new SampleErpError(`${k} must be a date (YYYY-MM-DD), not ${JSON.stringify(v)}`);
    if (/date$/.test(k) && v !== null) v = String(v).slice(0, 10);
    out[target] = v;
  }
  return out;
}

async function targets(sql: Sql, p: { model: string; ids?: number[] | undefined; search?: unknown[] | undefined }): Promise<Array<{ id: number; code: string; data: Row }>> {
  const rows = p.ids ? await search(sql, p.model, [['id', 'in', p.ids]]) : await search(sql, p.model, (await resolve(sql, p.search)) as unknown[]);
  if (!rows.length) throw new SampleErpError(`No ${p.model} in the sample ERP matches ${JSON.stringify(p.ids ?? p.search)}`);
  if (p.ids && rows.length !== p.ids.length) throw new SampleErpError(`Some ${p.model} ids do not exist in the sample ERP: ${JSON.stringify(p.ids)}`);
  return rows;
}

async function findByKey(sql: Sql, model: string, key: string): Promise<number | null> {
  const r = await sql.query<{ id: number }>(`select id from ${TABLES[objectOf(model)]} where idempotency_key = $1`, [key]);
  return r.rows[0]?.id ?? null;
}

async function run(tx: Tx, p: WriteBack, key: string): Promise<{ externalRef?: string; detail?: unknown }> {
  const obj = objectOf(p.model);
  const table = TABLES[obj];
  switch (p.method) {
    case 'create': {
      const existing = await findByKey(tx, p.model, key);
      if (existing !== null) return { externalRef: `${p.model},${existing}`, detail: { existed: true } };
      if (obj !== 'work_order' && obj !== 'note') throw new SampleErpError(`The sample ERP creates only production and ir.note records, not ${p.model}`);
      const data = await toData(tx, obj, p.model, p.values);
      const field = p.idempotencyField ?? DEFAULT_IDEMPOTENCY_FIELDS[p.model]!;
      const dataField = WRITABLE[obj]![field] || field;
      const given = data[dataField];
      data[dataField] = typeof given === 'string' && given !== '' ? `${given} ${idempotencyMarker(key)}` : idempotencyMarker(key);
      if (obj === 'work_order') {
        for (const req of ['product_code', 'quantity', 'planned_start_date']) {
          if (data[req] === undefined || data[req] === null) throw new SampleErpError(`A value is required for field "${req === 'product_code' ? 'product' : req}" in "production"`);
        }
        data.state = 'draft';
        data.uom = data.uom ?? 'u';
        data.planned_date = data.planned_date ?? data.planned_start_date;
        data.bom_code = data.bom_code ?? null;
      } else if (typeof data.message !== 'string' || !data.resource) {
        throw new SampleErpError('An ir.note needs "resource" (e.g. "production,12") and "message"');
      }
      const r = await tx.query<{ id: number }>(
        `insert into ${table} (code, data, idempotency_key) values ('pending-' || gen_random_uuid()::text, $1::jsonb, $2) on conflict (idempotency_key) do nothing returning id`,
        [JSON.stringify(data), key],
      );
      const id = r.rows[0]?.id ?? (await findByKey(tx, p.model, key))!;
      const code = obj === 'work_order' ? `WO-2026-${String(id).padStart(4, '0')}` : `NOTE-${id}`;
      await tx.query(`update ${table} set code = $2, data = data || jsonb_build_object('number', $2::text) where id = $1 and code like 'pending-%'`, [id, code]);
      return { externalRef: `${p.model},${id}`, detail: { created: id, number: code } };
    }
    case 'write': {
      const rows = await targets(tx, p);
      const data = await toData(tx, obj, p.model, p.values);
      await tx.query(`update ${table} set data = data || $2::jsonb, change_seq = nextval('erp_sample_change_seq'), updated_at = now() where id = any($1)`, [rows.map((x) => x.id), JSON.stringify(data)]);
      return { externalRef: `${p.model},${rows.map((x) => x.id).join(',')}`, detail: { written: rows.map((x) => x.id) } };
    }
    case 'button': {
      const machine = obj === 'work_order' ? PRODUCTION_STATES : obj === 'purchase_order' ? PURCHASE_STATES : null;
      const step = machine?.[p.button];
      if (!step) throw new SampleErpError(`The sample ERP's ${p.model} has no button "${p.button}"${machine ? `; it has: ${Object.keys(machine).join(', ')}` : ''}`);
      const rows = await targets(tx, p);
      for (const row of rows) {
        const state = String(row.data.state);
        if (state === step.to) continue; // pressing again changes nothing, like Tryton
        if (!step.from.includes(state)) throw new SampleErpError(`${p.model} ${row.code} is "${state}"; "${p.button}" needs one of: ${step.from.join(', ')}`);
      }
      await tx.query(
        `update ${table} set data = jsonb_set(data, '{state}', to_jsonb($2::text)), change_seq = nextval('erp_sample_change_seq'), updated_at = now() where id = any($1) and data->>'state' <> $2`,
        [rows.map((x) => x.id), step.to],
      );
      return { externalRef: `${p.model},${rows.map((x) => x.id).join(',')}`, detail: { pressed: p.button, ids: rows.map((x) => x.id) } };
    }
    case 'call':
      throw new SampleErpError(`The sample ERP does not run "${p.model}.${p.name}"; only create, write and button`);
  }
}

export const SampleErpConfig = z.object({}).strict();
type SampleErpConfig = z.infer<typeof SampleErpConfig>;

async function testConnection(sql: Sql): Promise<ConnectionTestResult> {
  const t0 = performance.now();
  try {
    const r = await sql.query<{ n: number }>(`select count(*)::int as n from erp_sample_products`);
    return { ok: true, message: `示例 ERP（演示数据，非真实 ERP），物料 ${r.rows[0]!.n} 条 / Sample ERP (demo data, not a real ERP)`, latencyMs: Math.round(performance.now() - t0) };
  } catch (err) {
    return { ok: false, message: `示例 ERP 不可用 / Sample ERP unavailable: ${(err as Error).message}`, latencyMs: Math.round(performance.now() - t0) };
  }
}

function outcomeOf(err: unknown): DeliveryOutcome {
  if (err instanceof SampleErpError) return { ok: false, retryable: err.retryable, error: `示例 ERP 拒绝 / Sample ERP refused: ${err.message}` };
  // a database hiccup (connection lost, serialization) is worth another try
  return { ok: false, retryable: true, error: `Sample ERP failed: ${(err as Error).message}` };
}

export function openSampleErpDestination(ctx: AppContext): DestinationHandle {
  const db = ctx.db;
  return {
    async send(req: DeliveryRequest): Promise<DeliveryOutcome> {
      const parsed = parseWriteBack(req.payload);
      if (!parsed.ok) return { ok: false, retryable: false, error: parsed.error };
      try {
        const r = await db.tx((tx) => run(tx, parsed.value, req.idempotencyKey));
        return { ok: true, ...(r.externalRef ? { externalRef: r.externalRef } : {}), detail: r.detail };
      } catch (err) {
        return outcomeOf(err);
      }
    },
    async lookup(req: DeliveryRequest): Promise<LookupResult> {
      const parsed = parseWriteBack(req.payload);
      if (!parsed.ok) return { unknown: true, reason: parsed.error };
      if (parsed.value.method !== 'create') return { unknown: true, reason: `a "${parsed.value.method}" cannot be looked up; only creates keep an idempotency key` };
      try {
        const id = await findByKey(db, parsed.value.model, req.idempotencyKey);
        return id === null ? { exists: false } : { exists: true, externalRef: `${parsed.value.model},${id}` };
      } catch (err) {
        return { unknown: true, reason: (err as Error).message };
      }
    },
    test: () => testConnection(db),
    async close() {},
  };
}

export function openSampleErpSource(ctx: AppContext): SourceHandle {
  return { pull: (req) => pull(ctx.db, req), test: () => testConnection(ctx.db), async close() {} };
}

export const sampleErpDriver: Driver<SampleErpConfig, undefined> = {
  kind: 'sample_erp',
  label: { zh: '示例 ERP（演示数据）', en: 'Sample ERP (demo data)' },
  configSchema: SampleErpConfig,
  async openDestination(_config, _secrets, dctx: DriverContext) {
    return openSampleErpDestination(dctx.ctx);
  },
  async openSource(_config, _secrets, dctx: DriverContext) {
    return openSampleErpSource(dctx.ctx);
  },
};

registerDriver(sampleErpDriver);
