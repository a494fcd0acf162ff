// Dashboards: the charts and numbers of an app, part of its definition (`dashboards:` beside
// `entities:` and `workflows:`). A dashboard is a list of widgets; each widget aggregates ONE
// entity: optional filter (the condition language), up to two group-by fields (time buckets in
// the plant time zone), and measures (count, sum/avg/min/max of a number, or the time between
// two datetime fields). The dashboards engine compiles a widget to one parameterised aggregate
// SQL statement under the reader's row scope. Shared by server (validation at publish, the
// compiler) and web (rendering). Browser-safe.
//
//   dashboards:
//     - name: overview
//       title: { zh: 异常看板, en: Exception board }
//       widgets:
//         - id: open_by_line
//           kind: stacked_bar
//           title: { zh: 未关闭异常（按产线/严重度）, en: Open exceptions by line and severity }
//           entity: exception
//           filter: { field: closed_at, op: empty }
//           groupBy: [{ field: line }, { field: severity }]
//           measure: { op: count }
//
// Problems come back with named paths: `dashboards.overview.widgets.open_by_line.measure.field`.
import { z } from 'zod';
import { analyzeCondition, ConditionError, fieldKind, lookupColumn, type EvalContext, type Kind } from './condition-eval.ts';
import { Condition, IDENT_RE, Label, type AppDef, type EntityDef } from './definition.ts';

export const WIDGET_KINDS = ['kpi', 'bar', 'stacked_bar', 'line', 'pie', 'pareto', 'table'] as const;
export type WidgetKind = (typeof WIDGET_KINDS)[number];
export const BUCKETS = ['day', 'week', 'month', 'quarter', 'year'] as const;
export type Bucket = (typeof BUCKETS)[number];
export const MEASURE_OPS = ['count', 'sum', 'avg', 'min', 'max', 'duration'] as const;
export type MeasureOp = (typeof MEASURE_OPS)[number];
export const DURATION_UNITS = ['minutes', 'hours', 'days'] as const;
export type DurationUnit = (typeof DURATION_UNITS)[number];
export const DURATION_AGGS = ['avg', 'sum', 'min', 'max'] as const;

/** Widgets of a dashboard, measures of a widget, group-by levels: small, so a screen stays readable. */
export const DASHBOARD_LIMITS = { dashboards: 20, widgets: 40, measures: 8, groupBy: 2, rows: 1000, defaultRows: 100 } as const;

/** A column of the widget's entity: a field name or a system column. Never a path, never SQL. */
const ColumnName = z
  .string()
  .min(1, 'must not be empty')
  .max(60)
  .regex(/^[a-z][a-z0-9_]*$/, 'a field name of the entity (lower-case letters, digits and "_"), e.g. "severity" or "created_at"');
const WidgetId = z
  .string()
  .min(1)
  .max(40)
  .regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'an id starts with a letter and uses letters, digits, "_" and "-"');
const RoleCode = z.string().regex(/^(\*|[a-z][a-z0-9_]{0,59})$/, 'a role code like "workshop_director", or "*" for every signed-in user');

export const Measure = z
  .object({
    /** Names the measure in paths, tables and legends (defaults: m1, m2, …). */
    id: WidgetId.optional(),
    op: z.enum(MEASURE_OPS, { error: () => `must be one of: ${MEASURE_OPS.join(', ')}` }),
    /** sum / avg / min / max: a number field. */
    field: ColumnName.optional(),
    /** duration: the time from one datetime field to another (e.g. created_at → submitted_at). */
    from: ColumnName.optional(),
    to: ColumnName.optional(),
    /** duration: how the durations of the rows combine (default avg) and their unit (default hours). */
    agg: z.enum(DURATION_AGGS, { error: () => `must be one of: ${DURATION_AGGS.join(', ')}` }).optional(),
    unit: z.enum(DURATION_UNITS, { error: () => `must be one of: ${DURATION_UNITS.join(', ')}` }).optional(),
    /** Digits after the point for avg and duration (default 2). */
    scale: z.number().int().min(0).max(6).optional(),
    /** Only rows matching this condition count for this measure (SQL `FILTER (WHERE …)`). */
    filter: Condition.optional(),
    label: Label.optional(),
  })
  .strict();
