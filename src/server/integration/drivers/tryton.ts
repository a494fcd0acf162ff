// Tryton ERP over JSON-RPC (`tryton`). As a SOURCE it pulls master data with `search_read`,
// incrementally: each object is read as a few ordered "streams" (records by create_date, by
// write_date, and for products by their template's write_date); the watermark keeps a
// (timestamp, id) cursor per stream, so a page boundary never skips or repeats a record and a
// record written during a pull is met again later in its stream. As a DESTINATION it runs
// write-back payloads { model, method: create|write|button|call }; a create keeps the delivery's
// idempotency key on the document and looks for it first, so a retry never makes a second one.
import { z } from 'zod';
import type {
  ConnectionTestResult,
  DeliveryOutcome,
  DeliveryRequest,
  DestinationHandle,
  Driver,
  LookupResult,
  PulledRow,
  PullRequest,
  PullResult,
  SourceHandle,
} from '../types.ts';
import { registerDriver } from './registry.ts';
import { ui } from '../../../shared/integration-api.ts';
import { TrytonClient, TrytonDate, TrytonDecimal, TrytonError, encodeDatetimeString } from './tryton-rpc.ts';
import {
  DEFAULT_IDEMPOTENCY_FIELDS,
  RefValue,
  idempotencyMarker,
  parseWriteBack,
  quantityString,
  type BomData,
  type BomLineData,
  type MaterialData,
  type PurchaseOrderData,
  type SupplierData,
  type WorkOrderData,
  type WriteBack,
} from '../masterdata/objects.ts';

export const TrytonConfig = z
  .object({
    url: z.string().url('must be the Tryton server address, e.g. http://erp.plant.local:8000').meta(ui(['Tryton 服务器地址', 'Tryton server URL'], { placeholder: 'http://erp.plant.local:8000' })),
    database: z.string().min(1).max(100).meta(ui(['数据库', 'Database'])),
    username: z.string().min(1).max(100).meta(ui(['登录用户', 'Login user'])),
    language: z.string().min(2).max(10).optional().meta(ui(['语言', 'Language'], { placeholder: 'zh_CN' })),
    timeoutMs: z.number().int().min(100).max(300_000).default(30_000).meta(ui(['超时 (毫秒)', 'Timeout (ms)'])),
    /** Per model, the text field that keeps the idempotency key of a created document. */
    idempotencyFields: z.record(z.string(), z.string().regex(/^[a-z_][a-z0-9_]*$/)).optional().meta(ui(['幂等键存放字段 (按模型)', 'Idempotency key fields (per model)'], { help: ['每行一个：模型: 字段，例如 production: reference', 'one per line, model: field, e.g. production: reference'] })),
  })
  .strict();
export type TrytonConfig = z.infer<typeof TrytonConfig>;
export const TrytonSecrets = z.object({ password: z.string().min(1).max(500).meta(ui(['密码', 'Password'])) }).strict();
export type TrytonSecrets = z.infer<typeof TrytonSecrets>;

export function trytonClient(config: TrytonConfig, secrets: TrytonSecrets | undefined): TrytonClient {
  if (!secrets?.password) throw new TrytonError('auth', 'The Tryton connector has no password: set it in the connector secrets', false);
  return new TrytonClient({
    url: config.url,
    database: config.database,
    username: config.username,
    password: secrets.password,
    ...(config.language ? { language: config.language } : {}),
    timeoutMs: config.timeoutMs ?? 30_000,
  });
}

// ---- source ---------------------------------------------------------------------------------

type Row = Record<string, unknown>;
type Cursor = [string, number];
interface Watermark {
  [stream: string]: Cursor | null;
}

interface ObjectSpec {
  model: string;
  fields: string[];
  /** Ordered streams: the timestamp field to follow. The first is the creation stream. */
  streams: string[];
  /** Turns the page into canonical rows (may read related records). */
  map(client: TrytonClient, rows: Row[]): Promise<PulledRow[]>;
}

const rel = (r: Row, path: string): unknown => {
  const [head, ...rest] = path.split('.');
  if (!rest.length) return r[head!];
  const sub = r[`${head}.`];
  return sub && typeof sub === 'object' ? rel(sub as Row, rest.join('.')) : null;
};
const str = (v: unknown): string | null => (v === null || v === undefined || v === false ? null : String(v));

