// Writing pulled rows into the cache with change detection: a content hash per row says whether
// it is new (inserted), different (updated) or the same (unchanged); a full pull marks what the
// source no longer has as deleted. Reading the cache for pickers and erp_link resolution.
import { createHash } from 'node:crypto';
import type { Sql, Tx } from '../../db/index.ts';
import { canonicalJson } from '../../platform/audit/index.ts';
import type { PulledRow } from '../types.ts';
import type { ErpMasterKind } from './objects.ts';
import type { CachedObjectView } from '../../../shared/integration-api.ts';

type Data = Record<string, unknown>;
const s = (v: unknown): string | null => (v === null || v === undefined || v === '' ? null : String(v));
const num = (v: unknown): string | null => {
  const x = s(v);
  return x !== null && /^-?\d+(\.\d+)?$/.test(x) ? x : null;
};
const day = (v: unknown): string | null => {
  const x = s(v);
  return x !== null && /^\d{4}-\d{2}-\d{2}$/.test(x.slice(0, 10)) ? x.slice(0, 10) : null;
};

interface KindSpec {
  table: string;
  code(d: Data, key: string): string;
  name(d: Data): string;
  /** Typed columns besides code/name: column → value from the data. */
  columns: Record<string, (d: Data) => unknown>;
  /** Searchable text besides code and name. */
  lines?(connectorId: string, key: string, d: Data): Array<{ table: string; row: Record<string, unknown> }>;
  lineTable?: { table: string; keyColumn: string };
}

export const KINDS: Record<ErpMasterKind, KindSpec> = {
  material: {
    table: 'md_materials',
    code: (d, k) => s(d.code) ?? k,
    name: (d) => s(d.name) ?? '',
    columns: { uom: (d) => s(d.uom), type: (d) => s(d.type) },
  },
  supplier: { table: 'md_suppliers', code: (d, k) => s(d.code) ?? k, name: (d) => s(d.name) ?? '', columns: {} },
  bom: {
    table: 'md_boms',
    code: (d, k) => s(d.code) ?? k,
    name: (d) => s(d.name) ?? '',
    columns: { output_code: (d) => s(d.output_code) },
    lineTable: { table: 'md_bom_lines', keyColumn: 'bom_key' },
    lines: (connectorId, key, d) =>
      (['inputs', 'outputs'] as const).flatMap((dir) =>
        ((d[dir] as Data[] | undefined) ?? []).map((l, i) => ({
          table: 'md_bom_lines',
          row: { connector_id: connectorId, bom_key: key, direction: dir === 'inputs' ? 'input' : 'output', line_no: i + 1, material_code: s(l.material_code), quantity: num(l.quantity), uom: s(l.uom) },
        })),
      ),
  },
  work_order: {
    table: 'md_work_orders',
    code: (d, k) => s(d.number) ?? k,
    name: (d) => [s(d.product_code), s(d.product_name)].filter(Boolean).join(' '),
    columns: {
      state: (d) => s(d.state),
      product_code: (d) => s(d.product_code),
      quantity: (d) => num(d.quantity),
      planned_start_date: (d) => day(d.planned_start_date),
      planned_date: (d) => day(d.planned_date),
      bom_code: (d) => s(d.bom_code),
    },
  },
  purchase_order: {
    table: 'md_purchase_orders',
    code: (d, k) => s(d.number) ?? k,
    name: (d) => s(d.supplier_name) ?? '',
    columns: { state: (d) => s(d.state), supplier_code: (d) => s(d.supplier_code), delivery_date: (d) => day(d.delivery_date), total_amount: (d) => num(d.total_amount) },
    lineTable: { table: 'md_purchase_order_lines', keyColumn: 'po_key' },
    lines: (connectorId, key, d) =>
      ((d.lines as Data[] | undefined) ?? []).map((l, i) => ({
        table: 'md_purchase_order_lines',
        row: {
          connector_id: connectorId,
          po_key: key,
          line_no: Number(l.line_no ?? i + 1),
          material_code: s(l.material_code),
          quantity: num(l.quantity),
          unit: s(l.unit),
          unit_price: num(l.unit_price),
          delivery_date: day(l.delivery_date),
        },
      })),
  },
  equipment: {
    table: 'md_equipment',
    code: (d, k) => s(d.code) ?? k,
    name: (d) => s(d.name) ?? '',
    columns: {
      category: (d) => s(d.category),
      workshop: (d) => s(d.workshop),
      model: (d) => s(d.model),
      commissioned_on: (d) => day(d.commissioned_on),
      runtime_hours: (d) => num(d.runtime_hours),
    },
  },
};

