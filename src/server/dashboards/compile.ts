// Widget → ONE parameterised aggregate SQL statement. Table and column names come only from the
// published definition (checked again here, quoted with ident()); every value, the plant time
// zone included, is a parameter; the reader's row filter (resolveAccess) is ANDed into WHERE, so
// rows outside the reader's scope never reach an aggregate. Nothing is filtered in JavaScript.
//
// Shape:  select <keys, labels, numeric measures> from <entity> t [left join users/departments/
//         linked entity per group] where <row scope> and <widget filter> and <extra filter> and
//         <date range> group by <keys> — wrapped in an outer select that turns measures into
//         exact decimal text, adds the Pareto cumulative percentage (a window over all groups),
//         orders and limits.
import {
  columnUse,
  DASHBOARD_LIMITS,
  widgetDateField,
  widgetMeasures,
  type Bucket,
  type ColumnUse,
  type DurationUnit,
  type GroupMeta,
  type NamedMeasure,
  type Widget,
} from '../../shared/dashboard-definition.ts';
export type { GroupMeta } from '../../shared/dashboard-definition.ts';
import { entityTable, type AppDef, type Condition, type EntityDef } from '../../shared/definition.ts';
import type { EvalContext } from '../../shared/condition-eval.ts';
import { ident } from '../db/index.ts';
import { badRequest, forbidden } from '../platform/index.ts';
import { compileCondition, conditionError, Params, type Access, type QueryScope } from '../records/query/index.ts';

export interface WidgetRequest {
  app: AppDef;
  widget: Widget;
  ctx: EvalContext;
  /** Read access of the principal per entity (resolveAccess(…, 'read')). */
  access: (entity: EntityDef) => Access;
  /** Extra condition from the viewer (the dashboard's filter bar). */
  extraFilter?: unknown;
  /** Plant-time-zone dates 'YYYY-MM-DD', inclusive, on the widget's date field. */
  from?: string;
  to?: string;
}

export interface CompiledWidget {
  text: string;
  values: unknown[];
  groups: GroupMeta[];
  measures: NamedMeasure[];
  limit: number;
  pareto: boolean;
}

const BUCKET_SQL: Record<Bucket, string> = { day: 'day', week: 'week', month: 'month', quarter: 'quarter', year: 'year' };
const UNIT_SECONDS: Record<DurationUnit, number> = { minutes: 60, hours: 3600, days: 86400 };
const AGG_SQL = { avg: 'avg', sum: 'sum', min: 'min', max: 'max' } as const;

/** Every top-level field a condition names (paths count by their first segment). */
export function conditionFields(cond: unknown, out = new Set<string>()): Set<string> {
  if (cond === null || typeof cond !== 'object') return out;
  const c = cond as Record<string, unknown>;
  if (typeof c.field === 'string') out.add(c.field.split('.')[0]!);
  for (const k of ['and', 'or'] as const) if (Array.isArray(c[k])) for (const x of c[k] as unknown[]) conditionFields(x, out);
  if (c.not) conditionFields(c.not, out);
  return out;
}

/** The columns a widget reads (group-by, measures, date field, filters). */
export function widgetColumns(w: Widget, withDate: boolean): Set<string> {
  const cols = new Set<string>();
  for (const g of w.groupBy ?? []) cols.add(g.field);
  for (const m of widgetMeasures(w)) {
    for (const c of [m.field, m.from, m.to]) if (c) cols.add(c);
    if (m.filter) conditionFields(m.filter, cols);
  }
  if (w.filter) conditionFields(w.filter, cols);
  if (withDate) cols.add(widgetDateField(w));
  return cols;
}

