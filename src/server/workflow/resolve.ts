// Who approves: approver sources resolved against the organisation tables (users.manager_id,
// departments.parent_id/head_user_id, user_roles, user_departments, department_closure).
import type { Sql } from '../db/index.ts';
import { getDepartmentHead, getManagerChain, usersWithRole as orgUsersWithRole } from '../platform/org/index.ts';
import type { ApproverSource, Sla } from '../../shared/workflow-definition.ts';
import type { EntityDef } from '../../shared/definition.ts';
import { getDocumentLoader } from './hooks.ts';

export interface ResolveContext {
  initiatorId: string;
  initiatorDepartmentId: string | null;
  record: Record<string, unknown>;
  /** Initiator's choices at submit time, by node id. */
  picks: Record<string, string[]>;
  nodeId: string;
  /** The document's app and entity and the app's entities: needed to follow link paths (`process_category.supervisor`). */
  app?: string;
  entity?: string;
  entities?: readonly EntityDef[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function usersByName(sql: Sql, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const r = await sql.query<{ id: string; username: string }>(
    'select id, username from users where username = any($1::text[]) and active',
    [names.map((n) => n.toLowerCase())],
  );
  const byName = new Map(r.rows.map((x) => [x.username, x.id]));
  return names.flatMap((n) => byName.get(n.toLowerCase()) ?? []);
}

/** Keeps only active people, in the given order. */
async function activeUsers(sql: Sql, ids: string[]): Promise<string[]> {
  const valid = ids.filter((x) => UUID.test(x));
  if (valid.length === 0) return [];
  const r = await sql.query<{ id: string }>(`select id from users where id = any($1::uuid[]) and active and kind = 'person'`, [valid]);
  const ok = new Set(r.rows.map((x) => x.id));
  return valid.filter((x) => ok.has(x));
}

export async function departmentHead(sql: Sql, departmentId: string, levelsUp: number): Promise<string | null> {
  return (await getDepartmentHead(sql, departmentId, levelsUp))?.id ?? null;
}

/** Active managers above a user, nearest first, with their titles (for "up to the title ..."). */
export async function managerChain(sql: Sql, userId: string, maxLevels = 20): Promise<Array<{ id: string; title: string | null; position: string | null }>> {
  const chain = (await getManagerChain(sql, userId, maxLevels)).filter((m) => m.active);
  if (chain.length === 0) return [];
  const r = await sql.query<{ id: string; title: string | null; position: string | null }>(
    'select u.id, u.title, p.code as position from users u left join positions p on p.id = u.position_id where u.id = any($1::uuid[])',
    [chain.map((m) => m.id)],
  );
  const info = new Map(r.rows.map((x) => [x.id, x]));
  return chain.map((m) => ({ id: m.id, title: info.get(m.id)?.title ?? null, position: info.get(m.id)?.position ?? null }));
}

export async function managerOf(sql: Sql, userId: string): Promise<string | null> {
  return (await managerChain(sql, userId, 5))[0]?.id ?? null;
}

export async function usersWithRole(sql: Sql, role: string, departmentId?: string | null, subtree = false): Promise<string[]> {
  if (departmentId === undefined) return (await orgUsersWithRole(sql, role)).map((u) => u.id);
  if (departmentId === null) return [];
  if (subtree) return (await orgUsersWithRole(sql, role, departmentId)).map((u) => u.id);
  const r = await sql.query<{ id: string }>(
    `select u.id from users u join user_roles ur on ur.user_id = u.id join roles r on r.id = ur.role_id
      where r.code = $1 and u.active and u.kind = 'person'
        and exists (select 1 from user_departments ud where ud.user_id = u.id and ud.department_id = $2)
      order by u.username`,
    [role, departmentId],
  );
  return r.rows.map((x) => x.id);
}

export async function primaryDepartment(sql: Sql, userId: string): Promise<string | null> {
  const r = await sql.query<{ department_id: string }>(
    'select department_id from user_departments where user_id = $1 order by is_primary desc, department_id limit 1',
    [userId],
  );
  return r.rows[0]?.department_id ?? null;
}

/** Administrators, for the "no approver found → admin" rule. */
export async function admins(sql: Sql): Promise<string[]> {
  const byRole = await usersWithRole(sql, 'admin');
  if (byRole.length) return byRole;
  return usersByName(sql, ['admin']);
}

async function fromField(sql: Sql, value: unknown): Promise<string[]> {
  const values = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string' && v.length > 0);
  const out: string[] = [];
  for (const v of values) {
    if (!UUID.test(v)) {
      out.push(...(await usersByName(sql, [v])));
      continue;
    }
    const isUser = await sql.query('select 1 from users where id = $1', [v]);
    if (isUser.rows.length > 0) out.push(v);
    else {
      const head = await departmentHead(sql, v, 0);
      if (head) out.push(head);
    }
  }
  return out;
}

export async function resolveSource(sql: Sql, s: ApproverSource, rc: ResolveContext): Promise<string[]> {
  switch (s.kind) {
    case 'users':
      return usersByName(sql, s.users);
    case 'role':
      if (!s.scope || s.scope === 'all') return usersWithRole(sql, s.role);
      return usersWithRole(sql, s.role, rc.initiatorDepartmentId, s.scope === 'initiator_department_tree');
    case 'department_head': {
      if (!rc.initiatorDepartmentId) return [];
      const head = await departmentHead(sql, rc.initiatorDepartmentId, s.levelsUp ?? 0);
      return head ? [head] : [];
    }
    case 'manager_chain': {
      const chain = await managerChain(sql, rc.initiatorId, s.toLevel ?? 20);
      if (s.toTitle) {
        // a title ("厂长") or a position code ("plant_manager") ends the chain, inclusive
        const stop = chain.findIndex((m) => m.title === s.toTitle || m.position === s.toTitle);
        return (stop >= 0 ? chain.slice(0, stop + 1) : chain).map((m) => m.id);
      }
      return chain.map((m) => m.id);
    }
    case 'field':
      return fromField(sql, await readPath(sql, rc, s.field));
    case 'initiator_pick': {
      const picked = rc.picks[rc.nodeId] ?? [];
      return s.multiple ? picked : picked.slice(0, 1);
    }
    case 'initiator':
      return [rc.initiatorId];
  }
}

/** All sources of a node, united, in order, without duplicates, active people only. */
export async function resolveApprovers(sql: Sql, sources: ApproverSource[], rc: ResolveContext): Promise<string[]> {
  // the two commonest single sources in one query each, active people only (same answer as below)
  const only = sources.length === 1 ? sources[0]! : null;
  if (only?.kind === 'users') {
    if (only.users.length === 0) return [];
    const r = await sql.query<{ id: string; username: string }>(`select id, username from users where username = any($1::text[]) and active and kind = 'person'`, [
      only.users.map((n) => n.toLowerCase()),
    ]);
    const byName = new Map(r.rows.map((x) => [x.username, x.id]));
    return [...new Set(only.users.flatMap((n) => byName.get(n.toLowerCase()) ?? []))];
  }
  if (only?.kind === 'department_head') {
    if (!rc.initiatorDepartmentId) return [];
    const r = await sql.query<{ id: string }>(
      `select u.id from department_closure c join departments d on d.id = c.ancestor_id join users u on u.id = d.head_user_id and u.active and u.kind = 'person'
        where c.descendant_id = $1 and c.depth = $2 limit 1`,
      [rc.initiatorDepartmentId, only.levelsUp ?? 0],
    );
    return r.rows.map((x) => x.id);
  }
  const all: string[] = [];
  for (const s of sources) all.push(...(await resolveSource(sql, s, rc)));
  return activeUsers(sql, [...new Set(all)]);
}

/**
 * The value of a field of the document, or at the end of a path over link fields
 * (`process_category.supervisor`): each hop reads the linked record as it is now, through the
 * records engine. An empty link, a missing record or an app without that path gives undefined.
 */
export async function readPath(sql: Sql, rc: ResolveContext, path: string): Promise<unknown> {
  const segs = path.split('.');
  if (segs.length === 1) return rc.record[path];
  const load = getDocumentLoader();
  if (!load || !rc.app || !rc.entity || !rc.entities) return undefined;
  let entity = rc.entities.find((e) => e.name === rc.entity);
  let values: Record<string, unknown> | null = rc.record;
  for (const [i, seg] of segs.entries()) {
    if (!entity || !values) return undefined;
    const v = values[seg];
    if (i === segs.length - 1) return v;
    const f = entity.fields.find((x) => x.name === seg);
    if (!f || f.type !== 'link' || !f.target || typeof v !== 'string' || !UUID.test(v)) return undefined;
    values = await load(sql, { app: rc.app, entity: f.target, recordId: v });
    entity = rc.entities.find((e) => e.name === f.target);
  }
  return undefined;
}

/**
 * Minutes of an SLA part: from `afterField` (a numeric field or link path) when it holds a
 * positive number, else the fixed `after`. Capped at one year like `after`.
 */
export async function slaMinutes(sql: Sql, part: NonNullable<Sla['remind'] | Sla['escalate'] | Sla['auto']>, rc: ResolveContext): Promise<number> {
  if (!part.afterField) return part.after;
  const raw = await readPath(sql, rc, part.afterField);
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(n) || n <= 0) return part.after;
  return Math.min(525_600, Math.max(1, Math.round(n)));
}
