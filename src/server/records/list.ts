// Listing records: filter (condition AST), sort, keyset paging, full-text search, and the row
// scope of the reader, all in one parameterised SQL statement (records/query compiles them).
import { ident, type Sql } from '../db/index.ts';
import type { Actor, AppContext } from '../platform/index.ts';
import { badRequest, forbidden } from '../platform/index.ts';
import { accessFor } from './access.ts';
import { compileCondition, compilePage, compileSearch, conditionError, defaultSort, Params, resolveAccess, type QueryScope } from './query/index.ts';
import { loadEntity } from './schema.ts';
import { evalContext } from './service.ts';
import { rowToRecord } from './store.ts';
import type { ListOptions, ListResult } from './types.ts';

export const MAX_LIMIT = 200;
export const DEFAULT_LIMIT = 50;

export async function listRecordsInTx(sql: Sql, ctx: AppContext, actor: Actor, app: string, entity: string, opts: ListOptions = {}): Promise<ListResult> {
  const schema = await loadEntity(sql, app, entity);
  const access = accessFor(ctx, actor, schema, 'read');
  if (!access.allowed) throw forbidden(access.reason ?? `You may not read ${entity} records.`);
  const limit = opts.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw badRequest(`"limit" must be a whole number from 1 to ${MAX_LIMIT}.`, [{ path: 'limit', message: `must be 1..${MAX_LIMIT}` }]);
  }
  let only: Set<string> | undefined;
  if (opts.fields) {
    const bad = opts.fields.filter((f) => !schema.fields.has(f) || !access.readable.has(f));
    if (bad.length) {
      throw badRequest(`Unknown fields in "fields": ${bad.map((b) => JSON.stringify(b.slice(0, 60))).join(', ')}.`, bad.map((b) => ({ path: 'fields', message: `no readable field "${b.slice(0, 60)}"` })));
    }
    only = new Set(opts.fields);
  }
  const resolveOpts = { now: () => ctx.clock.now(), timezone: ctx.config.timezone };
  const scope: QueryScope = {
    app: schema.app,
    entity: schema.entity,
    alias: 't',
    ctx: evalContext(ctx, actor),
    access: (e) => resolveAccess(actor.principal, schema.app, e, 'read', resolveOpts),
  };
  const params = new Params();
  const where: Array<string | null> = [];
  let page;
  try {
    where.push(access.rowFilter(params, 't'));
    if (opts.filter !== undefined && opts.filter !== null) where.push(compileCondition(opts.filter, scope, params));
    if (opts.q) where.push(compileSearch(opts.q, scope, params));
    page = compilePage({ sort: opts.sort?.length ? opts.sort : defaultSort(schema.entity), after: opts.after ?? null, limit }, scope, params);
  } catch (err) {
    throw conditionError(err);
  }
  where.push(page.where);
  const cond = where.filter((w): w is string => !!w).map((w) => `(${w})`);
  const text = `select t.*${page.select ? `, ${page.select}` : ''} from ${ident(schema.table)} t
    where ${cond.join(' and ') || 'true'} order by ${page.orderBy} limit ${page.limit + 1}`;
  let rows: Array<Record<string, unknown>>;
  try {
    rows = (await sql.query(text, params.values)).rows;
  } catch (err) {
    const code = (err as { code?: string }).code;
    // A value the database could not read (a NUL byte, an out-of-range number): the caller's input.
    if (code && /^(22|54)/.test(code)) {
      throw badRequest(`A value in the filter or search cannot be used: ${(err as Error).message}.`, [{ path: 'filter', message: (err as Error).message }]);
    }
    throw err;
  }
  const hasMore = rows.length > page.limit;
  if (hasMore) rows.length = page.limit;
  const nextCursor = hasMore ? page.cursorFor(rows.at(-1)!) : null;
  return { items: rows.map((r) => rowToRecord(schema, r, access.readable, only)), nextCursor };
}

export function listRecords(ctx: AppContext, actor: Actor, app: string, entity: string, opts: ListOptions = {}): Promise<ListResult> {
  return listRecordsInTx(ctx.db, ctx, actor, app, entity, opts);
}