function lineOf(r: Row, product: string, uom: string): BomLineData {
  return {
    material_code: str(rel(r, `${product}.code`)),
    material_name: str(rel(r, `${product}.name`)),
    quantity: quantityString(r.quantity) ?? '0',
    uom: str(rel(r, `${uom}.symbol`)),
  };
}

const SPECS: Record<string, ObjectSpec> = {
  material: {
    model: 'product.product',
    fields: ['code', 'name', 'type', 'default_uom.symbol'],
    streams: ['create_date', 'write_date', 'template.write_date'],
    map: async (_c, rows) =>
      rows.map((r) => ({
        key: String(r.id),
        data: { code: str(r.code) ?? `product-${String(r.id)}`, name: str(r.name) ?? '', uom: str(rel(r, 'default_uom.symbol')), type: str(r.type) ?? 'goods' } satisfies MaterialData,
      })),
  },
  supplier: {
    model: 'party.party',
    fields: ['code', 'name'],
    streams: ['create_date', 'write_date'],
    map: async (_c, rows) => rows.map((r) => ({ key: String(r.id), data: { code: str(r.code) ?? String(r.id), name: str(r.name) ?? '' } satisfies SupplierData })),
  },
  bom: {
    model: 'production.bom',
    fields: ['name'],
    streams: ['create_date', 'write_date'],
    map: async (c, rows) => {
      const ids = rows.map((r) => r.id);
      const lineFields = ['bom', 'quantity', 'product.code', 'product.name', 'uom.symbol'];
      const [inputs, outputs] = ids.length
        ? await Promise.all([
            c.searchRead('production.bom.input', [['bom', 'in', ids]], 0, null, [['id', 'ASC']], lineFields),
            c.searchRead('production.bom.output', [['bom', 'in', ids]], 0, null, [['id', 'ASC']], lineFields),
          ])
        : [[], []];
      return rows.map((r) => {
        const ins = inputs.filter((l) => l.bom === r.id).map((l) => lineOf(l, 'product', 'uom'));
        const outs = outputs.filter((l) => l.bom === r.id).map((l) => lineOf(l, 'product', 'uom'));
        const data: BomData = { code: str(r.name) ?? String(r.id), name: str(r.name) ?? '', output_code: outs[0]?.material_code ?? null, inputs: ins, outputs: outs };
        return { key: String(r.id), data: data as unknown as Row };
      });
    },
  },
  work_order: {
    model: 'production',
    fields: ['number', 'state', 'quantity', 'product.code', 'product.name', 'uom.symbol', 'planned_date', 'planned_start_date', 'bom.name', 'reference'],
    streams: ['create_date', 'write_date'],
    map: async (_c, rows) =>
      rows.map((r) => ({
        key: String(r.id),
        data: {
          number: str(r.number) ?? String(r.id),
          state: str(r.state) ?? 'draft',
          product_code: str(rel(r, 'product.code')),
          product_name: str(rel(r, 'product.name')),
          quantity: quantityString(r.quantity),
          uom: str(rel(r, 'uom.symbol')),
          planned_start_date: str(r.planned_start_date),
          planned_date: str(r.planned_date),
          bom_code: str(rel(r, 'bom.name')),
          reference: str(r.reference),
        } satisfies WorkOrderData,
      })),
  },
  purchase_order: {
    model: 'purchase.purchase',
    fields: ['number', 'state', 'party.code', 'party.name', 'purchase_date', 'delivery_date', 'currency.code', 'total_amount'],
    streams: ['create_date', 'write_date'],
    map: async (c, rows) => {
      const ids = rows.map((r) => r.id);
      const lines = ids.length
        ? await c.searchRead(
            'purchase.line',
            [['purchase', 'in', ids], ['type', '=', 'line']],
            0,
            null,
            [['purchase', 'ASC'], ['sequence', 'ASC'], ['id', 'ASC']],
            ['purchase', 'quantity', 'unit_price', 'delivery_date', 'product.code', 'product.name', 'unit.symbol'],
          )
        : [];
      return rows.map((r) => {
        const mine = lines.filter((l) => l.purchase === r.id);
        const data: PurchaseOrderData = {
          number: str(r.number) ?? `draft-${String(r.id)}`,
          state: str(r.state) ?? 'draft',
          supplier_code: str(rel(r, 'party.code')),
          supplier_name: str(rel(r, 'party.name')),
          purchase_date: str(r.purchase_date),
          delivery_date: str(r.delivery_date),
          currency: str(rel(r, 'currency.code')),
          total_amount: str(r.total_amount),
          lines: mine.map((l, i) => ({
            line_no: i + 1,
            material_code: str(rel(l, 'product.code')),
            material_name: str(rel(l, 'product.name')),
            quantity: quantityString(l.quantity),
            unit: str(rel(l, 'unit.symbol')),
            unit_price: str(l.unit_price),
            delivery_date: str(l.delivery_date),
          })),
        };
        return { key: String(r.id), data: data as unknown as Row };
      });
    },
  },
};

