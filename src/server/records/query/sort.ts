// Sorting and keyset paging. Both directions put NULLs last; `id` is always the final
// tie-breaker, so the order is total and a cursor (the last row's sort values) says exactly
// where the next page starts, whatever was inserted or deleted meanwhile.
import type { EntityDef } from '../../../shared/definition.ts';
import { canonDecimal, lookupColumn, parseDate, parseInteger, SQL_TYPE, UUID_RE, type ColumnInfo } from '../../../shared/condition-eval.ts';
import { ident } from '../../db/index.ts';
import { badRequest, validationFailed, type ProblemField } from '../../platform/errors.ts';
import { checkAlias } from './condition.ts';
import type { QueryScope } from './index.ts';
import type { Params } from './params.ts';

export interface SortSpec {
  field: string;
  dir: 'asc' | 'desc';
}

export interface PageRequest {
  sort: SortSpec[];
  /** Cursor returned by `cursorFor` of the previous page; absent for the first page. */
  after?: string | null | undefined;
  /** Rows per page, 1..1000 (default 50). */
  limit?: number | undefined;
}

export interface CompiledPage {
  /** ORDER BY body, e.g. `t."qty" desc nulls last, t."id" asc nulls last`. */
  orderBy: string;
  /** Keyset predicate for `after` (rows strictly after the cursor), or null on the first page. */
  where: string | null;
  /** The validated page size: query `limit + 1` rows to know whether there is a next page. */
  limit: number;
  /** Extra select-list items (`t."qty"::text as "__k0", ...`) the cursor is built from. */
  select: string;
  /** Keys that `select` adds to each row; remove them before returning rows. */
  cursorKeys: string[];
  /** Opaque cursor (base64url JSON) of a row that was selected with `select`. */
  cursorFor(row: Record<string, unknown>): string;
}

export const MAX_SORT_KEYS = 5;
export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 50;
const SORTABLE = new Set(['text', 'integer', 'decimal', 'date', 'datetime', 'boolean', 'uuid']);

interface Key {
  col: ColumnInfo;
  dir: 'asc' | 'desc';
}

function sortKeys(sort: unknown, scope: QueryScope): Key[] {
  const errors: ProblemField[] = [];
  if (!Array.isArray(sort)) throw validationFailed('The sort is not valid.', [{ path: 'sort', message: 'expected a list like [{"field": "created_at", "dir": "desc"}]' }]);
  if (sort.length > MAX_SORT_KEYS) throw validationFailed('The sort is not valid.', [{ path: 'sort', message: `sort by at most ${MAX_SORT_KEYS} fields` }]);
  const keys: Key[] = [];
  const seen = new Set<string>();
  const readable = scope.access?.(scope.entity).readable;
  sort.forEach((s: unknown, i) => {
    const o = (typeof s === 'object' && s !== null ? s : {}) as Record<string, unknown>;
    const name = o.field;
    const col = typeof name === 'string' && name !== 'search_text' ? lookupColumn(scope.app, { kind: 'entity', entity: scope.entity }, name) : null;
    if (!col || (readable && !readable.has(col.name))) {
      errors.push({ path: `sort.${i}.field`, message: `unknown field ${JSON.stringify(name)}; sort by a field of ${scope.entity.name} or a system column like created_at` });
      return;
    }
    if (!SORTABLE.has(col.kind)) {
      errors.push({ path: `sort.${i}.field`, message: `"${col.label}" cannot be sorted (multi-select and JSON fields have no order)` });
      return;
    }
    if (seen.has(col.name)) {
      errors.push({ path: `sort.${i}.field`, message: `"${col.name}" is already in the sort` });
      return;
    }
    seen.add(col.name);
    const dir = o.dir ?? 'asc';
    if (dir !== 'asc' && dir !== 'desc') {
      errors.push({ path: `sort.${i}.dir`, message: 'must be "asc" or "desc"' });
      return;
    }
    const extra = Object.keys(o).filter((k) => k !== 'field' && k !== 'dir');
    if (extra.length) errors.push({ path: `sort.${i}.${extra[0]}`, message: 'a sort key has only "field" and "dir"' });
    keys.push({ col, dir });
  });
  if (errors.length) throw validationFailed(errors.length === 1 ? `The sort is not valid: ${errors[0]!.message}.` : 'The sort is not valid.', errors);
  // The tie-breaker runs in the direction of the last key, so (created_at desc, id desc) is one
  // backward scan of the (created_at, id) index instead of a sort of every matching row.
  if (!seen.has('id')) keys.push({ col: { name: 'id', kind: 'uuid', label: 'id' }, dir: keys.at(-1)?.dir ?? 'asc' });
  return keys;
}

/**
 * ORDER BY body for `sort` over own columns of the entity (fields and system columns; not
 * multi_select/JSON/child tables). Ascending and descending both put NULLs last; `id` is
 * appended as tie-breaker. Unknown or unreadable field, bad dir, more than 5 keys → 400.
 */
export function compileSort(sort: SortSpec[], scope: QueryScope): string {
  const alias = checkAlias(scope.alias);
  return orderBy(sortKeys(sort, scope), alias);
}

/**
 * System columns declared NOT NULL in every entity table. Their ORDER BY carries no NULLS clause
 * (for PostgreSQL, `desc nulls last` does not match a plain btree index even on a column that
 * has no NULLs) and their keyset bound is a plain range the index can seek to.
 */
const NOT_NULL = new Set(['id', 'status', 'version', 'created_at', 'updated_at']);

