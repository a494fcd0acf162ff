// Public face of the query layer: the filter language compiler, sorting with keyset paging,
// full-text search, and permissions enforced in SQL. Everything here is pure: it returns SQL
// text plus parameters and never touches the database. Invariant 4 holds throughout: user
// input only ever becomes a parameter (`$n` with an explicit cast); table and column names come
// only from the entity definition and are quoted with `ident()`.
//
// Typical list query in the records service:
//
//   const access = resolveAccess(principal, app, entity, 'read');
//   if (!access.allowed) throw forbidden(access.reason!);
//   const ctx: EvalContext = { userId, departmentIds, now: clock.now(), timezone };
//   const scope: QueryScope = { app, entity, alias: 't', ctx, access: (e) => resolveAccess(principal, app, e, 'read') };
//   const params = new Params();
//   const where = [
//     access.rowFilter(params, 't'),
//     filter ? compileCondition(filter, scope, params) : null,
//     q ? compileSearch(q, scope, params) : null,
//   ];
//   const page = compilePage({ sort, after, limit }, scope, params);
//   where.push(page.where);
//   const sql = `select t.*, ${page.select} from ${ident(entityTable(app.name, entity.name))} t
//     where ${where.filter(Boolean).join(' and ') || 'true'} order by ${page.orderBy} limit ${page.limit + 1}`;
//   const rows = (await db.query(sql, params.values)).rows;
//   const hasMore = rows.length > page.limit; rows.length = Math.min(rows.length, page.limit);
//   const next = hasMore ? page.cursorFor(rows.at(-1)!) : null;   // then drop the `__k*` keys
//
// Semantics (identical in SQL and in the JS evaluator `evaluateCondition`, which is the
// reference; a property test checks both agree):
// - NULL: a comparison against a NULL column is false (eq, lt, lte, gt, gte, like, in, between).
//   `ne` and `nin` are true when the column is NULL (SQL `IS DISTINCT FROM`). `eq null` means
//   "is NULL" and `ne null` means "is not NULL"; other ops refuse a null value. Every compiled
//   leaf is two-valued, so `not` is plain boolean negation.
// - empty / not_empty: empty = NULL, or '' for text, or '{}' for multi_select, or null/[]/{} for
//   JSON fields (attachment, image, signature, geolocation).
// - like: the value is plain text (no wildcards): "contains", case-insensitive for ASCII letters
//   only (A-Z = a-z; other scripts compare exactly, the same on every database locale). `%`, `_`
//   and `\` in the value are escaped and match themselves.
// - Text order (lt/lte/gt/gte/between on text) is by Unicode code point (SQL `COLLATE "C"`).
// - multi_select: `eq` (a string or an array) and `in` mean "contains any of"; `ne`/`nin` are
//   their negations (true when the column is NULL).
// - Decimals compare exactly (as decimal numbers, never floats); integers as 64-bit integers;
//   dates as 'YYYY-MM-DD'; datetimes need an ISO 8601 value with a zone ('2024-05-01T08:00:00+08:00').
// - `$ctx`: { $ctx: 'user' } current user id; 'user_departments' the user's department ids (use
//   with in/nin); 'now' the current instant (on a date field: today's plant date); 'today' the
//   plant-timezone date (on a datetime field: the start of that day in the plant time zone).
// - Paths over links (`supplier.name`, up to 3 hops; user/department fields and created_by,
//   updated_by, owner_department_id continue into users.username/display_name and
//   departments.name/code): true when the linked record exists, the principal may read it, and
//   the condition holds on it. With no linked record every path condition is false, even ne/empty.
// - Limits: at most 50 items per and/or, nesting depth 10, 500 nodes in all → 400.
// - Errors: compileCondition/compileSort/compilePage/compileSearch throw AppError 400 with
//   `errors: [{ path: 'filter.and.1.value', message }]` (every problem at once). The JS side
//   throws ConditionError (same paths); `conditionError(err)` maps it to the 400.
//
// Permissions (permissions.ts): see resolveAccess. A denied Access has rowFilter() === 'false'
// and empty field sets. Role `admin` → everything. API keys: records:read for read/export,
// records:write (covers read) for the rest, or `*`. Entities without permissions: admin only.
// Rationale and the full rule set: docs/decisions/0005-filter-language-and-permissions.md.

export { Params } from './params.ts';
export { compileCondition, conditionError } from './condition.ts';
export { compileSort, compilePage, defaultSort, type SortSpec, type PageRequest, type CompiledPage } from './sort.ts';
export { compileSearch, matchesSearch } from './search.ts';
export { resolveAccess, assertAllowed, assertFieldsWritable, type Access, type ResolveAccessOptions } from './permissions.ts';
export type { EvalContext, EvalScope, LinkTarget, LinkResolver, NormCond } from '../../../shared/condition-eval.ts';
/**
 * evaluateCondition(cond, record, { app, entity, ctx }, resolve?) — the JS reference evaluator
 * (a QueryScope can be passed as the scope). analyzeCondition + evaluateNorm: analyse once,
 * evaluate many records. conditionPaths: the link paths to prefetch for `resolve`.
 */
export { evaluateCondition, analyzeCondition, evaluateNorm, conditionPaths, ConditionError } from '../../../shared/condition-eval.ts';

import type { AppDef, EntityDef } from '../../../shared/definition.ts';
import type { EvalContext } from '../../../shared/condition-eval.ts';
import type { Params } from './params.ts';

/** What a principal may see of an entity; `Access` (from resolveAccess) satisfies it. */
export interface ReadGuard {
  /** Field names (and system columns) the principal may read. */
  readable: ReadonlySet<string>;
  /** Row filter over `alias`; null = every row. Returns 'false' when reading is not allowed. */
  rowFilter(params: Params, alias: string): string | null;
}

/** Where a condition, sort or search is compiled. */
export interface QueryScope {
  app: AppDef;
  entity: EntityDef;
  /** Table alias of the entity's table in the surrounding query, usually `t`. */
  alias: string;
  ctx: EvalContext;
  /**
   * Optional: the reading rights of the principal per entity. When given, conditions and sorts
   * over fields the principal cannot read are refused (400, as an unknown field, so that hidden
   * fields cannot be probed), and paths into linked entities only see linked rows the principal
   * may read (its row filter is added inside the EXISTS).
   */
  access?: (entity: EntityDef) => ReadGuard;
}
