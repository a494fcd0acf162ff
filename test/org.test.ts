// Organisation service and the lookups approver resolution builds on, on the demo plant.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemActor } from '../src/server/platform/context.ts';
import { AppError } from '../src/server/platform/errors.ts';
import {
  assignRole,
  createDepartment,
  createUser,
  deactivateUser,
  deleteDepartment,
  deleteRole,
  departmentSubtreeIds,
  getDepartmentHead,
  getDepartmentHeadChain,
  getManagerChain,
  loadPrincipalData,
  unassignRole,
  updateDepartment,
  updateUser,
  usersWithRole,
  type OrgWrite,
} from '../src/server/platform/org/index.ts';
import { verifyAuditChain } from '../src/server/platform/audit/index.ts';
import { createTestTrellis, type TestTrellis } from './helpers/trellis.ts';

let t: TestTrellis;
const dept = new Map<string, string>();
const user = new Map<string, string>();

async function ids(): Promise<void> {
  for (const d of (await t.ctx.db.query<{ id: string; code: string }>('select id, code from departments')).rows) dept.set(d.code, d.id);
  for (const u of (await t.ctx.db.query<{ id: string; username: string }>('select id, username from users')).rows) user.set(u.username, u.id);
}
const D = (code: string) => dept.get(code)!;
const U = (username: string) => user.get(username)!;

/** Runs one org write as a transaction, like a route does. */
function write<T>(fn: (w: OrgWrite) => Promise<T>): Promise<T> {
  return t.ctx.db.tx((tx) => fn({ tx, actor: systemActor }));
}

async function auditCount(): Promise<number> {
  return (await t.ctx.db.query<{ n: number }>('select count(*)::int as n from audit_log')).rows[0]!.n;
}

async function rejects(p: Promise<unknown>, status: number, message?: RegExp): Promise<AppError> {
  const err = await p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).status).toBe(status);
  if (message) expect((err as AppError).message).toMatch(message);
  return err as AppError;
}

/** The closure table must equal what the parent links imply. */
async function expectClosureConsistent(): Promise<void> {
  const expected = await t.ctx.db.query<{ a: string; d: string; depth: number }>(
    `with recursive up(d, a, depth) as (
       select id, id, 0 from departments
       union all
       select up.d, p.parent_id, up.depth + 1 from up join departments p on p.id = up.a where p.parent_id is not null
     ) select a, d, depth from up order by a, d`,
  );
  const actual = await t.ctx.db.query<{ a: string; d: string; depth: number }>(
    'select ancestor_id as a, descendant_id as d, depth from department_closure order by ancestor_id, descendant_id',
  );
  expect(actual.rows).toEqual(expected.rows);
}

beforeAll(async () => {
  t = await createTestTrellis({ seedDemo: true });
  await ids();
});
afterAll(async () => {
  await t?.destroy();
});