function orderBy(keys: Key[], alias: string): string {
  return keys.map((k) => `${alias}.${ident(k.col.name)} ${k.dir}${NOT_NULL.has(k.col.name) ? '' : ' nulls last'}`).join(', ');
}

/** Sort + keyset page. A malformed, tampered or foreign (other sort) cursor → 400. */
export function compilePage(req: PageRequest, scope: QueryScope, params: Params): CompiledPage {
  const alias = checkAlias(scope.alias);
  const keys = sortKeys(req.sort, scope);
  const limit = req.limit ?? DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
    throw validationFailed(`The page size must be a whole number from 1 to ${MAX_PAGE}.`, [{ path: 'limit', message: `must be 1..${MAX_PAGE}` }]);
  const signature = `${scope.entity.name}:${keys.map((k) => `${k.col.name}.${k.dir}`).join(',')}`;
  const cursorKeys = keys.map((_, i) => `__k${i}`);
  const select = keys
    .map((k, i) => {
      const c = `${alias}.${ident(k.col.name)}`;
      // datetimes keep their microseconds: a JS Date would cut them and repeat or skip rows
      const expr = k.col.kind === 'datetime' ? `to_char(${c} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` : `${c}::text`;
      return `${expr} as ${ident(cursorKeys[i]!)}`;
    })
    .join(', ');
  let where: string | null = null;
  if (req.after !== undefined && req.after !== null) {
    const values = decodeCursor(req.after, signature, keys);
    where = keyset(keys, values, alias, params);
  }
  return {
    orderBy: orderBy(keys, alias),
    where,
    limit,
    select,
    cursorKeys,
    cursorFor(row) {
      const k = cursorKeys.map((name) => {
        const v = row[name];
        if (v !== null && typeof v !== 'string') throw new Error(`cursorFor: the row lacks ${name}; select page.select with the rows`);
        return v;
      });
      return Buffer.from(JSON.stringify({ s: signature, k }), 'utf8').toString('base64url');
    },
  };
}

function badCursor(why: string): never {
  throw badRequest(`The paging cursor is not valid (${why}). Start again from the first page, without "after".`, [{ path: 'after', message: why }]);
}

const CURSOR_DATETIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

function decodeCursor(after: unknown, signature: string, keys: Key[]): Array<string | null> {
  if (typeof after !== 'string' || after.length > 20_000 || !/^[A-Za-z0-9_-]+$/.test(after)) badCursor('not a cursor returned by this list');
  let obj: unknown;
  try {
    obj = JSON.parse(Buffer.from(after, 'base64url').toString('utf8'));
  } catch {
    badCursor('not a cursor returned by this list');
  }
  const o = obj as { s?: unknown; k?: unknown };
  if (typeof o !== 'object' || o === null || typeof o.s !== 'string' || !Array.isArray(o.k)) badCursor('not a cursor returned by this list');
  if (o.s !== signature) badCursor('it belongs to a different sort order or list');
  if (o.k.length !== keys.length) badCursor('wrong number of values');
  return keys.map((key, i) => {
    const v: unknown = (o.k as unknown[])[i];
    if (v === null) {
      if (key.col.name === 'id') badCursor('missing id');
      return null;
    }
    if (typeof v !== 'string') badCursor(`value ${i + 1} is not valid`);
    let ok: boolean;
    switch (key.col.kind) {
      case 'text':
        ok = v.length <= 100_000 && v.isWellFormed() && !v.includes('\u0000');
        break;
      case 'integer':
        ok = parseInteger(v) !== null;
        break;
      case 'decimal':
        ok = canonDecimal(v) !== null;
        break;
      case 'date':
        ok = parseDate(v) !== null;
        break;
      case 'datetime':
        ok = CURSOR_DATETIME_RE.test(v) && !Number.isNaN(Date.parse(v));
        break;
      case 'boolean':
        ok = v === 'true' || v === 'false';
        break;
      case 'uuid':
        ok = UUID_RE.test(v);
        break;
      default:
        ok = false;
    }
    if (!ok) badCursor(`value ${i + 1} is not valid`);
    return v;
  });
}

/** Rows strictly after the cursor in the order (NULLS LAST in both directions). */
function keyset(keys: Key[], values: Array<string | null>, alias: string, params: Params): string {
  let rest: string | null = null; // null = false
  let bound: string | null = null; // a seekable range on the first key, when it cannot be NULL
  for (let i = keys.length - 1; i >= 0; i--) {
    const k = keys[i]!;
    const c = `${alias}.${ident(k.col.name)}`;
    const v = values[i];
    if (v === null || v === undefined) {
      // NULLs come last: after a NULL only NULLs with a later tie-breaker
      rest = rest === null ? null : `(${c} is null and ${rest})`;
      continue;
    }
    const p = `${params.add(v)}::${SQL_TYPE[k.col.kind]}`;
    const op = k.dir === 'asc' ? '>' : '<';
    const parts = [`${c} ${op} ${p}`];
    if (!NOT_NULL.has(k.col.name)) parts.push(`${c} is null`);
    if (rest !== null) parts.push(`(${c} = ${p} and ${rest})`);
    rest = `(${parts.join(' or ')})`;
    bound = i === 0 && NOT_NULL.has(k.col.name) ? `${c} ${op}= ${p}` : null;
  }
  if (rest === null) return 'false';
  return bound ? `${bound} and ${rest}` : rest;
}

/** The entity's list-view sort, or newest first. */
export function defaultSort(entity: EntityDef): SortSpec[] {
  return entity.listView?.sort ? [entity.listView.sort] : [{ field: 'created_at', dir: 'desc' }];
}
