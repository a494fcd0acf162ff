// Dashboards of a published app as a principal may see them, and one widget's data: the compiled
// aggregate (compile.ts) run as a single read-only statement, its rows labelled for display.
import { checkDashboards, type DashboardDef, type Widget, type WidgetData } from '../../shared/dashboard-definition.ts';
export type { WidgetData, WidgetRow } from '../../shared/dashboard-definition.ts';
import type { AppDef, EntityDef, Label } from '../../shared/definition.ts';
import type { Sql } from '../db/index.ts';
import { getPublishedApp } from '../modeling/index.ts';
import { AppError, badRequest, forbidden, notFound, type Actor, type AppContext } from '../platform/index.ts';
import { resolveAccess, type Access } from '../records/query/index.ts';
import { compileWidget, widgetRefusal, type GroupMeta } from './compile.ts';

export interface WidgetView extends Widget {
  /** False when the viewer may not read what the widget aggregates; `reason` says why. */
  available: boolean;
  reason?: string;
}
export interface DashboardView extends Omit<DashboardDef, 'widgets'> {
  widgets: WidgetView[];
}

const STATUS_LABELS: Record<string, Label> = {
  draft: { zh: '草稿', en: 'Draft' },
  submitted: { zh: '已提交', en: 'Submitted' },
  cancelled: { zh: '已作废', en: 'Cancelled' },
};
const BOOL_LABELS: Record<string, Label> = { true: { zh: '是', en: 'Yes' }, false: { zh: '否', en: 'No' } };

const parsedCache = new WeakMap<AppDef, DashboardDef[]>();

/** The dashboards of a published definition (validated at publish; re-checked once per definition). */
export function dashboardsOf(app: AppDef): DashboardDef[] {
  const hit = parsedCache.get(app);
  if (hit) return hit;
  const r = checkDashboards(app.dashboards, app);
  if (!r.dashboards) {
    throw new AppError(500, 'invalid-definition', 'The app definition is invalid', `The dashboards of "${app.name}" are not valid; the app's builder must fix and republish them.`, {
      errors: r.problems,
    });
  }
  parsedCache.set(app, r.dashboards);
  return r.dashboards;
}

function accessOf(ctx: AppContext, actor: Actor, app: AppDef): (e: EntityDef) => Access {
  const cache = new Map<string, Access>();
  const opts = { now: () => ctx.clock.now(), timezone: ctx.config.timezone };
  return (e) => {
    let a = cache.get(e.name);
    if (!a) cache.set(e.name, (a = resolveAccess(actor.principal, app, e, 'read', opts)));
    return a;
  };
}

function mayOpen(d: DashboardDef, actor: Actor): boolean {
  const roles = actor.principal.roles;
  return !d.roles || d.roles.includes('*') || roles.includes('admin') || d.roles.some((r) => roles.includes(r));
}

async function publishedApp(sql: Sql, name: string): Promise<AppDef> {
  const pub = await getPublishedApp(sql, name);
  if (!pub) throw notFound(`There is no published app "${name}". Publish it first, or check the name.`);
  return pub.def;
}

/** Dashboards the actor may open, each widget marked available or not (with the reason). */
export async function listDashboards(ctx: AppContext, actor: Actor, appName: string): Promise<{ app: string; timezone: string; dashboards: DashboardView[] }> {
  const app = await publishedApp(ctx.db, appName);
  const access = accessOf(ctx, actor, app);
  const dashboards: DashboardView[] = [];
  for (const d of dashboardsOf(app)) {
    if (!mayOpen(d, actor)) continue;
    const widgets = d.widgets.map((w): WidgetView => {
      const reason = widgetRefusal(app, w, access);
      return reason ? { ...w, available: false, reason } : { ...w, available: true };
    });
    if (widgets.some((w) => w.available)) dashboards.push({ ...d, widgets });
  }
  return { app: app.name, timezone: ctx.config.timezone, dashboards };
}

export interface DataOptions {
  filter?: unknown;
  from?: string;
  to?: string;
}

/** One widget's aggregate under the actor's row scope. */
export async function widgetData(ctx: AppContext, actor: Actor, appName: string, dashboard: string, widgetId: string, opts: DataOptions = {}): Promise<WidgetData> {
  const app = await publishedApp(ctx.db, appName);
  const d = dashboardsOf(app).find((x) => x.name === dashboard);
  if (!d) throw notFound(`The app "${appName}" has no dashboard "${dashboard}".`);
  if (!mayOpen(d, actor)) throw forbidden(`The dashboard "${dashboard}" is for the roles ${d.roles!.join(', ')}; ask an administrator for one of them.`);
  const w = d.widgets.find((x) => x.id === widgetId);
  if (!w) throw notFound(`The dashboard "${dashboard}" has no widget "${widgetId}". Its widgets: ${d.widgets.map((x) => x.id).join(', ')}.`);
  const ctxEval = { userId: actor.principal.userId, departmentIds: actor.principal.departmentIds, now: ctx.clock.now(), timezone: ctx.config.timezone };
  const q = compileWidget({
    app,
    widget: w,
    ctx: ctxEval,
    access: accessOf(ctx, actor, app),
    ...(opts.filter !== undefined ? { extraFilter: opts.filter } : {}),
    ...(opts.from !== undefined ? { from: opts.from } : {}),
    ...(opts.to !== undefined ? { to: opts.to } : {}),
  });
  let rows: Array<Record<string, string | null>>;
  try {
    rows = (await ctx.db.query<Record<string, string | null>>(q.text, q.values)).rows;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code && /^(22|54)/.test(code)) throw badRequest(`A value in the filter cannot be used: ${(err as Error).message}.`, [{ path: 'filter', message: (err as Error).message }]);
    throw err;
  }
  const truncated = rows.length > q.limit;
  if (truncated) rows.length = q.limit;
  const entity = app.entities.find((e) => e.name === w.entity)!;
  const labelOf = (g: GroupMeta, i: number, r: Record<string, string | null>): Label | null => {
    const key = r[`k${i}`] ?? null;
    if (key === null) return null;
    if (g.kind === 'select') return entity.fields.find((f) => f.name === g.field)?.options?.find((o) => o.value === key)?.label ?? null;
    if (g.kind === 'status') return STATUS_LABELS[key] ?? null;
    if (g.kind === 'boolean') return BOOL_LABELS[key] ?? null;
    const zh = r[`lz${i}`];
    if (!zh) return null;
    const en = r[`le${i}`];
    return en ? { zh, en } : { zh };
  };
  return {
    dashboard: d.name,
    widget: w.id,
    kind: w.kind,
    groups: q.groups,
    measures: q.measures.map((m) => ({ id: m.id, op: m.op, ...(m.label ? { label: m.label } : {}) })),
    rows: rows.map((r) => ({
      keys: q.groups.map((_, i) => r[`k${i}`] ?? null),
      labels: q.groups.map((g, i) => labelOf(g, i, r)),
      values: Object.fromEntries(q.measures.map((m, i) => [m.id, r[`m${i}`] ?? null])),
      ...(q.pareto ? { cumulativePercent: r.cum ?? null } : {}),
    })),
    truncated,
    timezone: ctx.config.timezone,
  };
}