export const TRYTON_OBJECTS = Object.keys(SPECS);

function parseWatermark(since: string | null): Watermark | null {
  if (!since) return null;
  try {
    const w = JSON.parse(since) as unknown;
    if (w && typeof w === 'object' && !Array.isArray(w)) return w as Watermark;
  } catch {
    /* fall through */
  }
  throw new TrytonError('user', `The Tryton watermark ${JSON.stringify(since.slice(0, 100))} is not one this driver wrote; reset the pull job to pull everything again`, false);
}

const after = (field: string, c: Cursor | null): unknown[] =>
  c ? [['OR', [field, '>', encodeDatetimeString(c[0])], [[field, '=', encodeDatetimeString(c[0])], ['id', '>', c[1]]]]] : [[field, '!=', null]];

async function pullObject(client: TrytonClient, req: PullRequest): Promise<PullResult> {
  const spec = SPECS[req.object];
  if (!spec) {
    throw new TrytonError('user', `Tryton has no object "${req.object}" to pull; choose one of: ${TRYTON_OBJECTS.join(', ')}`, false);
  }
  const limit = Math.max(1, Math.min(req.limit, 1000));
  let wm = parseWatermark(req.since);
  if (!wm) {
    // Full pull: the creation stream reads everything; the others start at their current end.
    wm = {};
    for (const s of spec.streams.slice(1)) {
      const last = await client.searchRead(spec.model, [[s, '!=', null]], 0, 1, [[s, 'DESC'], ['id', 'DESC']], [s]);
      const ts = last[0] ? (rel(last[0], s) as string | null) : null;
      wm[s] = ts ? [ts, Number.MAX_SAFE_INTEGER] : ['1970-01-01T00:00:00.000000Z', 0];
    }
    wm[spec.streams[0]!] = null;
  }
  const next: Watermark = { ...wm };
  const byKey = new Map<number, { row: Row; ts: string }>();
  let more = false;
  for (const s of spec.streams) {
    const room = limit - byKey.size;
    if (room <= 0) {
      more = true;
      break;
    }
    const page = await client.searchRead(spec.model, after(s, wm[s] ?? null), 0, room, [[s, 'ASC'], ['id', 'ASC']], [...spec.fields, s]);
    for (const r of page) {
      const ts = rel(r, s) as string;
      byKey.set(r.id as number, { row: r, ts });
      next[s] = [ts, r.id as number];
    }
    if (page.length === room) {
      more = true;
      break;
    }
  }
  const ordered = [...byKey.values()];
  const mapped = await spec.map(
    client,
    ordered.map((x) => x.row),
  );
  const rows = mapped.map((m, i) => ({ ...m, watermark: ordered[i]!.ts }));
  return { rows, nextWatermark: JSON.stringify(next), more };
}

// ---- destination ----------------------------------------------------------------------------

interface FieldInfo {
  type: string;
  relation?: string;
}

class TrytonWriter {
  private readonly fieldsCache = new Map<string, Record<string, FieldInfo>>();
  private readonly client: TrytonClient;
  private readonly config: TrytonConfig;
  constructor(client: TrytonClient, config: TrytonConfig) {
    this.client = client;
    this.config = config;
  }

