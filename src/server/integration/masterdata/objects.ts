// The ERP vocabulary both ERP drivers speak (Tryton and the sample ERP), so that the same flows and
// the same master-data pulls run unchanged against either:
//  - source objects (what a pull returns as PulledRow.data), one shape per master-data kind;
//  - write-back payloads (what a flow's JSONata mapping produces for a destination).
import { z } from 'zod';
import { ERP_MASTER_KINDS, type ErpMasterKind } from '../../../shared/definition.ts';

export { ERP_MASTER_KINDS, type ErpMasterKind };

/** Decimal quantities and amounts are exact strings ("12.50"); dates `YYYY-MM-DD`; times ISO UTC. */
export interface MaterialData {
  code: string;
  name: string;
  uom: string | null;
  /** goods | service | assets (Tryton product types) */
  type: string;
}
export interface BomLineData {
  material_code: string | null;
  material_name: string | null;
  quantity: string;
  uom: string | null;
}
export interface BomData {
  code: string;
  name: string;
  /** Output material (the first output), for where-used and work orders. */
  output_code: string | null;
  inputs: BomLineData[];
  outputs: BomLineData[];
}
export interface WorkOrderData {
  number: string;
  state: string;
  product_code: string | null;
  product_name: string | null;
  quantity: string | null;
  uom: string | null;
  planned_start_date: string | null;
  planned_date: string | null;
  bom_code: string | null;
  reference: string | null;
}
export interface PurchaseLineData {
  line_no: number;
  material_code: string | null;
  material_name: string | null;
  quantity: string | null;
  unit: string | null;
  unit_price: string | null;
  delivery_date: string | null;
}
export interface PurchaseOrderData {
  number: string;
  state: string;
  supplier_code: string | null;
  supplier_name: string | null;
  purchase_date: string | null;
  delivery_date: string | null;
  currency: string | null;
  total_amount: string | null;
  lines: PurchaseLineData[];
}
export interface SupplierData {
  code: string;
  name: string;
}
export interface EquipmentData {
  code: string;
  name: string;
  /** lathe | cnc | injection | compressor | press | boiler | crane | forklift … */
  category: string;
  workshop: string;
  model: string;
  commissioned_on: string;
  runtime_hours: string;
}

/** Turns a float quantity from an ERP (Tryton 6 stores quantities as floats) into an exact decimal string. */
export function quantityString(v: unknown): string | null {
  if (v === null || v === undefined || v === false) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) {
    // shortest round-trip representation, never exponent form for the magnitudes ERPs use
    const s = String(v);
    return /e/i.test(s) ? v.toFixed(10).replace(/\.?0+$/, '') : s;
  }
  return null;
}

// ---- write-back payloads ------------------------------------------------------------------

const Model = z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/, 'must be an ERP model name such as "production" or "purchase.purchase"');
const Name = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a method or field name such as "wait"');
/** A Tryton domain: [[field, operator, value], …] (conjunction); "OR"/"AND" prefixes allowed. */
export const Domain = z.array(z.unknown()).max(50);
const Ids = z.array(z.number().int().positive()).min(1).max(500);

export const WriteBack = z.discriminatedUnion('method', [
  z
    .object({
      model: Model,
      method: z.literal('create'),
      values: z.record(z.string(), z.unknown()),
      /** Where the delivery's idempotency key is kept on the created document (defaults per model). */
      idempotencyField: Name.optional(),
    })
    .strict(),
  z
    .object({ model: Model, method: z.literal('write'), ids: Ids.optional(), search: Domain.optional(), values: z.record(z.string(), z.unknown()) })
    .strict()
    .refine((p) => p.ids || p.search, { message: 'say which records to write: "ids" or "search" (a domain such as [["number","=","WO-0001"]])' }),
  z
    .object({ model: Model, method: z.literal('button'), button: Name, ids: Ids.optional(), search: Domain.optional() })
    .strict()
    .refine((p) => p.ids || p.search, { message: 'say which records to press the button on: "ids" or "search"' }),
  z.object({ model: Model, method: z.literal('call'), name: Name, args: z.array(z.unknown()).max(20).default([]) }).strict(),
]);
export type WriteBack = z.infer<typeof WriteBack>;

/**
 * Where a create keeps the delivery's idempotency key, per model, unless the payload names a field.
 * A text field the ERP shows to people, so an operator can see which Trellis delivery made a document.
 */
export const DEFAULT_IDEMPOTENCY_FIELDS: Readonly<Record<string, string>> = {
  production: 'reference',
  'purchase.purchase': 'comment',
  'ir.note': 'message',
  'stock.shipment.in': 'reference',
  'sale.sale': 'comment',
};

export const idempotencyMarker = (key: string) => `[trellis:${key}]`;

/** A value that names a record instead of its id: `{"$ref": {"model": "product.product", "domain": [["code","=","M-1"]]}}`. */
export const RefValue = z
  .object({ $ref: z.object({ model: Model, domain: Domain, reference: z.boolean().optional() }).strict() })
  .strict();

/** Parses a payload; returns a message a person can act on when it does not fit. */
export function parseWriteBack(payload: unknown): { ok: true; value: WriteBack } | { ok: false; error: string } {
  const r = WriteBack.safeParse(payload);
  if (r.success) return { ok: true, value: r.data };
  const msg = r.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ');
  return { ok: false, error: `The write-back payload does not fit { model, method: create|write|button|call, … }: ${msg}` };
}

/** Domain of simple equality conditions [[field, '=', value], …] → pairs (the sample ERP understands only these). */
export function equalityConditions(domain: readonly unknown[]): Array<[string, unknown]> | null {
  const out: Array<[string, unknown]> = [];
  for (const c of domain) {
    if (!Array.isArray(c) || c.length !== 3 || typeof c[0] !== 'string' || (c[1] !== '=' && c[1] !== 'in')) return null;
    out.push([c[0], c[1] === 'in' ? { in: c[2] } : c[2]]);
  }
  return out;
}