export type Measure = z.infer<typeof Measure>;

export const GroupBy = z
  .object({
    field: ColumnName,
    /** date and datetime fields: the time bucket, in the plant time zone (weeks start on Monday). */
    bucket: z.enum(BUCKETS, { error: () => `must be one of: ${BUCKETS.join(', ')}` }).optional(),
    label: Label.optional(),
  })
  .strict();
export type GroupBy = z.infer<typeof GroupBy>;

export const WIDGET_WIDTHS = ['third', 'half', 'full'] as const;

export const Widget = z
  .object({
    id: WidgetId,
    kind: z.enum(WIDGET_KINDS, { error: () => `must be one of: ${WIDGET_KINDS.join(', ')}` }),
    title: Label,
    entity: z.string().min(1).max(60),
    filter: Condition.optional(),
    groupBy: z.array(GroupBy).max(DASHBOARD_LIMITS.groupBy, `group by at most ${DASHBOARD_LIMITS.groupBy} fields`).optional(),
    /** One measure, or `measures` for several (one bar / column / series each). */
    measure: Measure.optional(),
    measures: z.array(Measure).min(1).max(DASHBOARD_LIMITS.measures, `at most ${DASHBOARD_LIMITS.measures} measures`).optional(),
    /** The date or datetime field a date range on the dashboard narrows (default: the time group-by, else created_at). */
    dateField: ColumnName.optional(),
    /** Row order: by the (first) measure or by the group key. Defaults: time → group asc, else value desc. */
    sort: z.object({ by: z.enum(['value', 'group']), dir: z.enum(['asc', 'desc']).optional() }).strict().optional(),
    /** At most this many rows (groups); the answer says when more existed. */
    limit: z.number().int().min(1).max(DASHBOARD_LIMITS.rows).optional(),
    width: z.enum(WIDGET_WIDTHS).optional(),
  })
  .strict();
export type Widget = z.infer<typeof Widget>;

export const DashboardDef = z
  .object({
    name: z.string().min(1).max(40).regex(IDENT_RE, 'use lower-case letters, digits and single underscores, starting with a letter (e.g. "overview")'),
    title: Label,
    description: Label.optional(),
    /** Who sees it (role codes, `*` = everyone); default everyone. Row scopes apply either way. */
    roles: z.array(RoleCode).max(50).optional(),
    widgets: z.array(Widget).min(1, 'a dashboard needs at least one widget').max(DASHBOARD_LIMITS.widgets),
  })
  .strict();
export type DashboardDef = z.infer<typeof DashboardDef>;

export const Dashboards = z.array(DashboardDef).max(DASHBOARD_LIMITS.dashboards);

/** A measure with its id filled in (`m1`, `m2`, … when the author gave none). */
export type NamedMeasure = Measure & { id: string };

/** The measures of a widget, whichever way they were written. */
export function widgetMeasures(w: Widget): NamedMeasure[] {
  const list = w.measures ?? (w.measure ? [w.measure] : []);
  return list.map((m, i) => ({ ...m, id: m.id ?? `m${i + 1}` }));
}

/** The date/datetime column a date range applies to, or null when the entity has none to use. */
export function widgetDateField(w: Widget): string {
  return w.dateField ?? w.groupBy?.find((g) => g.bucket)?.field ?? 'created_at';
}

// ---------------------------------------------------------------------------------------------
// What columns may be used for

/** How a group-by column is read and labelled. */
export type GroupKind = 'select' | 'status' | 'text' | 'boolean' | 'integer' | 'user' | 'department' | 'link' | 'date' | 'datetime';

export interface ColumnUse {
  name: string;
  kind: Kind;
  /** For group-by: how keys are labelled. */
  group: GroupKind | null;
  /** Numeric measures: sum/avg/min/max allowed. */
  numeric: boolean;
  /** The link target entity (group by a link shows the linked record's title). */
  target?: EntityDef;
}