describe('approver lookups on the demo plant', () => {
  it('finds the department head N levels up', async () => {
    expect((await getDepartmentHead(t.ctx.db, D('machining_t1'), 0))?.username).toBe('li.teamlead');
    expect((await getDepartmentHead(t.ctx.db, D('machining_t1'), 1))?.username).toBe('zhao.director');
    const two = await getDepartmentHead(t.ctx.db, D('machining_t1'), 2);
    expect(two).toMatchObject({ username: 'chen.plant', departmentCode: 'production' });
    expect((await getDepartmentHead(t.ctx.db, D('machining_t1'), 3))?.departmentCode).toBe('plant');
    expect(await getDepartmentHead(t.ctx.db, D('machining_t1'), 4)).toBeNull();
    expect((await getDepartmentHead(t.ctx.db, D('quality'), 0))?.username).toBe('zhou.quality');
    const chain = await getDepartmentHeadChain(t.ctx.db, D('assembly_t1'), 10);
    expect(chain.map((h) => [h.level, h.username])).toEqual([
      [0, 'liu.teamlead'],
      [1, 'huang.director'],
      [2, 'chen.plant'],
      [3, 'chen.plant'],
    ]);
  });

  it('follows the manager chain operator → team lead → director → plant manager', async () => {
    const chain = await getManagerChain(t.ctx.db, U('wang.operator'), 10);
    expect(chain.map((m) => [m.level, m.username])).toEqual([
      [1, 'li.teamlead'],
      [2, 'zhao.director'],
      [3, 'chen.plant'],
    ]);
    expect((await getManagerChain(t.ctx.db, U('wang.operator'), 2)).map((m) => m.username)).toEqual(['li.teamlead', 'zhao.director']);
    expect(await getManagerChain(t.ctx.db, U('chen.plant'), 5)).toEqual([]);
    expect((await getManagerChain(t.ctx.db, U('lin.operator'), 5)).map((m) => m.username)).toEqual(['liu.teamlead', 'huang.director', 'chen.plant']);
  });

  it('lists the people with a role, optionally within a department subtree', async () => {
    const all = (await usersWithRole(t.ctx.db, 'operator')).map((u) => u.username);
    expect(all).toHaveLength(7);
    const machining = (await usersWithRole(t.ctx.db, 'operator', D('machining'))).map((u) => u.username);
    expect(machining).toEqual(['wang.operator', 'yang.operator', 'zhang.operator', 'zhu.operator']);
    expect((await usersWithRole(t.ctx.db, 'operator', D('machining_t2'))).map((u) => u.username)).toEqual(['yang.operator', 'zhu.operator']);
    expect(await usersWithRole(t.ctx.db, 'operator', D('finance'))).toEqual([]);
    expect((await usersWithRole(t.ctx.db, 'cfo')).map((u) => u.username)).toEqual(['wu.cfo']);
    expect(await usersWithRole(t.ctx.db, 'no_such_role')).toEqual([]);
  });

  it('expands department subtrees and loads principal data', async () => {
    const sub = await departmentSubtreeIds(t.ctx.db, [D('production')]);
    expect(new Set(sub)).toEqual(new Set(['production', 'machining', 'machining_t1', 'machining_t2', 'assembly', 'assembly_t1'].map(D)));
    expect(new Set(await departmentSubtreeIds(t.ctx.db, [D('machining_t1'), D('quality'), D('machining')]))).toEqual(
      new Set(['machining', 'machining_t1', 'machining_t2', 'quality'].map(D)),
    );
    expect(await departmentSubtreeIds(t.ctx.db, [])).toEqual([]);
    const p = await loadPrincipalData(t.ctx.db, U('chen.plant'));
    expect(p).toEqual({ roles: ['employee', 'plant_manager'], departmentIds: [D('plant'), D('production')], primaryDepartmentId: D('plant') });
    const admin = await loadPrincipalData(t.ctx.db, U('admin'));
    expect(admin.roles).toContain('admin');
    expect(admin.primaryDepartmentId).toBe(D('it'));
  });
});

describe('department tree', () => {
  it('creates, moves and deletes departments, keeping the closure table right', async () => {
    const before = await auditCount();
    const cell = await write((w) => createDepartment(w, { code: 'cell_x', name: '柔性单元', nameEn: 'Flexible cell', parentId: D('machining') }));
    const sub = await write((w) => createDepartment(w, { code: 'cell_x_night', name: '夜班', parentId: cell.id }));
    await expectClosureConsistent();
    expect((await getDepartmentHead(t.ctx.db, sub.id, 2))?.username).toBe('zhao.director');

    // Move the whole cell (with its sub-team) under assembly.
    const moved = await write((w) => updateDepartment(w, cell.id, { parentId: D('assembly'), name: '柔性装配单元' }));
    expect(moved).toMatchObject({ parentId: D('assembly'), name: '柔性装配单元' });
    await expectClosureConsistent();
    expect((await getDepartmentHead(t.ctx.db, sub.id, 2))?.username).toBe('huang.director');
    expect(new Set(await departmentSubtreeIds(t.ctx.db, [D('assembly')]))).toContain(sub.id);

    // And to the top level, then back.
    await write((w) => updateDepartment(w, cell.id, { parentId: null }));
    await expectClosureConsistent();
    await write((w) => updateDepartment(w, cell.id, { parentId: D('production') }));
    await expectClosureConsistent();

    await rejects(write((w) => deleteDepartment(w, cell.id)), 409, /sub-department/);
    await write((w) => deleteDepartment(w, sub.id));
    await write((w) => deleteDepartment(w, cell.id));
    await expectClosureConsistent();
    const actions = await t.ctx.db.query<{ action: string }>('select action from audit_log where seq > $1 order by seq', [before]);
    expect(actions.rows.map((r) => r.action)).toEqual([
      'org.department.create',
      'org.department.create',
      'org.department.move',
      'org.department.move',
      'org.department.move',
      'org.department.delete',
      'org.department.delete',
    ]);
  });

  it('refuses a move that would make a cycle, and changes nothing', async () => {
    const before = await auditCount();
    await rejects(write((w) => updateDepartment(w, D('production'), { parentId: D('machining_t1') })), 422, /cycle/);
    await rejects(write((w) => updateDepartment(w, D('machining'), { parentId: D('machining') })), 422, /own parent/);
    await rejects(write((w) => updateDepartment(w, D('plant'), { parentId: D('assembly_t1'), name: '改名' })), 422);
    expect(await auditCount()).toBe(before);
    const plant = await t.ctx.db.query<{ name: string; parent_id: string | null }>('select name, parent_id from departments where code = $1', ['plant']);
    expect(plant.rows[0]).toEqual({ name: '工厂', parent_id: null });
    await expectClosureConsistent();
  });

  it('deletes only empty departments and refuses duplicate codes', async () => {
    await rejects(write((w) => deleteDepartment(w, D('machining_t1'))), 409, /member/);
    await rejects(write((w) => createDepartment(w, { code: 'quality', name: '重复' })), 409, /already exists/);
    await rejects(write((w) => createDepartment(w, { code: 'orphan', name: '孤儿', parentId: '6f1c2a4e-0000-4000-8000-000000000000' })), 422);
    await rejects(write((w) => createDepartment(w, { code: 'Bad Code', name: 'x' })), 400);
  });

  it('sets a head, who must be an active person', async () => {
    const d = await write((w) => updateDepartment(w, D('machining_t2'), { headUserId: U('yang.operator') }));
    expect(d.head?.username).toBe('yang.operator');
    await write((w) => updateDepartment(w, D('machining_t2'), { headUserId: U('ma.teamlead') }));
    await rejects(write((w) => updateDepartment(w, D('machining_t2'), { headUserId: '00000000-0000-0000-0000-000000000000' })), 422);
  });
});