export function contentHash(data: unknown): string {
  return createHash('sha256').update(canonicalJson(data)).digest('hex');
}

export interface ApplyCounts {
  seen: number;
  inserted: number;
  updated: number;
  unchanged: number;
}

/** Writes one pulled page in the caller's transaction. */
export async function applyPage(tx: Tx, kind: ErpMasterKind, connectorId: string, runId: number, rows: PulledRow[], now: Date): Promise<ApplyCounts> {
  const spec = KINDS[kind];
  const counts: ApplyCounts = { seen: rows.length, inserted: 0, updated: 0, unchanged: 0 };
  if (!rows.length) return counts;
  // the same key twice in a page: the last one wins
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const keys = [...byKey.keys()];
  const existing = await tx.query<{ source_key: string; content_hash: string; deleted: boolean }>(
    `select source_key, content_hash, deleted_at is not null as deleted from ${spec.table} where connector_id = $1 and source_key = any($2)`,
    [connectorId, keys],
  );
  const have = new Map(existing.rows.map((r) => [r.source_key, r]));
  const cols = Object.keys(spec.columns);
  for (const row of byKey.values()) {
    const hash = contentHash(row.data);
    const old = have.get(row.key);
    if (old && old.content_hash === hash && !old.deleted) {
      counts.unchanged++;
      await tx.query(`update ${spec.table} set last_pulled_at = $3, last_seen_run = $4, source_watermark = coalesce($5, source_watermark) where connector_id = $1 and source_key = $2`, [
        connectorId,
        row.key,
        now,
        runId,
        row.watermark ?? null,
      ]);
      continue;
    }
    const values = [connectorId, row.key, spec.code(row.data, row.key), spec.name(row.data), JSON.stringify(row.data), hash, row.watermark ?? null, now, runId, ...cols.map((c) => spec.columns[c]!(row.data))];
    const extra = cols.map((c, i) => `, ${c} = $${10 + i}`).join('');
    if (old) {
      counts.updated++;
      await tx.query(
        `update ${spec.table} set code = $3, name = $4, data = $5::jsonb, content_hash = $6, source_watermark = $7, changed_at = $8, last_pulled_at = $8, last_seen_run = $9, deleted_at = null${extra}
          where connector_id = $1 and source_key = $2`,
        values,
      );
    } else {
      counts.inserted++;
      await tx.query(
        `insert into ${spec.table} (connector_id, source_key, code, name, data, content_hash, source_watermark, first_seen_at, changed_at, last_pulled_at, last_seen_run${cols.map((c) => `, ${c}`).join('')})
         values ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $8, $8, $9${cols.map((_c, i) => `, $${10 + i}`).join('')})`,
        values,
      );
    }
    if (spec.lineTable && spec.lines) {
      await tx.query(`delete from ${spec.lineTable.table} where connector_id = $1 and ${spec.lineTable.keyColumn} = $2`, [connectorId, row.key]);
      const lines = spec.lines(connectorId, row.key, row.data);
      if (lines.length) {
        const lcols = Object.keys(lines[0]!.row);
        await tx.query(
          `insert into ${spec.lineTable.table} (${lcols.join(', ')})
           select ${lcols.map((c) => `(x->>'${c}')${c === 'line_no' ? '::int' : c === 'quantity' || c === 'unit_price' ? '::numeric' : c === 'delivery_date' ? '::date' : ''}`).join(', ')}
             from jsonb_array_elements($1::jsonb) x`,
          [JSON.stringify(lines.map((l) => l.row))],
        );
      }
    }
  }
  return counts;
}