  private async fields(model: string): Promise<Record<string, FieldInfo>> {
    let f = this.fieldsCache.get(model);
    if (!f) {
      f = await this.client.model<Record<string, FieldInfo>>(model, 'fields_get', [[]]);
      this.fieldsCache.set(model, f);
    }
    return f;
  }

  idempotencyField(p: Extract<WriteBack, { method: 'create' }>): string {
    const f = p.idempotencyField ?? this.config.idempotencyFields?.[p.model] ?? DEFAULT_IDEMPOTENCY_FIELDS[p.model];
    if (!f) {
      throw new TrytonError('user', `No field known to keep the idempotency key of a created "${p.model}": add "idempotencyField" (a text field of ${p.model}) to the payload`, false);
    }
    return f;
  }

  /** Finds the record a create with this key made, if any. */
  async findByKey(model: string, field: string, key: string): Promise<number | null> {
    const marker = idempotencyMarker(key);
    const rows = await this.client.searchRead(model, [[field, 'like', `%${marker}%`]], 0, 5, [['id', 'ASC']], [field]);
    const hit = rows.find((r) => typeof r[field] === 'string' && (r[field] as string).includes(marker));
    return hit ? (hit.id as number) : null;
  }

  private async resolve(v: unknown): Promise<unknown> {
    const ref = RefValue.safeParse(v);
    if (ref.success) {
      const { model, domain, reference } = ref.data.$ref;
      const ids = await this.client.model<number[]>(model, 'search', [domain, 0, 2, null]);
      if (ids.length === 0) throw new TrytonError('user', `No ${model} in Tryton matches ${JSON.stringify(domain)}`, false);
      if (ids.length > 1) throw new TrytonError('user', `Several ${model} records in Tryton match ${JSON.stringify(domain)}; make the condition unique`, false);
      return reference ? `${model},${ids[0]}` : ids[0];
    }
    if (Array.isArray(v)) return Promise.all(v.map((x) => this.resolve(x)));
    if (v && typeof v === 'object') {
      const out: Row = {};
      for (const [k, x] of Object.entries(v)) out[k] = await this.resolve(x);
      return out;
    }
    return v;
  }

  /** Resolves $ref values and gives numbers/dates the Tryton type the field has. */
  async values(model: string, values: Row): Promise<Row> {
    const fields = await this.fields(model);
    const out: Row = {};
    for (const [k, raw] of Object.entries(values)) {
      const info = fields[k];
      if (!info) throw new TrytonError('user', `Tryton's ${model} has no field "${k}"`, false);
      const v = await this.resolve(raw);
      if (v === null || v === undefined) out[k] = v ?? null;
      else if (info.type === 'numeric') out[k] = new TrytonDecimal(String(v));
      else if (info.type === 'date') out[k] = new TrytonDate(String(v).slice(0, 10));
      else if (info.type === 'datetime' || info.type === 'timestamp') out[k] = new Date(String(v));
      else if (info.type === 'float' && typeof v === 'string') out[k] = Number(v);
      else if ((info.type === 'one2many' || info.type === 'many2many') && Array.isArray(v)) {
        // [["create", [{…}]]] — type the nested values too
        out[k] = await Promise.all(
          v.map(async (op) =>
            Array.isArray(op) && op[0] === 'create' && Array.isArray(op[1]) && info.relation
              ? ['create', await Promise.all((op[1] as Row[]).map((x) => this.values(info.relation!, x)))]
              : op,
          ),
        );
      } else out[k] = v;
    }
    return out;
  }

  async targets(p: { model: string; ids?: number[] | undefined; search?: unknown[] | undefined }): Promise<number[]> {
    if (p.ids) return p.ids;
    const domain = (await this.resolve(p.search)) as unknown[];
    const ids = await this.client.model<number[]>(p.model, 'search', [domain, 0, 500, null]);
    if (!ids.length) throw new TrytonError('user', `No ${p.model} in Tryton matches ${JSON.stringify(p.search)}`, false);
    return ids;
  }