const SYSTEM_GROUP: Record<string, GroupKind> = {
  status: 'status',
  created_by: 'user',
  updated_by: 'user',
  owner_department_id: 'department',
  created_at: 'datetime',
  updated_at: 'datetime',
  submitted_at: 'datetime',
  cancelled_at: 'datetime',
};

/** A column of `entity` as a dashboard may use it, or null when there is no such column. */
export function columnUse(app: AppDef, entity: EntityDef, name: string): ColumnUse | null {
  if (name === 'search_text') return null;
  const col = lookupColumn(app, { kind: 'entity', entity }, name);
  if (!col) return null;
  const field = entity.fields.find((f) => f.name === name);
  let group: GroupKind | null = null;
  if (!field) group = SYSTEM_GROUP[name] ?? (col.kind === 'text' ? 'text' : null);
  else {
    const k = fieldKind(field);
    if (field.type === 'select') group = 'select';
    else if (field.type === 'user') group = 'user';
    else if (field.type === 'department') group = 'department';
    else if (field.type === 'link') group = 'link';
    else if (field.type === 'long_text') group = null;
    else if (k === 'text') group = 'text';
    else if (k === 'boolean') group = 'boolean';
    else if (k === 'integer') group = 'integer';
    else if (k === 'date') group = 'date';
    else if (k === 'datetime') group = 'datetime';
  }
  const target = col.target?.kind === 'entity' && field?.type === 'link' ? col.target.entity : undefined;
  return { name, kind: col.kind, group, numeric: col.kind === 'integer' || col.kind === 'decimal', ...(target ? { target } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Validation

export interface DashboardProblem {
  path: string;
  message: string;
}

const VALIDATION_CTX: EvalContext = { userId: '00000000-0000-0000-0000-000000000000', departmentIds: [], now: new Date(0), timezone: 'Asia/Shanghai' };

/** zod path → `dashboards.<name>.widgets.<id>.measures.<id>…` */
function namedPath(input: unknown, path: ReadonlyArray<PropertyKey>): string {
  const out: string[] = ['dashboards'];
  let here: unknown = input;
  let parent: PropertyKey | undefined = 'dashboards';
  for (const seg of path) {
    const next = here !== null && typeof here === 'object' ? (here as Record<PropertyKey, unknown>)[seg] : undefined;
    if (typeof seg === 'number') {
      const key = parent === 'dashboards' ? 'name' : parent === 'widgets' || parent === 'measures' ? 'id' : null;
      const name = key && next !== null && typeof next === 'object' ? (next as Record<string, unknown>)[key] : undefined;
      out.push(typeof name === 'string' && name !== '' ? name : String(seg));
    } else out.push(String(seg));
    here = next;
    parent = seg;
  }
  return out.join('.');
}

/** Checks the `dashboards` section of an app against its entities. Returns every problem with its path. */
export function checkDashboards(input: unknown, app: AppDef): { dashboards?: DashboardDef[]; problems: DashboardProblem[] } {
  if (input === undefined) return { dashboards: [], problems: [] };
  const parsed = Dashboards.safeParse(input);
  if (!parsed.success) {
    return {
      problems: parsed.error.issues.map((i) => {
        if (i.code === 'unrecognized_keys') return { path: namedPath(input, [...i.path, i.keys[0] ?? '']), message: `unknown property "${i.keys.join('", "')}"` };
        const missing = i.code === 'invalid_type' && (i as { input?: unknown }).input === undefined;
        return { path: namedPath(input, i.path), message: missing ? 'is required' : i.message };
      }),
    };
  }
  const problems: DashboardProblem[] = [];
  const push = (path: string, message: string) => problems.push({ path, message });
  const names = new Set<string>();
  for (const d of parsed.data) {
    const db = `dashboards.${d.name}`;
    if (names.has(d.name)) push(`${db}.name`, `dashboard name "${d.name}" is used more than once`);
    names.add(d.name);
    const ids = new Set<string>();
    for (const w of d.widgets) {
      const wb = `${db}.widgets.${w.id}`;
      if (ids.has(w.id)) push(`${wb}.id`, `widget id "${w.id}" is used more than once in this dashboard`);
      ids.add(w.id);
      checkWidget(app, w, wb, push);
    }
  }
  return problems.length ? { problems } : { dashboards: parsed.data, problems };
}

function checkCond(app: AppDef, entity: EntityDef, cond: unknown, path: string, push: (p: string, m: string) => void): void {
  try {
    analyzeCondition(cond, { app, entity, ctx: VALIDATION_CTX }, { path });
  } catch (err) {
    if (err instanceof ConditionError) for (const e of err.errors) push(e.path, e.message);
    else throw err;
  }
}

function checkWidget(app: AppDef, w: Widget, wb: string, push: (p: string, m: string) => void): void {
  const entity = app.entities.find((e) => e.name === w.entity);
  const roots = app.entities.filter((e) => !e.child).map((e) => e.name);
  if (!entity) {
    push(`${wb}.entity`, `"${w.entity}" is not an entity of this app; use one of: ${roots.join(', ')}`);
    return;
  }
  if (entity.child) {
    push(`${wb}.entity`, `"${w.entity}" is a child table; chart its parent entity instead (${roots.join(', ')})`);
    return;
  }
  const fieldList = () => [...entity.fields.map((f) => f.name), 'status', 'created_at', 'created_by', 'owner_department_id', 'submitted_at'].join(', ');
  const col = (name: string) => columnUse(app, entity, name);

  if (w.measure && w.measures) push(`${wb}.measures`, 'give either "measure" (one) or "measures" (a list), not both');
  if (!w.measure && !w.measures) push(`${wb}.measure`, 'a widget needs a measure, e.g. {op: count} or {op: avg, field: downtime_minutes}');
  const measures = widgetMeasures(w);
  const groups = w.groupBy ?? [];
  const mBase = (i: number) => (w.measure ? `${wb}.measure` : `${wb}.measures.${measures[i]?.id ?? i}`);

  // kind rules
  const need = (ok: boolean, path: string, message: string) => {
    if (!ok) push(path, message);
  };
  switch (w.kind) {
    case 'kpi':
      need(groups.length === 0, `${wb}.groupBy`, 'a kpi shows one number: remove "groupBy" (or use a bar or table widget)');
      need(measures.length <= 1, `${wb}.measures`, 'a kpi shows one number: give one measure');
      break;
    case 'pie':
    case 'pareto':
      need(groups.length === 1, `${wb}.groupBy`, `a ${w.kind} groups by exactly one field`);
      need(measures.length <= 1, `${wb}.measures`, `a ${w.kind} shows one measure`);
      if (w.kind === 'pareto' && w.sort) push(`${wb}.sort`, 'a pareto always sorts by value, largest first: remove "sort"');
      break;
    case 'line':
      need(groups.length >= 1 && !!groups[0]?.bucket, `${wb}.groupBy`, 'a line chart groups first by a date or datetime field with a bucket, e.g. [{field: created_at, bucket: week}]');
      break;
    case 'bar':
    case 'stacked_bar':
    case 'table':
      break;
  }
  if (groups.length === 2 && measures.length > 1) push(`${wb}.measures`, 'with two group-by fields a widget shows one measure (the second field makes the series)');

  // group-by fields
  const seen = new Set<string>();
  groups.forEach((g, i) => {
    const gb = `${wb}.groupBy.${i}`;
    const c = col(g.field);
    if (!c) return push(`${gb}.field`, `"${g.field}" is not a field of "${entity.name}"; fields: ${fieldList()}`);
    if (!c.group) return push(`${gb}.field`, `cannot group by "${g.field}" (${c.kind}); group by a select, text, boolean, user, department, link, date or datetime field`);
    const key = `${g.field}/${g.bucket ?? ''}`;
    if (seen.has(key)) push(`${gb}.field`, `"${g.field}" is grouped by twice`);
    seen.add(key);
    const timeish = c.group === 'date' || c.group === 'datetime';
    if (timeish && !g.bucket) push(`${gb}.bucket`, `"${g.field}" is a ${c.group}: give a bucket (${BUCKETS.join(', ')})`);
    if (!timeish && g.bucket) push(`${gb}.bucket`, `only date and datetime fields have buckets; "${g.field}" is not one`);
  });

  // measures
  const mids = new Set<string>();
  measures.forEach((m, i) => {
    const mb = mBase(i);
    if (mids.has(m.id)) push(`${mb}.id`, `measure id "${m.id}" is used more than once`);
    mids.add(m.id);
    const only = (prop: 'field' | 'from' | 'to' | 'agg' | 'unit', ops: MeasureOp[]) => {
      if (m[prop] !== undefined && !ops.includes(m.op)) push(`${mb}.${prop}`, `"${prop}" is only for ${ops.join('/')} measures, not ${m.op}`);
    };
    only('field', ['sum', 'avg', 'min', 'max']);
    only('from', ['duration']);
    only('to', ['duration']);
    only('agg', ['duration']);
    only('unit', ['duration']);
    if (m.scale !== undefined && !(m.op === 'avg' || m.op === 'duration')) push(`${mb}.scale`, '"scale" is only for avg and duration measures');
    if (m.op === 'sum' || m.op === 'avg' || m.op === 'min' || m.op === 'max') {
      if (!m.field) push(`${mb}.field`, `a ${m.op} measure needs a number field`);
      else {
        const c = col(m.field);
        if (!c) push(`${mb}.field`, `"${m.field}" is not a field of "${entity.name}"; fields: ${fieldList()}`);
        else if (!c.numeric) push(`${mb}.field`, `"${m.field}" is not a number field; ${m.op} needs an integer, decimal, money, percent or duration field`);
      }
    }
    if (m.op === 'duration') {
      for (const end of ['from', 'to'] as const) {
        const name = m[end];
        if (!name) {
          push(`${mb}.${end}`, `a duration measure needs "${end}": a datetime field such as ${end === 'from' ? 'created_at' : 'submitted_at'}`);
          continue;
        }
        const c = col(name);
        if (!c) push(`${mb}.${end}`, `"${name}" is not a field of "${entity.name}"; fields: ${fieldList()}`);
        else if (c.kind !== 'datetime') push(`${mb}.${end}`, `"${name}" is not a datetime field; a duration runs between two datetime fields`);
      }
      if (m.from && m.from === m.to) push(`${mb}.to`, '"from" and "to" are the same field: the duration would always be 0');
    }
    if (m.filter !== undefined) checkCond(app, entity, m.filter, `${mb}.filter`, push);
  });

  if (w.dateField !== undefined) {
    const c = col(w.dateField);
    if (!c) push(`${wb}.dateField`, `"${w.dateField}" is not a field of "${entity.name}"; fields: ${fieldList()}`);
    else if (c.kind !== 'date' && c.kind !== 'datetime') push(`${wb}.dateField`, `"${w.dateField}" is not a date or datetime field`);
  }
  if (w.filter !== undefined) checkCond(app, entity, w.filter, `${wb}.filter`, push);
}

// ---- widget data as the API answers it (server: dashboards/service.ts; web: dashboards/) ----

/** One group-by column of a widget's answer. */
export interface GroupMeta {
  field: string;
  kind: NonNullable<ColumnUse['group']>;
  bucket?: Bucket;
}

export interface WidgetRow {
  /** Group keys as text (dates 'YYYY-MM-DD', ids, option values, 'true'/'false'); null = empty. */
  keys: Array<string | null>;
  /** Display labels of the keys where the definition or the organisation has them. */
  labels: Array<Label | null>;
  /** Measure id → exact decimal text (null when no row had a value). */
  values: Record<string, string | null>;
  /** Pareto: cumulative share of the total up to this row, in percent ('45.50'). */
  cumulativePercent?: string | null;
}

export interface WidgetData {
  dashboard: string;
  widget: string;
  kind: WidgetKind;
  groups: GroupMeta[];
  measures: Array<{ id: string; op: string; label?: Label }>;
  rows: WidgetRow[];
  /** More groups existed than the widget's limit. */
  truncated: boolean;
  timezone: string;
}
