// The app definition format: what a citizen developer builds (in the designer or as a YAML/JSON
// file) and what the engines interpret. Shared by server and web. The zod schemas here check the
// shape; cross-references (links, formulas, child tables, permissions) are checked by
// `validateApp` in src/server/modeling, which reports every problem with its exact path.
import { z } from 'zod';

/** Identifiers become SQL table/column names: lower snake case, no double underscore (our separator). */
export const IDENT_RE = /^[a-z](?:[a-z0-9]|_(?!_))*$/;
const identMsg = 'use lower-case letters, digits and single underscores, starting with a letter (e.g. "work_order")';
export const Ident = (max: number) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(IDENT_RE, identMsg)
    .refine((s) => !s.endsWith('_'), 'must not end with "_"');

export const Label = z
  .object({
    zh: z.string().min(1, 'a Chinese label is required').max(200),
    en: z.string().max(200).optional(),
  })
  .strict();
export type Label = z.infer<typeof Label>;

export const FIELD_TYPES = [
  'text',
  'long_text',
  'integer',
  'decimal',
  'money',
  'percent',
  'date',
  'datetime',
  'duration',
  'boolean',
  'select',
  'multi_select',
  'user',
  'department',
  'link',
  'erp_link',
  'child_table',
  'attachment',
  'image',
  'signature',
  'qr_code',
  'geolocation',
  'formula',
  'auto_number',
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/** ERP master data that `erp_link` fields can point at (cached by the integration hub). */
export const ERP_MASTER_KINDS = ['material', 'bom', 'work_order', 'purchase_order', 'supplier', 'equipment'] as const;
export type ErpMasterKind = (typeof ERP_MASTER_KINDS)[number];

export const CONDITION_OPS = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'like', 'in', 'nin', 'between', 'empty', 'not_empty'] as const;
export type ConditionOp = (typeof CONDITION_OPS)[number];

/** A value from the situation rather than a literal: the current user, their departments, today. */
export const ContextRef = z.object({ $ctx: z.enum(['user', 'user_departments', 'now', 'today']) }).strict();
export type ContextRef = z.infer<typeof ContextRef>;

/**
 * The structured condition language, used for list filters, visible-if/required-if, row-scope
 * filters and workflow branch conditions. It compiles to parameterised SQL and to a JS predicate;
 * it is never evaluated as code. `field` may be a path over link fields: `supplier.name`.
 */
export type Condition =
  | { and: Condition[] }
  | { or: Condition[] }
  | { not: Condition }
  | { field: string; op: ConditionOp; value?: unknown };

export const Condition: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    z.object({ and: z.array(Condition).min(1).max(50) }).strict(),
    z.object({ or: z.array(Condition).min(1).max(50) }).strict(),
    z.object({ not: Condition }).strict(),
    z
      .object({
        field: z.string().min(1).max(200).regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,3}$/, 'a field name or a path over link fields like "supplier.name"'),
        op: z.enum(CONDITION_OPS),
        value: z.unknown().optional(),
      })
      .strict(),
  ]),
);

/** What a formula may compute; the column takes the matching type. */
export const FORMULA_RESULT_TYPES = ['text', 'integer', 'decimal', 'money', 'boolean', 'date', 'datetime'] as const;
export type FormulaResultType = (typeof FORMULA_RESULT_TYPES)[number];

export const SelectOption = z
  .object({ value: z.string().min(1).max(100), label: Label, color: z.string().max(20).optional() })
  .strict();

export interface FieldDef {
  name: string;
  type: FieldType;
  label: Label;
  help?: Label;
  required?: boolean;
  unique?: boolean;
  default?: unknown;
  min?: number | string;
  max?: number | string;
  maxLength?: number;
  pattern?: string;
  /** select / multi_select */
  options?: Array<z.infer<typeof SelectOption>>;
  /** link: entity name in the same app; child_table: child entity name; erp_link: master-data kind. */
  target?: string;
  /** decimal/percent: digits after the point (money defaults to 2). */
  scale?: number;
  /** formula: JSONata over the record, e.g. `qty * unit_price`. */
  formula?: string;
  /** formula: the type of the computed value (default text). */
  resultType?: FormulaResultType;
  /** auto_number: pattern like `EQ-{####}` (per-field counter). */
  autoNumber?: string;
  visibleIf?: Condition;
  requiredIf?: Condition;
  readOnlyAfterSubmit?: boolean;
  /** Indexed for fast filtering/sorting. */
  filterable?: boolean;
  /** Included in full-text search. */
  searchable?: boolean;
  /** Marks personal data for the governance compliance check. */
  personalData?: boolean;
  /** Set when a field was renamed: the published column keeps its data. */
  renamedFrom?: string;
}

