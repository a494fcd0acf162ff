// Saved list views: a person's named filter + sort + columns + search for one entity, kept on the
// server so they follow the person from the office PC to the phone.
//
//   GET    /api/v1/views?app=&entity=     my views of that list
//   PUT    /api/v1/views                  {app, entity, name, config} → create or replace by name
//   DELETE /api/v1/views/:id              remove one of mine
import { z } from 'zod';
import type { Engine } from '../engine.ts';
import type { Migration } from '../db/index.ts';
import type { Api } from '../http/app.ts';
import { Condition, IDENT_RE } from '../../shared/definition.ts';
import { notFound, registerScopes, requireActor, type AppContext } from '../platform/index.ts';

registerScopes('views:read', 'views:write');

const migrations: Migration[] = [
  {
    id: 'views.001-saved-views',
    up: `
create table saved_views (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  app text not null,
  entity text not null,
  name text not null,
  config jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (user_id, app, entity, name)
);
`,
  },
];

const Ident = z.string().min(1).max(60).regex(IDENT_RE, 'a lower-case identifier');
export const ViewConfig = z
  .object({
    filter: Condition.optional(),
    sort: z.array(z.object({ field: z.string().min(1).max(60), dir: z.enum(['asc', 'desc']) }).strict()).max(5).optional(),
    columns: z.array(z.string().min(1).max(60)).max(100).optional(),
    q: z.string().max(400).optional(),
  })
  .strict();
const PutBody = z.object({ app: Ident, entity: Ident, name: z.string().trim().min(1, 'give the view a name').max(60), config: ViewConfig }).strict();
const ListQuery = z.object({ app: Ident, entity: Ident }).strict();
const IdParams = z.object({ id: z.string().uuid('must be a view id (UUID)') }).strict();

interface Row {
  id: string;
  app: string;
  entity: string;
  name: string;
  config: unknown;
  updated_at: Date;
}
const view = (r: Row) => ({ id: r.id, app: r.app, entity: r.entity, name: r.name, config: r.config, updatedAt: new Date(r.updated_at).toISOString() });

function viewsRoutes(api: Api, ctx: AppContext): void {
  const tags = ['views'];
  api.get('/views', { schema: { tags, summary: 'My saved views of a list', querystring: ListQuery } }, async (request) => {
    const actor = requireActor(request, { scope: 'views:read' });
    const r = await ctx.db.query<Row>('select * from saved_views where user_id = $1 and app = $2 and entity = $3 order by name', [
      actor.principal.userId,
      request.query.app,
      request.query.entity,
    ]);
    return { items: r.rows.map(view) };
  });

  api.put('/views', { schema: { tags, summary: 'Save a view (replaces my view of the same name)', body: PutBody } }, async (request) => {
    const actor = requireActor(request, { scope: 'views:write' });
    const b = request.body;
    const r = await ctx.db.query<Row>(
      `insert into saved_views (user_id, app, entity, name, config, updated_at) values ($1, $2, $3, $4, $5, $6)
       on conflict (user_id, app, entity, name) do update set config = excluded.config, updated_at = excluded.updated_at
       returning *`,
      [actor.principal.userId, b.app, b.entity, b.name, JSON.stringify(b.config), ctx.clock.now()],
    );
    return view(r.rows[0]!);
  });

  api.delete('/views/:id', { schema: { tags, summary: 'Delete one of my saved views', params: IdParams } }, async (request, reply) => {
    const actor = requireActor(request, { scope: 'views:write' });
    const r = await ctx.db.query('delete from saved_views where id = $1 and user_id = $2', [request.params.id, actor.principal.userId]);
    if (r.rowCount === 0) throw notFound('You have no saved view with this id.');
    return reply.code(204).send();
  });
}

export const viewsEngine: Engine = { name: 'views', migrations, routes: viewsRoutes };