describe('people', () => {
  it('refuses a manager cycle, directly or through others', async () => {
    const before = await auditCount();
    await rejects(write((w) => updateUser(w, U('chen.plant'), { managerId: U('wang.operator') })), 422, /cycle/);
    await rejects(write((w) => updateUser(w, U('zhao.director'), { managerId: U('li.teamlead') })), 422, /cycle/);
    await rejects(write((w) => updateUser(w, U('li.teamlead'), { managerId: U('li.teamlead') })), 422, /own manager/);
    expect(await auditCount()).toBe(before);
    // A legal change works and is audited.
    const u = await write((w) => updateUser(w, U('zhu.operator'), { managerId: U('li.teamlead'), title: '精磨工' }));
    expect(u.manager?.username).toBe('li.teamlead');
    expect(u.title).toBe('精磨工');
    expect(await auditCount()).toBe(before + 1);
    await write((w) => updateUser(w, U('zhu.operator'), { managerId: U('ma.teamlead') }));
    // Sending what is already there writes nothing and audits nothing.
    const same = await auditCount();
    await write((w) => updateUser(w, U('zhu.operator'), { managerId: U('ma.teamlead'), departmentIds: [D('machining_t2')], title: '精磨工' }));
    await write((w) => updateDepartment(w, D('machining_t2'), { name: '机加二班', parentId: D('machining') }));
    expect(await auditCount()).toBe(same);
  });

  it('creates a person in several departments with one primary', async () => {
    const u = await write((w) =>
      createUser(w, {
        username: 'qin.engineer',
        displayName: '秦川',
        departmentIds: [D('quality'), D('machining')],
        primaryDepartmentId: D('machining'),
        managerId: U('zhao.director'),
        roles: ['quality_engineer'],
        title: '工艺工程师',
      }),
    );
    expect(u.departments.map((d) => [d.code, d.primary])).toEqual([
      ['machining', true],
      ['quality', false],
    ]);
    expect(u.roles).toEqual(['employee', 'quality_engineer']);
    expect(u.hasPassword).toBe(false);
    user.set('qin.engineer', u.id);
    expect((await usersWithRole(t.ctx.db, 'quality_engineer', D('production'))).map((x) => x.username)).toEqual(['qin.engineer']);
    // Changing the departments keeps exactly one primary.
    const changed = await write((w) => updateUser(w, u.id, { departmentIds: [D('quality')] }));
    expect(changed.departments).toEqual([expect.objectContaining({ code: 'quality', primary: true })]);
    await rejects(write((w) => updateUser(w, u.id, { primaryDepartmentId: D('it') })), 422, /primary/);
    await rejects(write((w) => createUser(w, { username: 'qin.engineer', displayName: 'x', departmentIds: [D('it')] })), 409, /taken/);
    await rejects(write((w) => createUser(w, { username: 'weak.pw', displayName: 'x', departmentIds: [D('it')], password: 'short' })), 400);
    await rejects(write((w) => createUser(w, { username: 'no.role', displayName: 'x', departmentIds: [D('it')], roles: ['wizard'] })), 422, /wizard/);
  });

  it('deactivated people are no longer heads or approvers', async () => {
    await write((w) => deactivateUser(w, U('liu.teamlead')));
    expect(await getDepartmentHead(t.ctx.db, D('assembly_t1'), 0)).toBeNull();
    expect((await usersWithRole(t.ctx.db, 'team_lead')).map((u) => u.username)).not.toContain('liu.teamlead');
    const chain = await getManagerChain(t.ctx.db, U('lin.operator'), 3);
    expect(chain[0]).toMatchObject({ username: 'liu.teamlead', active: false });
    expect((await loadPrincipalData(t.ctx.db, U('liu.teamlead'))).roles).toContain('team_lead');
    await t.ctx.db.query('update users set active = true where id = $1', [U('liu.teamlead')]);
  });
});

