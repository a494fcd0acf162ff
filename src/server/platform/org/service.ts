// The organisation: departments (a tree, kept with a closure table), positions, people and
// roles. Each write runs inside the caller's transaction, checks its input, and appends one
// audit entry in that same transaction, so a change and its trail commit together or not at
// all. Tree and manager changes take an advisory lock so two concurrent moves cannot build a
// cycle between them.
import type { z } from 'zod';
import type { Sql, Tx } from '../../db/index.ts';
import { appendAudit } from '../audit/index.ts';
import { hashPassword, passwordProblem } from '../auth/passwords.ts';
import type { Actor } from '../context.ts';
import { AppError, conflict, forbidden, notFound, unprocessable, validationFailed, zodIssuesToFields } from '../errors.ts';
import { parseJson } from './queries.ts';
import {
  CreateDepartmentBody,
  CreatePositionBody,
  CreateRoleBody,
  CreateUserBody,
  ListUsersQuery,
  UpdateDepartmentBody,
  UpdatePositionBody,
  UpdateRoleBody,
  UpdateUserBody,
  type DepartmentNode,
  type DepartmentOut,
  type PositionOut,
  type RoleOut,
  type UserOut,
  type UserPage,
} from './schemas.ts';

/** Everything a write needs: the open transaction, who acts, and the time of the action. */
export interface OrgWrite {
  tx: Tx;
  actor: Actor;
  at?: Date;
}

const TREE_LOCK = 74_201_010;
const MANAGER_LOCK = 74_201_011;
const ADMIN_LOCK = 74_201_012;

export const BUILTIN_ROLES = ['admin', 'it_admin', 'auditor', 'employee'] as const;
const ADMIN_ROLE = 'admin';
const EVERYONE_ROLE = 'employee';

