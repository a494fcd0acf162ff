// Permissions, enforced in SQL. `resolveAccess` turns the principal's roles and the entity's
// permission rules into (a) yes/no for an action, (b) a row filter that goes into WHERE, and
// (c) the readable/writable field sets. Rows are never fetched and then filtered in JavaScript.
import { ACTIONS, SYSTEM_COLUMNS, type Action, type AppDef, type EntityDef } from '../../../shared/definition.ts';
import { analyzeCondition, ConditionError, type NormCond } from '../../../shared/condition-eval.ts';
import type { Principal } from '../../platform/context.ts';
import { AppError, forbidden, hasScope } from '../../platform/index.ts';
import { ident } from '../../db/index.ts';
import { checkAlias, compileNorm } from './condition.ts';
import type { Params } from './params.ts';

export interface Access {
  allowed: boolean;
  /**
   * Row filter over `alias` to AND into WHERE (never filter in JavaScript); null = all rows.
   * When `allowed` is false it returns 'false'.
   */
  rowFilter: (params: Params, alias: string) => string | null;
  /** Fields and system columns the principal may read (hidden fields are absent). */
  readable: Set<string>;
  /** Fields the principal may set (never system columns, formula or auto_number fields). */
  writable: Set<string>;
  /** Why not allowed, in words a person can act on. */
  reason?: string;
}

export interface ResolveAccessOptions {
  /** Clock for `$ctx: now/today` in `{filter}` scopes; default the wall clock. */
  now?: () => Date;
  /** Plant time zone for `$ctx: today`; default Asia/Shanghai. */
  timezone?: string;
}

const RIGHT_RANK = { hidden: 0, read: 1, write: 2 } as const;
type Right = keyof typeof RIGHT_RANK;
const READ_ACTIONS: ReadonlySet<Action> = new Set(['read', 'export']);
/** System columns a reader sees (search_text is an internal index column). */
const SYSTEM_READABLE = SYSTEM_COLUMNS.filter((c) => c !== 'search_text');

function entityWords(entity: EntityDef): string {
  return `${entity.label.zh} (${entity.name})`;
}

function denied(reason: string): Access {
  return { allowed: false, rowFilter: () => 'false', readable: new Set(), writable: new Set(), reason };
}

/** Fields that users may set: computed ones (formula, auto_number) are the engine's. */
function settable(entity: EntityDef): string[] {
  return entity.fields.filter((f) => f.type !== 'formula' && f.type !== 'auto_number').map((f) => f.name);
}

/**
 * What `principal` may do with `entity` for `action`. Role `admin`: everything. Otherwise the
 * entity's permissions whose role is one of the principal's roles (or `*`) and which list the
 * action are OR-ed: union of row scopes, most permissive field right. API keys (scopes not null)
 * need `records:read` (read, export) or `records:write` (other actions; it also covers read), or
 * `*`; within its scopes a key has its user's roles (an admin's key sees every row).
 * An entity without permissions is admin-only.
 */