/** Why the principal cannot use this widget, or null when they can. */
export function widgetRefusal(app: AppDef, w: Widget, access: (e: EntityDef) => Access): string | null {
  const entity = app.entities.find((e) => e.name === w.entity);
  if (!entity || entity.child) return `The widget reads "${w.entity}", which this app no longer has.`;
  const a = access(entity);
  if (!a.allowed) return a.reason ?? `You may not read ${entity.label.zh} (${entity.name}).`;
  const hidden = [...widgetColumns(w, false)].filter((c) => !a.readable.has(c));
  if (hidden.length) return `This widget uses ${hidden.map((h) => `"${h}"`).join(', ')}, which you may not read.`;
  return null;
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

export function compileWidget(req: WidgetRequest): CompiledWidget {
  const { app, widget: w } = req;
  const entity = app.entities.find((e) => e.name === w.entity && !e.child);
  if (!entity) throw badRequest(`The widget "${w.id}" reads "${w.entity}", which this app does not have.`);
  const refusal = widgetRefusal(app, w, req.access);
  if (refusal) throw forbidden(refusal);
  const access = req.access(entity);
  const params = new Params();
  // The plant time zone, a parameter added on first use (a statement must use every parameter).
  let tzParam: string | null = null;
  const tz = () => (tzParam ??= params.add(req.ctx.timezone));
  const scope: QueryScope = { app, entity, alias: 't', ctx: req.ctx, access: req.access };
  const col = (name: string): ColumnUse => {
    const c = columnUse(app, entity, name);
    // Published definitions were validated; refuse anything else rather than print it.
    if (!c) throw badRequest(`The widget "${w.id}" names "${name}", which is not a column of ${entity.name}.`);
    return c;
  };
  const t = (name: string) => `t.${ident(col(name).name)}`;

  // --- group keys and labels
  const joins: string[] = [];
  const groups: GroupMeta[] = [];
  const inner: string[] = [];
  (w.groupBy ?? []).forEach((g, i) => {
    const c = col(g.field);
    if (!c.group) throw badRequest(`Cannot group by "${g.field}".`);
    let key = t(g.field);
    let lz = 'null::text';
    let le = 'null::text';
    if (c.group === 'datetime' || c.group === 'date') {
      const bucket = BUCKET_SQL[g.bucket ?? 'day'];
      key =
        c.group === 'datetime'
          ? `date_trunc('${bucket}', timezone(${tz()}::text, ${t(g.field)}))::date`
          : `date_trunc('${bucket}', ${t(g.field)}::timestamp)::date`;
    } else if (c.group === 'user') {
      joins.push(`left join users gu${i} on gu${i}.id = ${t(g.field)}`);
      lz = `gu${i}.display_name`;
      le = `gu${i}.display_name_en`;
    } else if (c.group === 'department') {
      joins.push(`left join departments gd${i} on gd${i}.id = ${t(g.field)}`);
      lz = `gd${i}.name`;
      le = `gd${i}.name_en`;
    } else if (c.group === 'link' && c.target) {
      // The linked record's title, only where the reader may read that record and its title.
      const ta = req.access(c.target);
      if (ta.allowed) {
        const alias = `gl${i}`;
        const scopeSql = ta.rowFilter(params, alias);
        joins.push(`left join ${ident(entityTable(app.name, c.target.name))} ${alias} on ${alias}.id = ${t(g.field)}${scopeSql ? ` and (${scopeSql})` : ''}`);
        const title = c.target.titleField && ta.readable.has(c.target.titleField) && c.target.fields.some((f) => f.name === c.target!.titleField) ? c.target.titleField : 'name';
        lz = `${alias}.${ident(title)}::text`;
      }
    }
    inner.push(`${key} as k${i}`, `${lz} as lz${i}`, `${le} as le${i}`);
    groups.push({ field: g.field, kind: c.group, ...(g.bucket ? { bucket: g.bucket } : {}) });
  });

  // --- measures (numeric inside; exact text outside)
  const measures = widgetMeasures(w);
  const where: string[] = [];
  try {
    const rf = access.rowFilter(params, 't');
    if (rf) where.push(rf);
    measures.forEach((m, i) => {
      const filter = m.filter ? ` filter (where ${compileCondition(m.filter as Condition, scope, params, `widget.measures.${m.id}.filter`)})` : '';
      inner.push(`${measureSql(m, t, filter)} as m${i}`);
    });
    if (w.filter) where.push(compileCondition(w.filter as Condition, scope, params, 'widget.filter'));
    if (req.extraFilter !== undefined && req.extraFilter !== null) where.push(compileCondition(req.extraFilter, scope, params, 'filter'));
  } catch (err) {
    throw conditionError(err);
  }

  // --- date range (plant days, inclusive)
  if (req.from !== undefined || req.to !== undefined) {
    const df = widgetDateField(w);
    const c = col(df);
    if (c.kind !== 'date' && c.kind !== 'datetime') throw badRequest(`The widget's date field "${df}" is not a date.`);
    if (!access.readable.has(df)) throw forbidden(`This widget's date range uses "${df}", which you may not read.`);
    for (const [k, v] of [['from', req.from], ['to', req.to]] as const) {
      if (v === undefined) continue;
      if (!DATE_RE.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`))) throw badRequest(`"${k}" must be a date like 2026-05-01.`, [{ path: `query.${k}`, message: 'must be YYYY-MM-DD' }]);
      const p = params.add(v);
      if (c.kind === 'date') where.push(k === 'from' ? `${t(df)} >= ${p}::date` : `${t(df)} <= ${p}::date`);
      else where.push(k === 'from' ? `${t(df)} >= timezone(${tz()}::text, ${p}::date::timestamp)` : `${t(df)} < timezone(${tz()}::text, (${p}::date + 1)::timestamp)`);
    }
    if (req.from && req.to && req.from > req.to) throw badRequest('"from" is after "to".', [{ path: 'query.from', message: 'must not be after "to"' }]);
  }

  const nGroupCols = groups.length * 3;
  const innerSql = `select ${inner.join(', ')} from ${ident(entityTable(app.name, entity.name))} t${joins.length ? ` ${joins.join(' ')}` : ''}
    where ${where.length ? where.map((x) => `(${x})`).join(' and ') : 'true'}${nGroupCols ? ` group by ${Array.from({ length: nGroupCols }, (_, i) => i + 1).join(', ')}` : ''}`;

  // --- outer: text values, Pareto cumulative %, order, limit
  const keyText = (i: number) => (groups[i]!.kind === 'date' || groups[i]!.kind === 'datetime' ? `to_char(s.k${i}, 'YYYY-MM-DD')` : `s.k${i}::text`);
  const keyOrder = (i: number, dir: string) => {
    const k = groups[i]!.kind;
    const textual = k === 'select' || k === 'status' || k === 'text';
    return `s.k${i}${textual ? ' collate "C"' : ''} ${dir} nulls last`;
  };
  const pareto = w.kind === 'pareto';
  const outer: string[] = [];
  groups.forEach((_, i) => outer.push(`${keyText(i)} as k${i}`, `s.lz${i}`, `s.le${i}`));
  measures.forEach((_, i) => outer.push(`s.m${i}::text as m${i}`));
  const groupOrder = groups.map((_, i) => keyOrder(i, 'asc'));
  let orderBy = '';
  if (groups.length) {
    const timeFirst = groups[0]!.bucket !== undefined;
    const by = pareto ? 'value' : (w.sort?.by ?? (timeFirst ? 'group' : 'value'));
    const dir = pareto ? 'desc' : (w.sort?.dir ?? (by === 'group' ? 'asc' : 'desc'));
    if (by === 'group') orderBy = groups.map((_, i) => keyOrder(i, dir)).join(', ');
    else orderBy = [`s.m0 ${dir} nulls last`, ...groupOrder].join(', ');
  }
  if (pareto) {
    outer.push(
      `round(100 * sum(s.m0) over (order by ${orderBy} rows between unbounded preceding and current row) / nullif(sum(s.m0) over (), 0), 2)::text as cum`,
    );
  }
  const limit = groups.length ? (w.limit ?? DASHBOARD_LIMITS.defaultRows) : 1;
  const text = `select ${outer.join(', ')} from (${innerSql}) s${orderBy ? ` order by ${orderBy}` : ''} limit ${limit + 1}`;
  return { text, values: params.values, groups, measures, limit, pareto };
}

/** The aggregate of one measure; `filter` (` filter (where …)`) attaches to the aggregate call itself. */
function measureSql(m: NamedMeasure, t: (name: string) => string, filter: string): string {
  const scale = Math.trunc(m.scale ?? 2);
  switch (m.op) {
    case 'count':
      return `count(*)${filter}`;
    case 'sum':
      return `sum(${t(m.field!)})${filter}`;
    case 'min':
      return `min(${t(m.field!)})${filter}`;
    case 'max':
      return `max(${t(m.field!)})${filter}`;
    case 'avg':
      return `round((avg(${t(m.field!)})${filter})::numeric, ${scale})`;
    case 'duration': {
      const seconds = `extract(epoch from (${t(m.to!)} - ${t(m.from!)}))::numeric`;
      return `round((${AGG_SQL[m.agg ?? 'avg']}(${seconds})${filter}) / ${UNIT_SECONDS[m.unit ?? 'hours']}, ${scale})`;
    }
  }
}
