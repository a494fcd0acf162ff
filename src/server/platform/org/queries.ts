// Read-only organisation lookups that other engines build on (approver resolution, record
// scopes, principals). Plain SQL over any `Sql` (the database or an open transaction), no
// caching, no side effects: each answers from what is committed (or visible in the caller's
// transaction) right now. Inactive people are never returned as someone to act.
import type { Sql } from '../../db/index.ts';

export interface OrgPerson {
  id: string;
  username: string;
  displayName: string;
}

export interface DepartmentHead extends OrgPerson {
  /** The department whose head this is (the one `levelsUp` above the start). */
  departmentId: string;
  departmentCode: string;
}

/**
 * The head of the department `levelsUp` levels above `deptId` (0 = its own head, 1 = the head
 * of its parent, ...). Null when there is no department that high, when it has no head, or when
 * the head is deactivated: the caller decides what "nobody" means (auto-approve, admin, ...).
 */
export async function getDepartmentHead(sql: Sql, deptId: string, levelsUp = 0): Promise<DepartmentHead | null> {
  if (!Number.isInteger(levelsUp) || levelsUp < 0) throw new RangeError('levelsUp must be a whole number ≥ 0');
  const r = await sql.query<DepartmentHead>(
    `select u.id, u.username, u.display_name as "displayName", d.id as "departmentId", d.code as "departmentCode"
     from department_closure c
     join departments d on d.id = c.ancestor_id
     join users u on u.id = d.head_user_id and u.active
     where c.descendant_id = $1 and c.depth = $2`,
    [deptId, levelsUp],
  );
  return r.rows[0] ?? null;
}

/**
 * The heads of `deptId` and of each department above it, nearest first, up to `maxLevels`
 * departments (vacant or deactivated heads skipped). Used for escalation level by level.
 */
export async function getDepartmentHeadChain(sql: Sql, deptId: string, maxLevels = 10): Promise<Array<DepartmentHead & { level: number }>> {
  const r = await sql.query<DepartmentHead & { level: number }>(
    `select u.id, u.username, u.display_name as "displayName", d.id as "departmentId", d.code as "departmentCode", c.depth as level
     from department_closure c
     join departments d on d.id = c.ancestor_id
     join users u on u.id = d.head_user_id and u.active
     where c.descendant_id = $1 and c.depth < $2
     order by c.depth`,
    [deptId, Math.max(0, Math.floor(maxLevels))],
  );
  return r.rows;
}

export interface ManagerLink extends OrgPerson {
  /** 1 = direct manager, 2 = the manager's manager, ... */
  level: number;
  active: boolean;
}

/**
 * The chain of managers above `userId`, nearest first, at most `maxLevels` long. Deactivated
 * managers are included (flagged) so the chain does not silently skip a level; callers that
 * need someone to act pick the active ones. Writes refuse cycles; the depth bound protects
 * against any that slipped in by hand.
 */
export async function getManagerChain(sql: Sql, userId: string, maxLevels = 10): Promise<ManagerLink[]> {
  const limit = Math.max(0, Math.min(100, Math.floor(maxLevels)));
  const r = await sql.query<ManagerLink>(
    `with recursive chain(id, level, path) as (
       select u.manager_id, 1, array[u.id] from users u where u.id = $1 and u.manager_id is not null
       union all
       select m.manager_id, c.level + 1, c.path || m.id
       from chain c join users m on m.id = c.id
       where m.manager_id is not null and c.level < $2 and not (m.id = any(c.path))
     )
     select u.id, u.username, u.display_name as "displayName", c.level, u.active
     from chain c join users u on u.id = c.id
     where c.level <= $2 and not (u.id = any(c.path))
     order by c.level`,
    [userId, limit],
  );
  return r.rows;
}

/**
 * Active people who hold `roleCode`; with `withinDepartmentId`, only those belonging to that
 * department or any department below it. Sorted by username for stable results.
 */
export async function usersWithRole(sql: Sql, roleCode: string, withinDepartmentId?: string | null): Promise<OrgPerson[]> {
  const params: unknown[] = [roleCode];
  let scope = '';
  if (withinDepartmentId) {
    params.push(withinDepartmentId);
    scope = `and exists (select 1 from user_departments ud join department_closure c on c.descendant_id = ud.department_id
                         where ud.user_id = u.id and c.ancestor_id = $2)`;
  }
  const r = await sql.query<OrgPerson>(
    `select u.id, u.username, u.display_name as "displayName"
     from users u
     join user_roles ur on ur.user_id = u.id
     join roles ro on ro.id = ur.role_id and ro.code = $1
     where u.active and u.kind <> 'system' ${scope}
     order by u.username`,
    params,
  );
  return r.rows;
}

/** The given departments and every department below them, without duplicates. */
export async function departmentSubtreeIds(sql: Sql, deptIds: readonly string[]): Promise<string[]> {
  if (deptIds.length === 0) return [];
  const r = await sql.query<{ id: string }>(
    'select distinct descendant_id as id from department_closure where ancestor_id = any($1::uuid[]) order by 1',
    [deptIds],
  );
  return r.rows.map((x) => x.id);
}

/** The given departments and every department above them (for "is X within my area"). */
export async function departmentAncestorIds(sql: Sql, deptId: string): Promise<string[]> {
  const r = await sql.query<{ id: string }>(
    'select ancestor_id as id from department_closure where descendant_id = $1 order by depth',
    [deptId],
  );
  return r.rows.map((x) => x.id);
}

export interface PrincipalData {
  /** Role codes, sorted. */
  roles: string[];
  /** Departments the person belongs to (not their sub-departments), primary first. */
  departmentIds: string[];
  primaryDepartmentId: string | null;
}

/** Roles and departments of one person, in one round trip. */
export async function loadPrincipalData(sql: Sql, userId: string): Promise<PrincipalData> {
  const r = await sql.query<{ roles: string[] | null; departments: Array<{ id: string; primary: boolean }> | null }>(
    `select
       (select array_agg(ro.code order by ro.code) from user_roles ur join roles ro on ro.id = ur.role_id where ur.user_id = $1) as roles,
       (select json_agg(json_build_object('id', ud.department_id, 'primary', ud.is_primary) order by ud.is_primary desc, d.sort, d.code)
          from user_departments ud join departments d on d.id = ud.department_id where ud.user_id = $1) as departments`,
    [userId],
  );
  const row = r.rows[0];
  const departments = parseJson(row?.departments) ?? [];
  return {
    roles: row?.roles ?? [],
    departmentIds: departments.map((d) => d.id),
    primaryDepartmentId: departments.find((d) => d.primary)?.id ?? null,
  };
}

/** `json` columns arrive parsed from both drivers; tolerate a string just in case. */
export function parseJson<T>(v: T | string | null | undefined): T | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? (JSON.parse(v) as T) : v;
}