describe('roles', () => {
  it('assigns and unassigns, keeps built-in roles and the last admin', async () => {
    const added = await write((w) => assignRole(w, 'inspector', [U('tang.quality'), U('luo.inspector')]));
    expect(added).toEqual(['tang.quality']);
    expect(await write((w) => unassignRole(w, 'inspector', U('tang.quality')))).toBe(true);
    expect(await write((w) => unassignRole(w, 'inspector', U('tang.quality')))).toBe(false);
    await rejects(write((w) => deleteRole(w, 'auditor')), 409, /built in/);
    await rejects(write((w) => unassignRole(w, 'admin', U('admin'))), 409, /last active administrator/);
    await rejects(write((w) => deactivateUser(w, U('admin'))), 409, /last active administrator/);
    const asItAdmin = { ...systemActor, principal: { ...systemActor.principal, userId: U('zheng.it'), username: 'zheng.it', roles: ['employee', 'it_admin'] } };
    await rejects(t.ctx.db.tx((tx) => assignRole({ tx, actor: asItAdmin }, 'admin', [U('zheng.it')])), 403);
  });
});

describe('audit in the same transaction', () => {
  it('a write that fails after its audit entry leaves neither behind', async () => {
    const before = await auditCount();
    const headBefore = await t.ctx.db.query('select value from system_settings where key = $1', ['audit.head']);
    await expect(
      t.ctx.db.tx(async (tx) => {
        await createDepartment({ tx, actor: systemActor }, { code: 'ghost', name: '幽灵部门', parentId: D('plant') });
        throw new Error('boom after the audit entry');
      }),
    ).rejects.toThrow('boom');
    expect(await auditCount()).toBe(before);
    expect((await t.ctx.db.query('select 1 from departments where code = $1', ['ghost'])).rows.length).toBe(0);
    expect((await t.ctx.db.query('select value from system_settings where key = $1', ['audit.head'])).rows).toEqual(headBefore.rows);
    // A refused write (bad parent) writes nothing either.
    await rejects(write((w) => createDepartment(w, { code: 'ghost', name: '幽灵部门', parentId: '6f1c2a4e-0000-4000-8000-000000000001' })), 422);
    expect(await auditCount()).toBe(before);
    expect(await verifyAuditChain(t.ctx.db)).toMatchObject({ ok: true });
  });
});

describe('random moves (property)', () => {
  it('any sequence of moves keeps the closure table equal to the parent links, refusing cycles', async () => {
    const codes = [...dept.keys()].filter((c) => c !== 'ghost');
    const move = fc.record({ dept: fc.constantFrom(...codes), parent: fc.option(fc.constantFrom(...codes), { nil: null }) });
    await fc.assert(
      fc.asyncProperty(fc.array(move, { minLength: 1, maxLength: 6 }), async (moves) => {
        for (const m of moves) {
          try {
            await write((w) => updateDepartment(w, D(m.dept), { parentId: m.parent === null ? null : D(m.parent) }));
          } catch (err) {
            expect(err).toBeInstanceOf(AppError);
            expect((err as AppError).status).toBe(422);
          }
        }
        await expectClosureConsistent();
      }),
      { numRuns: 40 },
    );
    expect(await verifyAuditChain(t.ctx.db)).toMatchObject({ ok: true });
  });
});
