// Condition → parameterised SQL. The shared analyser (src/shared/condition-eval.ts) checks the
// condition against the definition and types every value; this file only prints SQL for the
// normalised tree. Column names come from the definition (via ident()), values are parameters
// with explicit casts, and every leaf is two-valued (never NULL) so `not` is plain negation.
import { entityTable, type Condition } from '../../../shared/definition.ts';
import {
  analyzeCondition,
  ConditionError,
  SQL_TYPE,
  type ColumnInfo,
  type Kind,
  type LinkTarget,
  type Lit,
  type NormCond,
} from '../../../shared/condition-eval.ts';
import { ident } from '../../db/index.ts';
import { validationFailed, type AppError } from '../../platform/errors.ts';
import type { QueryScope, ReadGuard } from './index.ts';
import type { Params } from './params.ts';

const ALIAS_RE = /^[a-z_][a-z0-9_]{0,40}$/;

/** Checks a table alias handed in by code (never user text). */
export function checkAlias(alias: string): string {
  if (!ALIAS_RE.test(alias)) throw new Error(`Refusing unsafe SQL alias: ${JSON.stringify(alias)}`);
  return alias;
}

/** ConditionError (from the shared analyser) → 400 problem; anything else unchanged. */
export function conditionError(err: unknown): AppError | unknown {
  if (err instanceof ConditionError) {
    const first = err.errors[0];
    const detail =
      err.errors.length === 1 && first ? `The filter is not valid at ${first.path}: ${first.message}.` : `The filter has ${err.errors.length} problems; see "errors".`;
    return validationFailed(detail, err.errors);
  }
  return err;
}

/** A read guard per linked target (users/departments are not guarded: only names and codes are reachable). */
function guardFor(scope: QueryScope, target: LinkTarget): ReadGuard | null {
  return scope.access && target.kind === 'entity' ? scope.access(target.entity) : null;
}

/**
 * Compiles a condition into a boolean SQL expression over `scope.alias`. Values become
 * parameters in `params` with explicit casts. Throws AppError 400 (validation-failed) naming the
 * exact place (`filter.and.1.value`) when the condition is malformed, names an unknown (or
 * unreadable) field, uses an op that does not fit the field type, or a value of the wrong type.
 * `path` is the prefix of those error paths (default `filter`).
 */
export function compileCondition(cond: Condition | unknown, scope: QueryScope, params: Params, path = 'filter'): string {
  checkAlias(scope.alias);
  let norm: NormCond;
  try {
    norm = analyzeCondition(cond, scope, {
      path,
      canRead: scope.access ? (target, column) => (target.kind === 'entity' ? scope.access!(target.entity).readable.has(column) : true) : undefined,
    });
  } catch (err) {
    throw conditionError(err);
  }
  return compileNorm(norm, scope, params, scope.alias);
}

/** Prints an analysed condition over `alias`. */
export function compileNorm(n: NormCond, scope: QueryScope, params: Params, alias: string): string {
  let sub = 0;
  const go = (n: NormCond, alias: string): string => {
    switch (n.t) {
      case 'and':
      case 'or':
        return n.items.length === 1 ? go(n.items[0]!, alias) : `(${n.items.map((x) => go(x, alias)).join(n.t === 'and' ? ' and ' : ' or ')})`;
      case 'not':
        return `(not ${go(n.item, alias)})`;
      case 'path': {
        // nested aliases extend the parent's, so they never shadow an alias still referenced
        const inner = `${alias}_l${++sub}`;
        const table = n.target.kind === 'entity' ? entityTable(scope.app.name, n.target.entity.name) : n.target.kind;
        const guard = guardFor(scope, n.target);
        const rows = guard ? guard.rowFilter(params, inner) : null;
        const parts = [`${inner}.id = ${alias}.${ident(n.via.name)}`, ...(rows ? [`(${rows})`] : []), go(n.inner, inner)];
        return `exists (select 1 from ${ident(table)} ${inner} where ${parts.join(' and ')})`;
      }
      case 'leaf':
        return leafSql(n.col, n.op, n.value, alias, params);
    }
  };
  return go(n, checkAlias(alias));
}

/** A literal as a driver parameter: bigints as text, datetimes as ISO text. */
export function toParam(kind: Kind, v: Lit): string | boolean {
  if (kind === 'datetime') return new Date(v as number).toISOString();
  if (typeof v === 'boolean') return v;
  return String(v);
}

/** Escapes LIKE metacharacters (`\`, `%`, `_`) so the text matches itself (default escape `\`). */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function leafSql(col: ColumnInfo, op: string, value: unknown, alias: string, params: Params): string {
  const c = `${alias}.${ident(col.name)}`;
  const kind = col.kind;
  const type = SQL_TYPE[kind];
  // text order and pattern matching by code point and ASCII-only case folding, on every locale
  const cc = kind === 'text' ? `(${c} collate "C")` : c;
  const one = (v: unknown) => `${params.add(toParam(kind, v as Lit))}::${type}`;
  const many = (vs: unknown) => `${params.add((vs as Lit[]).map((v) => toParam(kind, v)))}::${kind === 'multi' ? 'text[]' : `${type}[]`}`;
  const empty = () => {
    if (kind === 'text') return `(${c} is null or ${c} = '')`;
    if (kind === 'multi') return `(${c} is null or cardinality(${c}) = 0)`;
    if (kind === 'json') return `(${c} is null or ${c} in ('null'::jsonb, '[]'::jsonb, '{}'::jsonb))`;
    return `(${c} is null)`;
  };
  if (op === 'empty') return empty();
  if (op === 'not_empty') return `(not ${empty()})`;
  if ((op === 'eq' || op === 'ne') && value === null) return op === 'eq' ? `(${c} is null)` : `(${c} is not null)`;
  if (kind === 'multi') {
    const any = `${c} && ${many(value)}`;
    return op === 'eq' || op === 'in' ? `(${c} is not null and ${any})` : `(${c} is null or not (${any}))`;
  }
  switch (op) {
    case 'eq':
      return `(${c} is not null and ${c} = ${one(value)})`;
    case 'ne':
      return `(${c} is null or ${c} <> ${one(value)})`;
    case 'lt':
      return `(${c} is not null and ${cc} < ${one(value)})`;
    case 'lte':
      return `(${c} is not null and ${cc} <= ${one(value)})`;
    case 'gt':
      return `(${c} is not null and ${cc} > ${one(value)})`;
    case 'gte':
      return `(${c} is not null and ${cc} >= ${one(value)})`;
    case 'like':
      return `(${c} is not null and ${cc} ilike ${params.add(`%${escapeLike(value as string)}%`)}::text)`;
    case 'in':
      return `(${c} is not null and ${c} = any(${many(value)}))`;
    case 'nin':
      return `(${c} is null or not (${c} = any(${many(value)})))`;
    case 'between': {
      const [lo, hi] = value as [Lit, Lit];
      return `(${c} is not null and ${cc} between ${one(lo)} and ${one(hi)})`;
    }
  }
  throw new Error(`unhandled op ${op}`);
}