function parse<S extends z.ZodType>(schema: S, input: unknown, where = 'body'): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const errors = zodIssuesToFields(r.error.issues, where);
  throw validationFailed(`The request ${where} is not valid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
}

async function audit(w: OrgWrite, action: string, targetType: string, targetId: string, detail: Record<string, unknown>): Promise<void> {
  await appendAudit(w.tx, w.actor, { action, targetType, targetId, detail }, w.at ?? new Date());
}

/** Fields that differ, as `{field: {from, to}}`: what the audit entry records for an update. */
function diff(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const k of Object.keys(after)) {
    if (after[k] === undefined) continue;
    const a = before[k] ?? null;
    const b = after[k] ?? null;
    if (JSON.stringify(a) !== JSON.stringify(b)) out[k] = { from: a, to: b };
  }
  return out;
}

/**
 * Turns a database refusal that got past the checks (a race between two writers) into a 4xx
 * the person can act on. Call at the transaction boundary: on PostgreSQL the transaction is
 * already aborted at that point.
 */
export function mapOrgDbError(err: unknown): unknown {
  if (err instanceof AppError) return err;
  const e = err as { code?: string; constraint?: string; detail?: string };
  if (e?.code === '23505') {
    return conflict(`That already exists (${e.constraint ?? 'unique'}): ${e.detail ?? 'choose another code or name'}.`);
  }
  if (e?.code === '23503') {
    return conflict(`It is still referenced elsewhere, or refers to something that no longer exists (${e.constraint ?? 'reference'}).`);
  }
  return err;
}

// ---------------------------------------------------------------------------------------------
// Departments
// ---------------------------------------------------------------------------------------------

interface DeptRow {
  id: string;
  code: string;
  name: string;
  name_en: string | null;
  parent_id: string | null;
  head_user_id: string | null;
  sort: number;
}

async function loadDepartment(sql: Sql, id: string, forUpdate = false): Promise<DeptRow | undefined> {
  const r = await sql.query<DeptRow>(
    `select id, code, name, name_en, parent_id, head_user_id, sort from departments where id = $1${forUpdate ? ' for update' : ''}`,
    [id],
  );
  return r.rows[0];
}

async function requireDepartment(sql: Sql, id: string, field: string): Promise<DeptRow> {
  const d = await loadDepartment(sql, id);
  if (!d) throw unprocessable(`There is no department with id ${id}.`, [{ path: field, message: 'no such department' }]);
  return d;
}

async function requireActivePerson(sql: Sql, id: string, field: string, what: string): Promise<{ id: string; username: string }> {
  const r = await sql.query<{ id: string; username: string; active: boolean; kind: string }>(
    'select id, username, active, kind from users where id = $1',
    [id],
  );
  const u = r.rows[0];
  if (!u || u.kind === 'system') throw unprocessable(`There is no person with id ${id} to be the ${what}.`, [{ path: field, message: 'no such person' }]);
  if (!u.active) throw unprocessable(`${u.username} is deactivated and cannot be the ${what}.`, [{ path: field, message: 'person is deactivated' }]);
  return u;
}

/** Inserts a department and its closure rows; no checks, no audit (used by create and the demo seed). */
export async function insertDepartment(
  tx: Tx,
  d: { code: string; name: string; nameEn?: string | null; parentId?: string | null; headUserId?: string | null; sort?: number },
): Promise<string> {
  const r = await tx.query<{ id: string }>(
    `insert into departments (code, name, name_en, parent_id, head_user_id, sort) values ($1,$2,$3,$4,$5,$6) returning id`,
    [d.code, d.name, d.nameEn ?? null, d.parentId ?? null, d.headUserId ?? null, d.sort ?? 0],
  );
  const id = r.rows[0]!.id;
  await tx.query(
    `insert into department_closure (ancestor_id, descendant_id, depth)
     select $1::uuid, $1::uuid, 0
     union all
     select ancestor_id, $1::uuid, depth + 1 from department_closure where descendant_id = $2::uuid`,
    [id, d.parentId ?? null],
  );
  return id;
}

export async function createDepartment(w: OrgWrite, raw: unknown): Promise<DepartmentOut> {
  const input = parse(CreateDepartmentBody, raw);
  await w.tx.query('select pg_advisory_xact_lock($1)', [TREE_LOCK]);
  if (input.parentId) await requireDepartment(w.tx, input.parentId, 'body.parentId');
  if (input.headUserId) await requireActivePerson(w.tx, input.headUserId, 'body.headUserId', 'department head');
  await refuseTakenCode(w.tx, 'departments', input.code);
  const id = await insertDepartment(w.tx, input);
  await audit(w, 'org.department.create', 'department', id, {
    code: input.code,
    name: input.name,
    nameEn: input.nameEn ?? null,
    parentId: input.parentId ?? null,
    headUserId: input.headUserId ?? null,
  });
  return (await getDepartment(w.tx, id))!;
}

async function refuseTakenCode(sql: Sql, table: 'departments' | 'positions' | 'roles', code: string, exceptId?: string): Promise<void> {
  const r = await sql.query(`select 1 from ${table} where code = $1 and ($2::uuid is null or id <> $2::uuid)`, [code, exceptId ?? null]);
  if (r.rows.length > 0) {
    const what = table === 'departments' ? 'department' : table === 'positions' ? 'position' : 'role';
    throw conflict(`A ${what} with code "${code}" already exists. Choose another code.`);
  }
}

export async function updateDepartment(w: OrgWrite, id: string, raw: unknown): Promise<DepartmentOut> {
  const input = parse(UpdateDepartmentBody, raw);
  await w.tx.query('select pg_advisory_xact_lock($1)', [TREE_LOCK]);
  const before = await loadDepartment(w.tx, id, true);
  if (!before) throw notFound(`There is no department with id ${id}.`);
  if (input.code !== undefined && input.code !== before.code) await refuseTakenCode(w.tx, 'departments', input.code, id);
  if (input.headUserId) await requireActivePerson(w.tx, input.headUserId, 'body.headUserId', 'department head');

  const moving = input.parentId !== undefined && (input.parentId ?? null) !== before.parent_id;
  if (moving && input.parentId) {
    if (input.parentId === id) throw unprocessable('A department cannot be its own parent.', [{ path: 'body.parentId', message: 'is this department' }]);
    const parent = await requireDepartment(w.tx, input.parentId, 'body.parentId');
    const inside = await w.tx.query('select 1 from department_closure where ancestor_id = $1 and descendant_id = $2', [id, parent.id]);
    if (inside.rows.length > 0) {
      throw unprocessable(`Cannot move ${before.code} under ${parent.code}: ${parent.code} is inside ${before.code}, which would make a cycle.`, [
        { path: 'body.parentId', message: 'is a sub-department of this department' },
      ]);
    }
  }

  const changes = diff(
    { code: before.code, name: before.name, nameEn: before.name_en, parentId: before.parent_id, headUserId: before.head_user_id, sort: before.sort },
    { code: input.code, name: input.name, nameEn: input.nameEn, parentId: input.parentId, headUserId: input.headUserId, sort: input.sort },
  );
  if (Object.keys(changes).length === 0) return (await getDepartment(w.tx, id))!; // nothing to write, nothing to audit

  const sets: string[] = [];
  const params: unknown[] = [id];
  const set = (col: string, v: unknown) => {
    params.push(v);
    sets.push(`${col} = $${params.length}`);
  };
  if (input.code !== undefined) set('code', input.code);
  if (input.name !== undefined) set('name', input.name);
  if (input.nameEn !== undefined) set('name_en', input.nameEn);
  if (input.headUserId !== undefined) set('head_user_id', input.headUserId);
  if (input.sort !== undefined) set('sort', input.sort);
  if (input.parentId !== undefined) set('parent_id', input.parentId);
  await w.tx.query(`update departments set ${sets.join(', ')}, updated_at = now() where id = $1`, params);

  if (moving) {
    // Detach the subtree from its old ancestors, then hang it under every ancestor of the new parent.
    await w.tx.query(
      `delete from department_closure
       where descendant_id in (select descendant_id from department_closure where ancestor_id = $1)
         and ancestor_id not in (select descendant_id from department_closure where ancestor_id = $1)`,
      [id],
    );
    if (input.parentId) {
      await w.tx.query(
        `insert into department_closure (ancestor_id, descendant_id, depth)
         select a.ancestor_id, s.descendant_id, a.depth + s.depth + 1
         from department_closure a, department_closure s
         where a.descendant_id = $2 and s.ancestor_id = $1`,
        [id, input.parentId],
      );
    }
  }

  await audit(w, moving ? 'org.department.move' : 'org.department.update', 'department', id, { code: input.code ?? before.code, changes });
  return (await getDepartment(w.tx, id))!;
}

export async function deleteDepartment(w: OrgWrite, id: string): Promise<void> {
  await w.tx.query('select pg_advisory_xact_lock($1)', [TREE_LOCK]);
  const d = await loadDepartment(w.tx, id, true);
  if (!d) throw notFound(`There is no department with id ${id}.`);
  const children = await w.tx.query<{ n: number }>('select count(*)::int as n from departments where parent_id = $1', [id]);
  if (children.rows[0]!.n > 0) {
    throw conflict(`Department ${d.code} still has ${children.rows[0]!.n} sub-department(s). Move or delete them first.`);
  }
  const members = await w.tx.query<{ n: number }>('select count(*)::int as n from user_departments where department_id = $1', [id]);
  if (members.rows[0]!.n > 0) {
    throw conflict(`Department ${d.code} still has ${members.rows[0]!.n} member(s), counting deactivated people. Move them to another department first.`);
  }
  await w.tx.query('delete from departments where id = $1', [id]);
  await audit(w, 'org.department.delete', 'department', id, { code: d.code, name: d.name, parentId: d.parent_id });
}

const DEPT_SELECT = `
  select d.id, d.code, d.name, d.name_en as "nameEn", d.parent_id as "parentId", d.sort,
    case when h.id is null then null else json_build_object('id', h.id, 'username', h.username, 'displayName', h.display_name, 'displayNameEn', h.display_name_en) end as head,
    (select count(*)::int from user_departments ud join users mu on mu.id = ud.user_id and mu.active where ud.department_id = d.id) as "memberCount"
  from departments d left join users h on h.id = d.head_user_id`;

function deptOut(r: DepartmentOut): DepartmentOut {
  return { ...r, head: parseJson(r.head) };
}

export async function getDepartment(sql: Sql, id: string): Promise<DepartmentOut | null> {
  const r = await sql.query<DepartmentOut>(`${DEPT_SELECT} where d.id = $1`, [id]);
  return r.rows[0] ? deptOut(r.rows[0]) : null;
}

export async function listDepartments(sql: Sql): Promise<DepartmentOut[]> {
  const r = await sql.query<DepartmentOut>(`${DEPT_SELECT} order by d.sort, d.code`);
  return r.rows.map(deptOut);
}

/** The whole organisation as nested nodes, siblings ordered by `sort` then code. */
export async function getDepartmentTree(sql: Sql): Promise<DepartmentNode[]> {
  const flat = await listDepartments(sql);
  const nodes = new Map<string, DepartmentNode>(flat.map((d) => [d.id, { ...d, children: [] }]));
  const roots: DepartmentNode[] = [];
  for (const n of nodes.values()) {
    const parent = n.parentId ? nodes.get(n.parentId) : undefined;
    if (parent) parent.children.push(n);
    else roots.push(n);
  }
  return roots;
}

// ---------------------------------------------------------------------------------------------
// Positions
// ---------------------------------------------------------------------------------------------

const POSITION_SELECT = `
  select p.id, p.code, p.name, p.name_en as "nameEn", p.level,
    (select count(*)::int from users u where u.position_id = p.id and u.active) as "userCount"
  from positions p`;

export async function listPositions(sql: Sql): Promise<PositionOut[]> {
  return (await sql.query<PositionOut>(`${POSITION_SELECT} order by p.level desc, p.code`)).rows;
}

async function getPosition(sql: Sql, id: string): Promise<PositionOut | null> {
  return (await sql.query<PositionOut>(`${POSITION_SELECT} where p.id = $1`, [id])).rows[0] ?? null;
}

export async function createPosition(w: OrgWrite, raw: unknown): Promise<PositionOut> {
  const input = parse(CreatePositionBody, raw);
  await refuseTakenCode(w.tx, 'positions', input.code);
  const r = await w.tx.query<{ id: string }>('insert into positions (code, name, name_en, level) values ($1,$2,$3,$4) returning id', [
    input.code,
    input.name,
    input.nameEn ?? null,
    input.level ?? 0,
  ]);
  const id = r.rows[0]!.id;
  await audit(w, 'org.position.create', 'position', id, { code: input.code, name: input.name, level: input.level ?? 0 });
  return (await getPosition(w.tx, id))!;
}

export async function updatePosition(w: OrgWrite, id: string, raw: unknown): Promise<PositionOut> {
  const input = parse(UpdatePositionBody, raw);
  const before = (await w.tx.query<{ code: string; name: string; name_en: string | null; level: number }>(
    'select code, name, name_en, level from positions where id = $1 for update',
    [id],
  )).rows[0];
  if (!before) throw notFound(`There is no position with id ${id}.`);
  if (input.code !== undefined && input.code !== before.code) await refuseTakenCode(w.tx, 'positions', input.code, id);
  await w.tx.query(
    `update positions set code = coalesce($2, code), name = coalesce($3, name),
       name_en = case when $4::boolean then $5 else name_en end, level = coalesce($6, level) where id = $1`,
    [id, input.code ?? null, input.name ?? null, input.nameEn !== undefined, input.nameEn ?? null, input.level ?? null],
  );
  const changes = diff({ code: before.code, name: before.name, nameEn: before.name_en, level: before.level }, input);
  if (Object.keys(changes).length > 0) await audit(w, 'org.position.update', 'position', id, { code: input.code ?? before.code, changes });
  return (await getPosition(w.tx, id))!;
}

export async function deletePosition(w: OrgWrite, id: string): Promise<void> {
  const p = (await w.tx.query<{ code: string; name: string }>('select code, name from positions where id = $1 for update', [id])).rows[0];
  if (!p) throw notFound(`There is no position with id ${id}.`);
  const used = await w.tx.query<{ n: number }>('select count(*)::int as n from users where position_id = $1', [id]);
  if (used.rows[0]!.n > 0) throw conflict(`Position ${p.code} is held by ${used.rows[0]!.n} person(s). Give them another position first.`);
  await w.tx.query('delete from positions where id = $1', [id]);
  await audit(w, 'org.position.delete', 'position', id, { code: p.code, name: p.name });
}

// ---------------------------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------------------------

const USER_SELECT = `
  select u.id, u.username, u.display_name as "displayName", u.display_name_en as "displayNameEn", u.email, u.phone,
    u.kind, u.active, u.locale, u.title, (u.password_hash is not null) as "hasPassword",
    u.created_at as "createdAt", u.updated_at as "updatedAt",
    case when p.id is null then null else json_build_object('id', p.id, 'code', p.code, 'name', p.name, 'nameEn', p.name_en, 'level', p.level) end as position,
    case when m.id is null then null else json_build_object('id', m.id, 'username', m.username, 'displayName', m.display_name, 'displayNameEn', m.display_name_en) end as manager,
    coalesce((select json_agg(json_build_object('id', d.id, 'code', d.code, 'name', d.name, 'nameEn', d.name_en, 'primary', ud.is_primary)
                              order by ud.is_primary desc, d.sort, d.code)
              from user_departments ud join departments d on d.id = ud.department_id where ud.user_id = u.id), '[]'::json) as departments,
    coalesce((select array_agg(ro.code order by ro.code) from user_roles ur join roles ro on ro.id = ur.role_id where ur.user_id = u.id), '{}') as roles
  from users u
  left join positions p on p.id = u.position_id
  left join users m on m.id = u.manager_id`;

type UserRow = Omit<UserOut, 'createdAt' | 'updatedAt'> & { createdAt: Date | string; updatedAt: Date | string };

function userOut(r: UserRow): UserOut {
  return {
    ...r,
    position: parseJson(r.position),
    manager: parseJson(r.manager),
    departments: parseJson(r.departments) ?? [],
    roles: r.roles ?? [],
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
}

export async function getUser(sql: Sql, id: string): Promise<UserOut | null> {
  const r = await sql.query<UserRow>(`${USER_SELECT} where u.id = $1 and u.kind <> 'system'`, [id]);
  return r.rows[0] ? userOut(r.rows[0]) : null;
}

export async function getUserByUsername(sql: Sql, username: string): Promise<UserOut | null> {
  const r = await sql.query<UserRow>(`${USER_SELECT} where u.username = $1 and u.kind <> 'system'`, [username]);
  return r.rows[0] ? userOut(r.rows[0]) : null;
}

/** People, filtered and paged, sorted by username. The system account is never listed. */
export async function listUsers(sql: Sql, raw: unknown): Promise<UserPage> {
  const q = parse(ListUsersQuery, raw, 'querystring');
  const where: string[] = [`u.kind <> 'system'`];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (q.status !== 'all') where.push(`u.active = ${q.status === 'active'}`);
  const text = q.q?.trim().toLowerCase();
  if (text) {
    const t = p(text);
    where.push(
      `(strpos(u.username, ${t}) > 0 or strpos(lower(u.display_name), ${t}) > 0 or strpos(lower(coalesce(u.display_name_en, '')), ${t}) > 0
        or strpos(lower(coalesce(u.email, '')), ${t}) > 0 or strpos(coalesce(u.phone, ''), ${t}) > 0 or strpos(lower(coalesce(u.title, '')), ${t}) > 0)`,
    );
  }
  if (q.departmentId) {
    const d = p(q.departmentId);
    where.push(
      q.includeSubdepartments === false
        ? `exists (select 1 from user_departments ud where ud.user_id = u.id and ud.department_id = ${d})`
        : `exists (select 1 from user_departments ud join department_closure c on c.descendant_id = ud.department_id
                   where ud.user_id = u.id and c.ancestor_id = ${d})`,
    );
  }
  if (q.role) {
    where.push(`exists (select 1 from user_roles ur join roles ro on ro.id = ur.role_id where ur.user_id = u.id and ro.code = ${p(q.role)})`);
  }
  const cond = where.join(' and ');
  const total = (await sql.query<{ n: number }>(`select count(*)::int as n from users u where ${cond}`, params)).rows[0]!.n;
  const rows = await sql.query<UserRow>(`${USER_SELECT} where ${cond} order by u.username limit ${p(q.limit)} offset ${p(q.offset)}`, params);
  return { items: rows.rows.map(userOut), total, limit: q.limit, offset: q.offset };
}

interface UserBase {
  id: string;
  username: string;
  display_name: string;
  display_name_en: string | null;
  email: string | null;
  phone: string | null;
  manager_id: string | null;
  position_id: string | null;
  title: string | null;
  locale: string;
  active: boolean;
  kind: string;
}

async function loadUserForUpdate(tx: Tx, id: string): Promise<UserBase> {
  const r = await tx.query<UserBase>(
    `select id, username, display_name, display_name_en, email, phone, manager_id, position_id, title, locale, active, kind
     from users where id = $1 for update`,
    [id],
  );
  const u = r.rows[0];
  if (!u || u.kind === 'system') throw notFound(`There is no person with id ${id}.`);
  return u;
}

async function checkManager(tx: Tx, userId: string | null, managerId: string): Promise<void> {
  await tx.query('select pg_advisory_xact_lock($1)', [MANAGER_LOCK]);
  if (userId && managerId === userId) {
    throw unprocessable('A person cannot be their own manager.', [{ path: 'body.managerId', message: 'is this person' }]);
  }
  await requireActivePerson(tx, managerId, 'body.managerId', 'manager');
  if (!userId) return;
  // Would the new manager (or anyone above them) report to this person? Then it is a cycle.
  const r = await tx.query<{ username: string }>(
    `with recursive up(id, depth) as (
       select manager_id, 1 from users where id = $1 and manager_id is not null
       union all
       select u.manager_id, up.depth + 1 from up join users u on u.id = up.id where u.manager_id is not null and up.depth < 1000
     )
     select 1 from up where id = $2 limit 1`,
    [managerId, userId],
  );
  if (r.rows.length > 0) {
    throw unprocessable('That manager reports (directly or through others) to this person, which would make a cycle.', [
      { path: 'body.managerId', message: 'reports to this person' },
    ]);
  }
}

async function requirePosition(tx: Tx, id: string): Promise<void> {
  const r = await tx.query('select 1 from positions where id = $1', [id]);
  if (r.rows.length === 0) throw unprocessable(`There is no position with id ${id}.`, [{ path: 'body.positionId', message: 'no such position' }]);
}

async function setDepartments(tx: Tx, userId: string, departmentIds: string[], primary: string): Promise<void> {
  for (const [i, d] of departmentIds.entries()) await requireDepartment(tx, d, `body.departmentIds.${i}`);
  await tx.query('delete from user_departments where user_id = $1', [userId]);
  await tx.query(
    `insert into user_departments (user_id, department_id, is_primary)
     select $1, d, d = $3 from unnest($2::uuid[]) as d`,
    [userId, departmentIds, primary],
  );
}

function pickPrimary(departmentIds: string[], primary: string | undefined): string {
  if (primary === undefined) return departmentIds[0]!;
  if (!departmentIds.includes(primary)) {
    throw unprocessable('The primary department must be one of the departments listed.', [
      { path: 'body.primaryDepartmentId', message: 'not in departmentIds' },
    ]);
  }
  return primary;
}

async function roleIdsFor(tx: Tx, codes: string[]): Promise<Map<string, string>> {
  const r = await tx.query<{ id: string; code: string }>('select id, code from roles where code = any($1::text[])', [codes]);
  const map = new Map(r.rows.map((x) => [x.code, x.id]));
  const missing = codes.filter((c) => !map.has(c));
  if (missing.length) {
    throw unprocessable(`Unknown role(s): ${missing.join(', ')}. Create them first or pick existing ones.`, missing.map((c) => ({ path: 'body.roles', message: `no role "${c}"` })));
  }
  return map;
}

function refuseAdminGrantBy(actor: Actor, codes: readonly string[]): void {
  if (codes.includes(ADMIN_ROLE) && !actor.principal.roles.includes(ADMIN_ROLE)) {
    throw forbidden('Only an administrator can grant or remove the admin role.');
  }
}

/**
 * Creates a person. The password, when given, must pass the rules and is stored only as an
 * argon2id hash; it is hashed before the caller opens its transaction if `passwordHash` is given.
 */
export async function createUser(w: OrgWrite, raw: unknown, opts: { passwordHash?: string } = {}): Promise<UserOut> {
  const input = parse(CreateUserBody, raw);
  const primary = pickPrimary(input.departmentIds, input.primaryDepartmentId);
  if (input.password !== undefined) {
    const problem = passwordProblem(input.password);
    if (problem) throw validationFailed(problem, [{ path: 'body.password', message: problem }]);
  }
  const roles = [...new Set([EVERYONE_ROLE, ...(input.roles ?? [])])].sort();
  refuseAdminGrantBy(w.actor, roles);
  const taken = await w.tx.query('select 1 from users where username = $1', [input.username]);
  if (taken.rows.length > 0) throw conflict(`The username "${input.username}" is taken. Choose another one.`);
  if (input.positionId) await requirePosition(w.tx, input.positionId);
  if (input.managerId) await checkManager(w.tx, null, input.managerId);
  const roleIds = await roleIdsFor(w.tx, roles);
  const passwordHash = input.password === undefined ? null : (opts.passwordHash ?? (await hashPassword(input.password)));

  const r = await w.tx.query<{ id: string }>(
    `insert into users (username, display_name, display_name_en, email, phone, password_hash, password_changed_at,
                        manager_id, position_id, title, locale)
     values ($1,$2,$3,$4,$5,$6, case when $6::text is null then null else now() end, $7,$8,$9,$10) returning id`,
    [
      input.username,
      input.displayName,
      input.displayNameEn ?? null,
      input.email ?? null,
      input.phone ?? null,
      passwordHash,
      input.managerId ?? null,
      input.positionId ?? null,
      input.title ?? null,
      input.locale ?? 'zh-CN',
    ],
  );
  const id = r.rows[0]!.id;
  await setDepartments(w.tx, id, input.departmentIds, primary);
  await w.tx.query('insert into user_roles (user_id, role_id) select $1, unnest($2::uuid[])', [id, [...roleIds.values()]]);
  await audit(w, 'org.user.create', 'user', id, {
    username: input.username,
    displayName: input.displayName,
    departmentIds: input.departmentIds,
    primaryDepartmentId: primary,
    managerId: input.managerId ?? null,
    positionId: input.positionId ?? null,
    title: input.title ?? null,
    roles,
    passwordSet: passwordHash !== null,
  });
  return (await getUser(w.tx, id))!;
}

export async function updateUser(w: OrgWrite, id: string, raw: unknown): Promise<UserOut> {
  const input = parse(UpdateUserBody, raw);
  const before = await loadUserForUpdate(w.tx, id);
  if (input.positionId) await requirePosition(w.tx, input.positionId);
  if (input.managerId && input.managerId !== before.manager_id) await checkManager(w.tx, id, input.managerId);

  const changes: Record<string, { from: unknown; to: unknown }> = diff(
    {
      displayName: before.display_name,
      displayNameEn: before.display_name_en,
      email: before.email,
      phone: before.phone,
      managerId: before.manager_id,
      positionId: before.position_id,
      title: before.title,
      locale: before.locale,
    },
    {
      displayName: input.displayName,
      displayNameEn: input.displayNameEn,
      email: input.email,
      phone: input.phone,
      managerId: input.managerId,
      positionId: input.positionId,
      title: input.title,
      locale: input.locale,
    },
  );
  const fieldsChanged = Object.keys(changes).length > 0;

  if (input.departmentIds !== undefined || input.primaryDepartmentId !== undefined) {
    const current = await w.tx.query<{ department_id: string; is_primary: boolean }>(
      'select department_id, is_primary from user_departments where user_id = $1 order by is_primary desc, department_id',
      [id],
    );
    const beforeIds = current.rows.map((x) => x.department_id);
    const beforePrimary = current.rows.find((x) => x.is_primary)?.department_id ?? null;
    const ids = input.departmentIds ?? beforeIds;
    if (ids.length === 0) throw unprocessable('Give the person at least one department.', [{ path: 'body.departmentIds', message: 'required' }]);
    const primary = pickPrimary(
      ids,
      input.primaryDepartmentId ?? (beforePrimary && ids.includes(beforePrimary) ? beforePrimary : undefined),
    );
    if (JSON.stringify([...beforeIds].sort()) !== JSON.stringify([...ids].sort())) changes.departmentIds = { from: beforeIds, to: ids };
    if (beforePrimary !== primary) changes.primaryDepartmentId = { from: beforePrimary, to: primary };
    if (changes.departmentIds || changes.primaryDepartmentId) await setDepartments(w.tx, id, ids, primary);
  }
  if (Object.keys(changes).length === 0) return (await getUser(w.tx, id))!; // nothing to write, nothing to audit

  const sets: string[] = [];
  const params: unknown[] = [id];
  const set = (col: string, v: unknown) => {
    params.push(v);
    sets.push(`${col} = $${params.length}`);
  };
  if (fieldsChanged) {
    if (input.displayName !== undefined) set('display_name', input.displayName);
    if (input.displayNameEn !== undefined) set('display_name_en', input.displayNameEn);
    if (input.email !== undefined) set('email', input.email);
    if (input.phone !== undefined) set('phone', input.phone);
    if (input.managerId !== undefined) set('manager_id', input.managerId);
    if (input.positionId !== undefined) set('position_id', input.positionId);
    if (input.title !== undefined) set('title', input.title);
    if (input.locale !== undefined) set('locale', input.locale);
  }
  await w.tx.query(`update users set ${[...sets, 'updated_at = now()'].join(', ')} where id = $1`, params);
  await audit(w, 'org.user.update', 'user', id, { username: before.username, changes });
  return (await getUser(w.tx, id))!;
}

async function activeAdminCount(tx: Tx, exceptUserId: string): Promise<number> {
  const r = await tx.query<{ n: number }>(
    `select count(*)::int as n from users u join user_roles ur on ur.user_id = u.id join roles ro on ro.id = ur.role_id
     where ro.code = $1 and u.active and u.kind = 'person' and u.id <> $2`,
    [ADMIN_ROLE, exceptUserId],
  );
  return r.rows[0]!.n;
}

/**
 * Deactivates a person: they can no longer sign in (their sessions and API keys stop working),
 * are no longer picked as approver, and keep their history. Refuses to lock out the last admin.
 */
export async function deactivateUser(w: OrgWrite, id: string): Promise<UserOut> {
  const u = await loadUserForUpdate(w.tx, id);
  if (id === w.actor.principal.userId) throw conflict('You cannot deactivate yourself. Ask another administrator.');
  if (!u.active) return (await getUser(w.tx, id))!;
  await w.tx.query('select pg_advisory_xact_lock($1)', [ADMIN_LOCK]);
  const isAdmin = await w.tx.query(
    'select 1 from user_roles ur join roles ro on ro.id = ur.role_id where ur.user_id = $1 and ro.code = $2',
    [id, ADMIN_ROLE],
  );
  if (isAdmin.rows.length > 0) {
    if (!w.actor.principal.roles.includes(ADMIN_ROLE)) throw forbidden('Only an administrator can deactivate an administrator.');
    if ((await activeAdminCount(w.tx, id)) === 0) throw conflict(`${u.username} is the last active administrator and cannot be deactivated.`);
  }
  await w.tx.query('update users set active = false, updated_at = now() where id = $1', [id]);
  const sessions = await w.tx.query('update sessions set revoked_at = now() where user_id = $1 and revoked_at is null', [id]);
  const heads = await w.tx.query<{ code: string }>('select code from departments where head_user_id = $1 order by code', [id]);
  const reports = await w.tx.query<{ n: number }>('select count(*)::int as n from users where manager_id = $1 and active', [id]);
  await audit(w, 'org.user.deactivate', 'user', id, {
    username: u.username,
    sessionsRevoked: sessions.rowCount,
    stillHeadOf: heads.rows.map((h) => h.code),
    activeDirectReports: reports.rows[0]!.n,
  });
  return (await getUser(w.tx, id))!;
}

export async function reactivateUser(w: OrgWrite, id: string): Promise<UserOut> {
  const u = await loadUserForUpdate(w.tx, id);
  if (!u.active) {
    await w.tx.query('update users set active = true, failed_logins = 0, locked_until = null, updated_at = now() where id = $1', [id]);
    await audit(w, 'org.user.reactivate', 'user', id, { username: u.username });
  }
  return (await getUser(w.tx, id))!;
}

// ---------------------------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------------------------

const ROLE_SELECT = `
  select ro.id, ro.code, ro.name, ro.name_en as "nameEn", ro.description, ro.builtin,
    (select count(*)::int from user_roles ur join users u on u.id = ur.user_id and u.active where ur.role_id = ro.id) as "memberCount"
  from roles ro`;

export async function listRoles(sql: Sql): Promise<RoleOut[]> {
  return (await sql.query<RoleOut>(`${ROLE_SELECT} order by ro.builtin desc, ro.code`)).rows;
}

export async function getRole(sql: Sql, code: string): Promise<RoleOut | null> {
  return (await sql.query<RoleOut>(`${ROLE_SELECT} where ro.code = $1`, [code])).rows[0] ?? null;
}

async function requireRoleRow(tx: Tx, code: string, forUpdate = false): Promise<{ id: string; code: string; builtin: boolean; name: string; name_en: string | null; description: string | null }> {
  const r = await tx.query<{ id: string; code: string; builtin: boolean; name: string; name_en: string | null; description: string | null }>(
    `select id, code, builtin, name, name_en, description from roles where code = $1${forUpdate ? ' for update' : ''}`,
    [code],
  );
  if (!r.rows[0]) throw notFound(`There is no role "${code}".`);
  return r.rows[0];
}

export async function createRole(w: OrgWrite, raw: unknown): Promise<RoleOut> {
  const input = parse(CreateRoleBody, raw);
  await refuseTakenCode(w.tx, 'roles', input.code);
  const r = await w.tx.query<{ id: string }>('insert into roles (code, name, name_en, description) values ($1,$2,$3,$4) returning id', [
    input.code,
    input.name,
    input.nameEn ?? null,
    input.description ?? null,
  ]);
  await audit(w, 'org.role.create', 'role', input.code, { id: r.rows[0]!.id, name: input.name, nameEn: input.nameEn ?? null });
  return (await getRole(w.tx, input.code))!;
}

export async function updateRole(w: OrgWrite, code: string, raw: unknown): Promise<RoleOut> {
  const input = parse(UpdateRoleBody, raw);
  const before = await requireRoleRow(w.tx, code, true);
  await w.tx.query(
    `update roles set name = coalesce($2, name),
       name_en = case when $3::boolean then $4 else name_en end,
       description = case when $5::boolean then $6 else description end
     where id = $1`,
    [before.id, input.name ?? null, input.nameEn !== undefined, input.nameEn ?? null, input.description !== undefined, input.description ?? null],
  );
  const changes = diff({ name: before.name, nameEn: before.name_en, description: before.description }, input);
  if (Object.keys(changes).length > 0) await audit(w, 'org.role.update', 'role', code, { changes });
  return (await getRole(w.tx, code))!;
}

/** Deletes a role the plant created (built-in roles stay); its members simply lose it. */
export async function deleteRole(w: OrgWrite, code: string): Promise<void> {
  const role = await requireRoleRow(w.tx, code, true);
  if (role.builtin) throw conflict(`The role "${code}" is built in and cannot be deleted.`);
  const members = await w.tx.query<{ username: string }>(
    'select u.username from user_roles ur join users u on u.id = ur.user_id where ur.role_id = $1 order by u.username',
    [role.id],
  );
  await w.tx.query('delete from roles where id = $1', [role.id]);
  await audit(w, 'org.role.delete', 'role', code, { name: role.name, removedFrom: members.rows.map((m) => m.username) });
}

export async function listRoleMembers(sql: Sql, code: string): Promise<UserOut[]> {
  const exists = await sql.query('select 1 from roles where code = $1', [code]);
  if (exists.rows.length === 0) throw notFound(`There is no role "${code}".`);
  const r = await sql.query<UserRow>(
    `${USER_SELECT} where u.kind <> 'system' and exists (select 1 from user_roles ur join roles ro on ro.id = ur.role_id where ur.user_id = u.id and ro.code = $1)
     order by u.username`,
    [code],
  );
  return r.rows.map(userOut);
}

/** Gives a role to people; those who already hold it are left as they are. Returns who was added. */
export async function assignRole(w: OrgWrite, code: string, userIds: readonly string[]): Promise<string[]> {
  refuseAdminGrantBy(w.actor, [code]);
  const role = await requireRoleRow(w.tx, code);
  const found = await w.tx.query<{ id: string; username: string; active: boolean }>(
    `select id, username, active from users where id = any($1::uuid[]) and kind <> 'system'`,
    [userIds],
  );
  const byId = new Map(found.rows.map((u) => [u.id, u]));
  const missing = userIds.filter((id) => !byId.has(id));
  if (missing.length) {
    throw unprocessable(`There is no person with id ${missing.join(', ')}.`, missing.map((id) => ({ path: 'body.userIds', message: `no person ${id}` })));
  }
  const added = await w.tx.query<{ user_id: string }>(
    `insert into user_roles (user_id, role_id) select unnest($1::uuid[]), $2 on conflict do nothing returning user_id`,
    [userIds, role.id],
  );
  const usernames = added.rows.map((a) => byId.get(a.user_id)!.username).sort();
  if (usernames.length) await audit(w, 'org.role.assign', 'role', code, { users: usernames });
  return usernames;
}

export async function unassignRole(w: OrgWrite, code: string, userId: string): Promise<boolean> {
  refuseAdminGrantBy(w.actor, [code]);
  const role = await requireRoleRow(w.tx, code);
  const user = (await w.tx.query<{ username: string }>(`select username from users where id = $1 and kind <> 'system'`, [userId])).rows[0];
  if (!user) throw notFound(`There is no person with id ${userId}.`);
  if (code === EVERYONE_ROLE) throw conflict('Everyone holds the employee role; deactivate the person instead.');
  if (code === ADMIN_ROLE) await w.tx.query('select pg_advisory_xact_lock($1)', [ADMIN_LOCK]);
  const held = await w.tx.query('select 1 from user_roles where user_id = $1 and role_id = $2', [userId, role.id]);
  if (held.rows.length === 0) return false;
  if (code === ADMIN_ROLE && (await activeAdminCount(w.tx, userId)) === 0) {
    throw conflict(`${user.username} is the last active administrator and keeps the admin role.`);
  }
  await w.tx.query('delete from user_roles where user_id = $1 and role_id = $2', [userId, role.id]);
  await audit(w, 'org.role.unassign', 'role', code, { users: [user.username] });
  return true;
}