export function resolveAccess(principal: Principal, app: AppDef, entity: EntityDef, action: Action, opts: ResolveAccessOptions = {}): Access {
  if (!ACTIONS.includes(action)) throw new Error(`resolveAccess: unknown action ${JSON.stringify(action)}`);
  if (principal.scopes !== null) {
    const need = READ_ACTIONS.has(action) ? 'records:read' : 'records:write';
    // the platform's rule: `*` covers everything, `records:write` covers `records:read`
    if (!hasScope(principal, need))
      return denied(`This API key does not have the scope "${need}", which is needed to ${action} ${entityWords(entity)}. Use a key with that scope.`);
  }
  if (principal.roles.includes('admin')) {
    return {
      allowed: true,
      rowFilter: () => null,
      readable: new Set([...entity.fields.map((f) => f.name), ...SYSTEM_READABLE]),
      writable: new Set(settable(entity)),
    };
  }
  const all = entity.permissions ?? [];
  const matching = all
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => (p.role === '*' || principal.roles.includes(p.role)) && p.actions.includes(action));
  if (matching.length === 0) {
    if (all.length === 0)
      return denied(`${entityWords(entity)} has no permissions defined yet, so only administrators can use it. Ask the app's builder to add permissions.`);
    const roles = principal.roles.length ? principal.roles.join(', ') : 'none';
    return denied(`None of your roles (${roles}) may ${action} ${entityWords(entity)}. Ask an administrator for access.`);
  }

  // field rights: most permissive wins
  const best = new Map<string, Right>();
  for (const { p } of matching) {
    const grantsWrite = p.actions.includes('write') || p.actions.includes('create');
    for (const f of entity.fields) {
      let r: Right = p.fields?.[f.name] ?? (grantsWrite ? 'write' : 'read');
      if (r === 'write' && !grantsWrite) r = 'read';
      const prev = best.get(f.name);
      if (prev === undefined || RIGHT_RANK[r] > RIGHT_RANK[prev]) best.set(f.name, r);
    }
  }
  const readable = new Set<string>(SYSTEM_READABLE);
  for (const [f, r] of best) if (r !== 'hidden') readable.add(f);
  const canSet = new Set(settable(entity));
  const writable = new Set([...best].filter(([f, r]) => r === 'write' && canSet.has(f)).map(([f]) => f));

  // row scopes: union
  const now = opts.now?.() ?? new Date();
  const ctx = { userId: principal.userId, departmentIds: principal.departmentIds, now, timezone: opts.timezone ?? 'Asia/Shanghai' };
  const scopes: Array<'own' | 'own_department' | 'department_subtree'> = [];
  const filters: NormCond[] = [];
  let everything = false;
  for (const { p, i } of matching) {
    const s = p.scope ?? 'all';
    if (s === 'all') everything = true;
    else if (typeof s === 'string') {
      if (!scopes.includes(s)) scopes.push(s);
    } else {
      try {
        filters.push(analyzeCondition(s.filter, { app, entity, ctx }, { path: `${entity.name}.permissions.${i}.scope.filter` }));
      } catch (err) {
        if (err instanceof ConditionError)
          throw new AppError(500, 'invalid-definition', 'The app definition is invalid', `A row filter of ${entityWords(entity)} is not valid; the app's builder must fix it.`, {
            errors: err.errors,
          });
        throw err;
      }
    }
  }
  const rowFilter = (params: Params, alias: string): string | null => {
    if (everything) return null;
    const a = checkAlias(alias);
    const parts: string[] = [];
    for (const s of scopes) {
      if (s === 'own') parts.push(`${a}.${ident('created_by')} = ${params.add(principal.userId)}::uuid`);
      else if (s === 'own_department') parts.push(`${a}.${ident('owner_department_id')} = any(${params.add(principal.departmentIds)}::uuid[])`);
      else if (s === 'department_subtree')
        parts.push(
          `${a}.${ident('owner_department_id')} in (select dc.descendant_id from department_closure dc where dc.ancestor_id = any(${params.add(principal.departmentIds)}::uuid[]))`,
        );
    }
    for (const f of filters) parts.push(compileNorm(f, { app, entity, alias: a, ctx }, params, a));
    if (parts.length === 0) return 'false';
    return parts.length === 1 ? parts[0]! : `(${parts.join(' or ')})`;
  };
  return { allowed: true, rowFilter, readable, writable };
}

/** Throws 403 with `access.reason` when not allowed. */
export function assertAllowed(access: Access): void {
  if (!access.allowed) throw forbidden(access.reason ?? 'You are not allowed to do this.');
}

/** Throws 403 naming the fields of `changedFieldNames` the principal may not write. */
export function assertFieldsWritable(access: Access, changedFieldNames: Iterable<string>): void {
  assertAllowed(access);
  const refused = [...new Set(changedFieldNames)].filter((f) => !access.writable.has(f)).sort();
  if (refused.length === 0) return;
  throw new AppError(
    403,
    'field-not-writable',
    'Not allowed',
    `You may not change ${refused.length === 1 ? 'the field' : 'the fields'} ${refused.map((f) => `"${f}"`).join(', ')}. Leave ${refused.length === 1 ? 'it' : 'them'} out of the request or ask an administrator for write access.`,
    { errors: refused.map((f) => ({ path: f, message: 'you may not change this field' })), extra: { fields: refused } },
  );
}