const NumOrString = z.union([z.number(), z.string().max(40)]);

export const FieldDef: z.ZodType<FieldDef> = z
  .object({
    name: Ident(40),
    type: z.enum(FIELD_TYPES, { error: () => `must be one of: ${FIELD_TYPES.join(', ')}` }),
    label: Label,
    help: Label.optional(),
    required: z.boolean().optional(),
    unique: z.boolean().optional(),
    default: z.unknown().optional(),
    min: NumOrString.optional(),
    max: NumOrString.optional(),
    maxLength: z.number().int().positive().max(1_000_000).optional(),
    pattern: z.string().max(500).optional(),
    options: z.array(SelectOption).max(500).optional(),
    target: z.string().max(60).optional(),
    scale: z.number().int().min(0).max(12).optional(),
    formula: z.string().max(2000).optional(),
    resultType: z.enum(FORMULA_RESULT_TYPES, { error: () => `must be one of: ${FORMULA_RESULT_TYPES.join(', ')}` }).optional(),
    autoNumber: z.string().max(60).optional(),
    visibleIf: Condition.optional(),
    requiredIf: Condition.optional(),
    readOnlyAfterSubmit: z.boolean().optional(),
    filterable: z.boolean().optional(),
    searchable: z.boolean().optional(),
    personalData: z.boolean().optional(),
    renamedFrom: Ident(40).optional(),
  })
  .strict();

export const ACTIONS = ['read', 'create', 'write', 'submit', 'cancel', 'delete', 'export', 'import'] as const;
export type Action = (typeof ACTIONS)[number];

export const ROW_SCOPES = ['own', 'own_department', 'department_subtree', 'all'] as const;
export type RowScope = (typeof ROW_SCOPES)[number];

export interface PermissionDef {
  /** Role code (see the organisation's roles), or `*` for every signed-in user. */
  role: string;
  actions: Action[];
  /** Which rows: a named scope or a condition. Default `all`. */
  scope?: RowScope | { filter: Condition };
  /** Field-level rights: fields not listed follow the entity rights; `hidden` = no read. */
  fields?: Record<string, 'read' | 'write' | 'hidden'>;
}

export const PermissionDef: z.ZodType<PermissionDef> = z
  .object({
    role: z.string().min(1).max(60),
    actions: z.array(z.enum(ACTIONS)).min(1),
    scope: z.union([z.enum(ROW_SCOPES), z.object({ filter: Condition }).strict()]).optional(),
    fields: z.record(z.string(), z.enum(['read', 'write', 'hidden'])).optional(),
  })
  .strict();

/**
 * How a form is laid out (the designer draws it; the runtime form follows it; tables ignore it).
 * `kind` says how the groups show: stacked sections, tabs, or steps of a multi-stage form (one
 * step at a time, e.g. the five stages of an Andon report). Each group lists field names in
 * order, laid out in 1–4 columns. Fields in no group appear after the groups.
 */
export const LAYOUT_KINDS = ['sections', 'tabs', 'steps'] as const;
export type LayoutKind = (typeof LAYOUT_KINDS)[number];

export interface LayoutGroup {
  id: string;
  title: Label;
  columns?: number;
  fields: string[];
}
export interface FormLayout {
  kind: LayoutKind;
  groups: LayoutGroup[];
}

export const LayoutGroup = z
  .object({
    id: z.string().min(1).max(40).regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'a group id starts with a letter and uses letters, digits, "_" and "-"'),
    title: Label,
    columns: z.number().int().min(1).max(4).optional(),
    fields: z.array(z.string().min(1).max(40)).max(500),
  })
  .strict();
export const FormLayout = z
  .object({
    kind: z.enum(LAYOUT_KINDS, { error: () => `must be one of: ${LAYOUT_KINDS.join(', ')}` }),
    groups: z.array(LayoutGroup).min(1, 'a layout needs at least one group').max(50),
  })
  .strict();

export interface EntityDef {
  name: string;
  label: Label;
  description?: string;
  /** A child entity has no life of its own: its rows live in a parent's child_table field. */
  child?: boolean;
  /** Documents with status draft → submitted → cancelled (and amendments). */
  submittable?: boolean;
  /** Document numbers, e.g. `ECN-{YYYY}-{####}`: gap-free, unique under concurrency. */
  namingSeries?: string;
  /** Field shown as the record's title. */
  titleField?: string;
  fields: FieldDef[];
  permissions?: PermissionDef[];
  listView?: { columns?: string[]; sort?: { field: string; dir: 'asc' | 'desc' } };
  /** Form layout drawn in the designer: sections, tabs or steps of fields in columns. */
  layout?: FormLayout;
  renamedFrom?: string;
}