/** After a complete full pull: what the source did not return any more is marked deleted. */
export async function markDeleted(tx: Tx, kind: ErpMasterKind, connectorId: string, runId: number, now: Date): Promise<number> {
  const r = await tx.query(
    `update ${KINDS[kind].table} set deleted_at = $3, changed_at = $3 where connector_id = $1 and deleted_at is null and (last_seen_run is null or last_seen_run <> $2)`,
    [connectorId, runId, now],
  );
  return r.rowCount;
}

/** A cached master-data object as the API shows it (src/shared/integration-api.ts). */
export type CachedObject = CachedObjectView;

interface Raw {
  connector_id: string;
  source_key: string;
  code: string;
  name: string;
  data: Data;
  changed_at: Date;
  last_pulled_at: Date;
  deleted_at: Date | null;
}
const out = (kind: ErpMasterKind, r: Raw): CachedObject => ({
  kind,
  key: r.code,
  code: r.code,
  name: r.name,
  connectorId: r.connector_id,
  sourceKey: r.source_key,
  data: r.data,
  changedAt: new Date(r.changed_at).toISOString(),
  lastPulledAt: new Date(r.last_pulled_at).toISOString(),
  deleted: r.deleted_at !== null,
});

export interface ListOptions {
  q?: string | undefined;
  connectorId?: string | undefined;
  includeDeleted?: boolean | undefined;
  limit: number;
  /** Keyset: the last code of the previous page. */
  after?: string | undefined;
}

export async function listCached(sql: Sql, kind: ErpMasterKind, o: ListOptions): Promise<{ items: CachedObject[]; nextCursor: string | null }> {
  const spec = KINDS[kind];
  const where: string[] = [];
  const params: unknown[] = [];
  if (!o.includeDeleted) where.push('deleted_at is null');
  if (o.connectorId) {
    params.push(o.connectorId);
    where.push(`connector_id = $${params.length}`);
  }
  if (o.q) {
    params.push(`%${o.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.push(`(lower(code) like $${params.length} or lower(name) like $${params.length})`);
  }
  if (o.after) {
    params.push(o.after);
    where.push(`code > $${params.length}`);
  }
  params.push(o.limit + 1);
  const r = await sql.query<Raw>(
    `select connector_id, source_key, code, name, data, changed_at, last_pulled_at, deleted_at from ${spec.table}
      ${where.length ? `where ${where.join(' and ')}` : ''} order by code, connector_id, source_key limit $${params.length}`,
    params,
  );
  const items = r.rows.slice(0, o.limit).map((x) => out(kind, x));
  return { items, nextCursor: r.rows.length > o.limit ? items[items.length - 1]!.code : null };
}

/**
 * Resolves an erp_link value: by business code (what forms store), else by the source system's key.
 * A live row wins over a deleted one.
 */
export async function getCached(sql: Sql, kind: ErpMasterKind, key: string, connectorId?: string): Promise<CachedObject | null> {
  const spec = KINDS[kind];
  const r = await sql.query<Raw & { by_code: boolean }>(
    `select connector_id, source_key, code, name, data, changed_at, last_pulled_at, deleted_at, code = $1 as by_code from ${spec.table}
      where (code = $1 or source_key = $1) and ($2::text is null or connector_id = $2)
      order by (code = $1) desc, deleted_at is not null, last_pulled_at desc limit 1`,
    [key, connectorId ?? null],
  );
  const row = r.rows[0];
  if (!row) return null;
  const o = out(kind, row);
  if (spec.lineTable) {
    const lines = await sql.query(
      `select * from ${spec.lineTable.table} where connector_id = $1 and ${spec.lineTable.keyColumn} = $2 order by ${kind === 'bom' ? 'direction, ' : ''}line_no`,
      [row.connector_id, row.source_key],
    );
    o.lines = lines.rows.map(({ connector_id: _c, [spec.lineTable!.keyColumn]: _k, ...rest }) => rest);
  }
  return o;
}
