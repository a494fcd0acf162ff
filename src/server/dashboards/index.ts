// Dashboards engine: the `dashboards` section of an app definition, served under the reader's
// row scope. No tables of its own: a dashboard is part of the published definition, and each
// widget is one aggregate SQL statement over the published entity tables.
//
//   GET /api/v1/apps/:app/dashboards                             the dashboards I may open
//   GET /api/v1/apps/:app/dashboards/:name/widgets/:id/data      ?filter=<condition JSON>&from=YYYY-MM-DD&to=YYYY-MM-DD
//
// API keys need records:read. Rationale: docs/decisions/0019-dashboards.md.
import { z } from 'zod';
import { IDENT_RE } from '../../shared/definition.ts';
import type { Engine } from '../engine.ts';
import type { Api } from '../http/app.ts';
import { badRequest, requireActor, type AppContext } from '../platform/index.ts';
import { listDashboards, widgetData } from './service.ts';

export { compileWidget, widgetRefusal, type CompiledWidget, type WidgetRequest, type GroupMeta } from './compile.ts';
export { listDashboards, widgetData, dashboardsOf, type WidgetData, type WidgetRow, type DashboardView, type WidgetView } from './service.ts';

const Name = z.string().min(1).max(60).regex(IDENT_RE, 'a lower-case identifier');
const AppParams = z.object({ app: Name }).strict();
const DataParams = z
  .object({
    app: Name,
    name: Name,
    id: z.string().min(1).max(40).regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'a widget id'),
  })
  .strict();
const DateParam = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date like 2026-05-01');
const DataQuery = z.object({ filter: z.string().max(20_000).optional(), from: DateParam.optional(), to: DateParam.optional() }).strict();

function parseFilter(filter: string | undefined): unknown {
  if (filter === undefined || filter === '') return undefined;
  try {
    return JSON.parse(filter) as unknown;
  } catch {
    throw badRequest('The "filter" query parameter must be a condition as JSON, e.g. {"field":"line","op":"eq","value":"L1"}.', [
      { path: 'query.filter', message: 'is not valid JSON' },
    ]);
  }
}

function dashboardRoutes(api: Api, ctx: AppContext): void {
  const tags = ['dashboards'];
  api.get('/apps/:app/dashboards', { schema: { tags, summary: 'Dashboards of an app that I may open', params: AppParams } }, async (request) => {
    const actor = requireActor(request, { scope: 'records:read' });
    return listDashboards(ctx, actor, request.params.app);
  });
  api.get(
    '/apps/:app/dashboards/:name/widgets/:id/data',
    { schema: { tags, summary: "One widget's aggregated data under my row scope", params: DataParams, querystring: DataQuery } },
    async (request) => {
      const actor = requireActor(request, { scope: 'records:read' });
      const { app, name, id } = request.params;
      const q = request.query;
      return widgetData(ctx, actor, app, name, id, {
        filter: parseFilter(q.filter),
        ...(q.from ? { from: q.from } : {}),
        ...(q.to ? { to: q.to } : {}),
      });
    },
  );
}

export const dashboardsEngine: Engine = {
  name: 'dashboards',
  routes: (api, ctx) => dashboardRoutes(api, ctx),
};