  async run(p: WriteBack, key: string): Promise<{ externalRef?: string; detail?: unknown }> {
    switch (p.method) {
      case 'create': {
        const field = this.idempotencyField(p);
        const existing = await this.findByKey(p.model, field, key);
        if (existing !== null) return { externalRef: `${p.model},${existing}`, detail: { existed: true } };
        const values = await this.values(p.model, p.values);
        const given = values[field];
        values[field] = typeof given === 'string' && given !== '' ? `${given} ${idempotencyMarker(key)}` : idempotencyMarker(key);
        const [id] = await this.client.model<number[]>(p.model, 'create', [[values]]);
        return { externalRef: `${p.model},${id}`, detail: { created: id } };
      }
      case 'write': {
        const ids = await this.targets(p);
        await this.client.model(p.model, 'write', [ids, await this.values(p.model, p.values)]);
        return { externalRef: `${p.model},${ids.join(',')}`, detail: { written: ids } };
      }
      case 'button': {
        const ids = await this.targets(p);
        await this.client.model(p.model, p.button, [ids]);
        return { externalRef: `${p.model},${ids.join(',')}`, detail: { pressed: p.button, ids } };
      }
      case 'call': {
        const result = await this.client.model(p.model, p.name, (await this.resolve(p.args)) as unknown[]);
        return { detail: { result } };
      }
    }
  }
}

export function outcomeOfError(err: unknown): DeliveryOutcome {
  if (err instanceof TrytonError) return { ok: false, retryable: err.retryable, error: err.userMessage, ...(err.status ? { status: err.status } : {}) };
  return { ok: false, retryable: true, error: `Tryton call failed: ${(err as Error).message}` };
}

async function testConnection(client: TrytonClient): Promise<ConnectionTestResult> {
  const t0 = performance.now();
  try {
    await client.login();
    const prefs = await client.model<Row>('res.user', 'get_preferences', [false]);
    const company = str(prefs['company.rec_name']);
    return {
      ok: true,
      message: `已连接 Tryton，用户 ${String(prefs.login ?? '')}${company ? `，公司 ${company}` : ''} / Connected to Tryton${company ? ` (company ${company})` : ''}`,
      latencyMs: Math.round(performance.now() - t0),
    };
  } catch (err) {
    return { ok: false, message: `无法连接 Tryton / Cannot reach Tryton: ${(err as Error).message}`, latencyMs: Math.round(performance.now() - t0) };
  }
}

export const trytonDriver: Driver<TrytonConfig, TrytonSecrets> = {
  kind: 'tryton',
  label: { zh: 'Tryton ERP（JSON-RPC）', en: 'Tryton ERP (JSON-RPC)' },
  configSchema: TrytonConfig as unknown as z.ZodType<TrytonConfig>,
  secretSchema: TrytonSecrets,
  async openDestination(config, secrets): Promise<DestinationHandle> {
    const client = trytonClient(config, secrets);
    const writer = new TrytonWriter(client, config);
    const send = async (req: DeliveryRequest): Promise<DeliveryOutcome> => {
      const parsed = parseWriteBack(req.payload);
      if (!parsed.ok) return { ok: false, retryable: false, error: parsed.error };
      try {
        const r = await writer.run(parsed.value, req.idempotencyKey);
        return { ok: true, ...(r.externalRef ? { externalRef: r.externalRef } : {}), detail: r.detail };
      } catch (err) {
        return outcomeOfError(err);
      }
    };
    return {
      send,
      async lookup(req: DeliveryRequest): Promise<LookupResult> {
        const parsed = parseWriteBack(req.payload);
        if (!parsed.ok) return { unknown: true, reason: parsed.error };
        if (parsed.value.method !== 'create') return { unknown: true, reason: `a "${parsed.value.method}" cannot be looked up; only creates keep an idempotency key` };
        try {
          const id = await writer.findByKey(parsed.value.model, writer.idempotencyField(parsed.value), req.idempotencyKey);
          return id === null ? { exists: false } : { exists: true, externalRef: `${parsed.value.model},${id}` };
        } catch (err) {
          return { unknown: true, reason: (err as Error).message };
        }
      },
      test: () => testConnection(client),
      async close() {},
    };
  },
  async openSource(config, secrets): Promise<SourceHandle> {
    const client = trytonClient(config, secrets);
    return {
      pull: (req) => pullObject(client, req),
      test: () => testConnection(client),
      async close() {},
    };
  },
};

registerDriver(trytonDriver);