export const EntityDef: z.ZodType<EntityDef> = z
  .object({
    name: Ident(30),
    label: Label,
    description: z.string().max(2000).optional(),
    child: z.boolean().optional(),
    submittable: z.boolean().optional(),
    namingSeries: z.string().max(60).optional(),
    titleField: z.string().max(40).optional(),
    fields: z.array(FieldDef).min(1, 'an entity needs at least one field').max(500),
    permissions: z.array(PermissionDef).max(200).optional(),
    listView: z
      .object({
        columns: z.array(z.string()).max(50).optional(),
        sort: z.object({ field: z.string(), dir: z.enum(['asc', 'desc']) }).strict().optional(),
      })
      .strict()
      .optional(),
    layout: FormLayout.optional(),
    renamedFrom: Ident(30).optional(),
  })
  .strict();

export interface AppDef {
  name: string;
  label: Label;
  description?: string;
  icon?: string;
  entities: EntityDef[];
  /** Approval trees (workflow engine), automations, views, dashboards: defined by later engines. */
  workflows?: unknown[];
  automations?: unknown[];
  dashboards?: unknown[];
}

export const AppDef: z.ZodType<AppDef> = z
  .object({
    name: Ident(24),
    label: Label,
    description: z.string().max(4000).optional(),
    icon: z.string().max(60).optional(),
    entities: z.array(EntityDef).min(1, 'an app needs at least one entity').max(200),
    workflows: z.array(z.unknown()).optional(),
    automations: z.array(z.unknown()).optional(),
    dashboards: z.array(z.unknown()).optional(),
  })
  .strict();

/** Columns every entity table has; field names may not reuse them. */
export const SYSTEM_COLUMNS = [
  'id',
  'name',
  'status',
  'version',
  'created_by',
  'created_at',
  'updated_by',
  'updated_at',
  'owner_department_id',
  'amended_from',
  'submitted_at',
  'cancelled_at',
  'parent_id',
  'parent_field',
  'idx',
  'search_text',
] as const;

/** Physical table of an entity. `__` cannot occur inside identifiers, so names never collide. */
export function entityTable(app: string, entity: string): string {
  return `x_${app}__${entity}`;
}

/**
 * Words a field may not be named: SQL key words (a column named `order` or `user` is a trap in
 * every hand-written report) and the JSONata words a formula could not refer to.
 */
export const RESERVED_WORDS: ReadonlySet<string> = new Set([
  'all', 'alter', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'asc', 'asymmetric', 'authorization', 'between',
  'binary', 'both', 'by', 'case', 'cast', 'check', 'collate', 'collation', 'column', 'commit', 'concurrently', 'constraint',
  'create', 'cross', 'current_catalog', 'current_date', 'current_role', 'current_schema', 'current_time', 'current_timestamp',
  'current_user', 'default', 'deferrable', 'delete', 'desc', 'distinct', 'do', 'drop', 'else', 'end', 'except', 'exists', 'false', 'fetch', 'for', 'foreign', 'freeze', 'from', 'full', 'function', 'grant', 'group', 'having',
  'ilike', 'in', 'initially', 'inner', 'insert', 'intersect', 'into', 'is', 'isnull', 'join', 'lateral', 'leading',
  'left', 'like', 'limit', 'localtime', 'localtimestamp', 'natural', 'not', 'notnull', 'null', 'offset', 'on',
  'only', 'or', 'order', 'outer', 'overlaps', 'placing', 'primary', 'references', 'returning', 'revoke', 'right', 'rollback',
  'select', 'session_user', 'similar', 'some', 'symmetric', 'system_user', 'table', 'tablesample',
  'then', 'to', 'trailing', 'true', 'truncate', 'union', 'unique', 'update', 'user', 'using', 'variadic', 'verbose',
  'when', 'where', 'window', 'with', 'oid', 'ctid', 'xmin', 'xmax', 'cmin', 'cmax', 'tableoid',
]);

/** Naming series / auto-number patterns: `{YYYY}` `{YY}` `{MM}` `{DD}`, one counter `{###}` (3–10 #), literals A–Z 0–9 - _ /. */
export const NAMING_PATTERN_RE = /^(?:[A-Z0-9\-_/]|\{(?:YYYY|YY|MM|DD|#{3,10})\})+$/;
