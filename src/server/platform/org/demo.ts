// The demo plant: 华东精机零部件有限公司 (East China Precision Machinery Parts Co., Ltd.), a
// mid-sized maker of machined and assembled parts. Loaded once into an empty organisation
// so that a fresh install has people, departments and reporting lines to try approvals with.
// Every demo person signs in with DEMO_PASSWORD.
import type { Sql, Tx } from '../../db/index.ts';
import type { BootstrapOptions } from '../../engine.ts';
import { appendAudit } from '../audit/index.ts';
import { hashPassword } from '../auth/passwords.ts';
import { systemActor, type Actor, type AppContext } from '../context.ts';
import { parseJson } from './queries.ts';
import { insertDepartment } from './service.ts';

/** Password of every demo account (documented in the README; change or deactivate them in production). */
export const DEMO_PASSWORD = 'Trellis-Demo-2026';

export const DEMO_SEEDED_KEY = 'demo.seeded';
export const COMPANY_KEY = 'org.company';
const DEMO_LOCK = 74_201_013;

export const DEMO_COMPANY = { name: '华东精机零部件有限公司', nameEn: 'East China Precision Machinery Parts Co., Ltd.' };

export interface DemoDepartment {
  code: string;
  name: string;
  nameEn: string;
  parent: string | null;
}

/** Parents come before their children. */
export const DEMO_DEPARTMENTS: readonly DemoDepartment[] = [
  { code: 'plant', name: '工厂', nameEn: 'Plant', parent: null },
  { code: 'production', name: '生产部', nameEn: 'Production', parent: 'plant' },
  { code: 'machining', name: '机加工车间', nameEn: 'Machining Workshop', parent: 'production' },
  { code: 'machining_t1', name: '机加一班', nameEn: 'Machining Team 1', parent: 'machining' },
  { code: 'machining_t2', name: '机加二班', nameEn: 'Machining Team 2', parent: 'machining' },
  { code: 'assembly', name: '装配车间', nameEn: 'Assembly Workshop', parent: 'production' },
  { code: 'assembly_t1', name: '装配一班', nameEn: 'Assembly Team 1', parent: 'assembly' },
  { code: 'quality', name: '质量部', nameEn: 'Quality', parent: 'plant' },
  { code: 'purchasing', name: '采购部', nameEn: 'Purchasing', parent: 'plant' },
  { code: 'warehouse', name: '仓储部', nameEn: 'Warehouse', parent: 'plant' },
  { code: 'equipment', name: '设备部', nameEn: 'Equipment', parent: 'plant' },
  { code: 'finance', name: '财务部', nameEn: 'Finance', parent: 'plant' },
  { code: 'it', name: '信息部', nameEn: 'IT', parent: 'plant' },
];

/** The plant's own roles; the built-in ones (admin, it_admin, auditor, employee) come with every install. */
export const DEMO_ROLES: ReadonlyArray<{ code: string; name: string; nameEn: string; description: string }> = [
  { code: 'operator', name: '操作工', nameEn: 'Operator', description: 'Runs machines and reports work on the shop floor.' },
  { code: 'team_lead', name: '班组长', nameEn: 'Team lead', description: 'Leads a shift team; first approver for its operators.' },
  { code: 'workshop_director', name: '车间主任', nameEn: 'Workshop director', description: 'Runs a workshop.' },
  { code: 'plant_manager', name: '厂长', nameEn: 'Plant manager', description: 'Runs the plant; final approver.' },
  { code: 'purchaser', name: '采购员', nameEn: 'Purchaser', description: 'Buys materials and services.' },
  { code: 'quality_engineer', name: '质量工程师', nameEn: 'Quality engineer', description: 'Owns inspections, non-conformances and corrective actions.' },
  { code: 'inspector', name: '检验员', nameEn: 'Inspector', description: 'Inspects incoming material and parts in process.' },
  { code: 'cfo', name: '财务总监', nameEn: 'CFO', description: 'Approves large amounts.' },
  { code: 'finance', name: '财务', nameEn: 'Finance', description: 'Accounting and costing.' },
  { code: 'warehouse_keeper', name: '仓管员', nameEn: 'Warehouse keeper', description: 'Receives, stores and issues material.' },
  { code: 'equipment_engineer', name: '设备工程师', nameEn: 'Equipment engineer', description: 'Maintains machines and handles breakdowns.' },
];

export const DEMO_POSITIONS: ReadonlyArray<{ code: string; name: string; nameEn: string; level: number }> = [
  { code: 'plant_manager', name: '厂长', nameEn: 'Plant manager', level: 9 },
  { code: 'cfo', name: '财务总监', nameEn: 'Chief financial officer', level: 9 },
  { code: 'dept_manager', name: '部门经理', nameEn: 'Department manager', level: 7 },
  { code: 'workshop_director', name: '车间主任', nameEn: 'Workshop director', level: 6 },
  { code: 'engineer', name: '工程师', nameEn: 'Engineer', level: 5 },
  { code: 'team_lead', name: '班组长', nameEn: 'Team lead', level: 4 },
  { code: 'specialist', name: '专员', nameEn: 'Specialist', level: 3 },
  { code: 'inspector', name: '检验员', nameEn: 'Inspector', level: 2 },
  { code: 'warehouse_keeper', name: '仓管员', nameEn: 'Warehouse keeper', level: 2 },
  { code: 'operator', name: '操作工', nameEn: 'Operator', level: 1 },
];

export interface DemoUser {
  username: string;
  name: string;
  nameEn: string;
  /** Primary department first. */
  departments: string[];
  /** Besides `employee`, which everyone has. */
  roles: string[];
  manager: string | null;
  position: string;
  title: string;
  /** Departments this person heads. */
  heads?: string[];
}

/** Managers come before the people who report to them. */
export const DEMO_USERS: readonly DemoUser[] = [
  { username: 'chen.plant', name: '陈明', nameEn: 'Chen Ming', departments: ['plant', 'production'], roles: ['plant_manager'], manager: null, position: 'plant_manager', title: '厂长', heads: ['plant', 'production'] },
  { username: 'zhao.director', name: '赵刚', nameEn: 'Zhao Gang', departments: ['machining'], roles: ['workshop_director'], manager: 'chen.plant', position: 'workshop_director', title: '机加工车间主任', heads: ['machining'] },
  { username: 'huang.director', name: '黄伟', nameEn: 'Huang Wei', departments: ['assembly'], roles: ['workshop_director'], manager: 'chen.plant', position: 'workshop_director', title: '装配车间主任', heads: ['assembly'] },
  { username: 'li.teamlead', name: '李娜', nameEn: 'Li Na', departments: ['machining_t1'], roles: ['team_lead'], manager: 'zhao.director', position: 'team_lead', title: '机加一班班长', heads: ['machining_t1'] },
  { username: 'ma.teamlead', name: '马超', nameEn: 'Ma Chao', departments: ['machining_t2'], roles: ['team_lead'], manager: 'zhao.director', position: 'team_lead', title: '机加二班班长', heads: ['machining_t2'] },
  { username: 'liu.teamlead', name: '刘洋', nameEn: 'Liu Yang', departments: ['assembly_t1'], roles: ['team_lead'], manager: 'huang.director', position: 'team_lead', title: '装配一班班长', heads: ['assembly_t1'] },
  { username: 'wang.operator', name: '王强', nameEn: 'Wang Qiang', departments: ['machining_t1'], roles: ['operator'], manager: 'li.teamlead', position: 'operator', title: '数控车工' },
  { username: 'zhang.operator', name: '张伟', nameEn: 'Zhang Wei', departments: ['machining_t1'], roles: ['operator'], manager: 'li.teamlead', position: 'operator', title: '数控铣工' },
  { username: 'yang.operator', name: '杨帆', nameEn: 'Yang Fan', departments: ['machining_t2'], roles: ['operator'], manager: 'ma.teamlead', position: 'operator', title: '加工中心操作工' },
  { username: 'zhu.operator', name: '朱磊', nameEn: 'Zhu Lei', departments: ['machining_t2'], roles: ['operator'], manager: 'ma.teamlead', position: 'operator', title: '磨工' },
  { username: 'lin.operator', name: '林峰', nameEn: 'Lin Feng', departments: ['assembly_t1'], roles: ['operator'], manager: 'liu.teamlead', position: 'operator', title: '装配工' },
  { username: 'gao.operator', name: '高洁', nameEn: 'Gao Jie', departments: ['assembly_t1'], roles: ['operator'], manager: 'liu.teamlead', position: 'operator', title: '装配工' },
  { username: 'jiang.operator', name: '蒋勇', nameEn: 'Jiang Yong', departments: ['assembly_t1'], roles: ['operator'], manager: 'liu.teamlead', position: 'operator', title: '调试工' },
  { username: 'pan.planner', name: '潘婷', nameEn: 'Pan Ting', departments: ['production'], roles: [], manager: 'chen.plant', position: 'specialist', title: '生产计划员' },
  { username: 'zhou.quality', name: '周涛', nameEn: 'Zhou Tao', departments: ['quality'], roles: ['quality_engineer'], manager: 'chen.plant', position: 'dept_manager', title: '质量部经理', heads: ['quality'] },
  { username: 'tang.quality', name: '唐亮', nameEn: 'Tang Liang', departments: ['quality'], roles: ['quality_engineer'], manager: 'zhou.quality', position: 'engineer', title: '质量工程师' },
  { username: 'luo.inspector', name: '罗静', nameEn: 'Luo Jing', departments: ['quality'], roles: ['inspector'], manager: 'zhou.quality', position: 'inspector', title: '来料检验员 (IQC)' },
  { username: 'song.inspector', name: '宋雪', nameEn: 'Song Xue', departments: ['quality'], roles: ['inspector'], manager: 'zhou.quality', position: 'inspector', title: '过程检验员 (IPQC)' },
  { username: 'guo.purchase', name: '郭鹏', nameEn: 'Guo Peng', departments: ['purchasing'], roles: ['purchaser'], manager: 'chen.plant', position: 'dept_manager', title: '采购部经理', heads: ['purchasing'] },
  { username: 'sun.purchase', name: '孙丽', nameEn: 'Sun Li', departments: ['purchasing'], roles: ['purchaser'], manager: 'guo.purchase', position: 'specialist', title: '采购员' },
  { username: 'xu.warehouse', name: '徐斌', nameEn: 'Xu Bin', departments: ['warehouse'], roles: ['warehouse_keeper'], manager: 'chen.plant', position: 'dept_manager', title: '仓储部经理', heads: ['warehouse'] },
  { username: 'hu.warehouse', name: '胡建', nameEn: 'Hu Jian', departments: ['warehouse'], roles: ['warehouse_keeper'], manager: 'xu.warehouse', position: 'warehouse_keeper', title: '仓管员' },
  { username: 'he.equipment', name: '何军', nameEn: 'He Jun', departments: ['equipment'], roles: ['equipment_engineer'], manager: 'chen.plant', position: 'dept_manager', title: '设备部经理', heads: ['equipment'] },
  { username: 'deng.equipment', name: '邓凯', nameEn: 'Deng Kai', departments: ['equipment'], roles: ['equipment_engineer'], manager: 'he.equipment', position: 'engineer', title: '设备工程师' },
  { username: 'wu.cfo', name: '吴敏', nameEn: 'Wu Min', departments: ['finance'], roles: ['cfo'], manager: 'chen.plant', position: 'cfo', title: '财务总监', heads: ['finance'] },
  { username: 'feng.finance', name: '冯晓', nameEn: 'Feng Xiao', departments: ['finance'], roles: ['finance'], manager: 'wu.cfo', position: 'specialist', title: '成本会计' },
  { username: 'cao.finance', name: '曹琳', nameEn: 'Cao Lin', departments: ['finance'], roles: ['finance'], manager: 'wu.cfo', position: 'specialist', title: '应付会计' },
  { username: 'zheng.it', name: '郑浩', nameEn: 'Zheng Hao', departments: ['it'], roles: ['it_admin'], manager: 'chen.plant', position: 'dept_manager', title: '信息部经理', heads: ['it'] },
  { username: 'xie.it', name: '谢宁', nameEn: 'Xie Ning', departments: ['it'], roles: [], manager: 'zheng.it', position: 'engineer', title: '系统工程师（低代码开发）' },
  { username: 'qian.audit', name: '钱芳', nameEn: 'Qian Fang', departments: ['plant'], roles: ['auditor'], manager: 'chen.plant', position: 'specialist', title: '内审专员' },
];

export type DemoSeedResult =
  | { seeded: true; departments: number; users: number; roles: number; positions: number; adminPlaced: boolean }
  | { seeded: false; reason: string };

export async function getCompany(sql: Sql): Promise<{ name: string; nameEn: string | null } | null> {
  const r = await sql.query<{ value: unknown }>('select value from system_settings where key = $1', [COMPANY_KEY]);
  const v = parseJson(r.rows[0]?.value as { name?: unknown; nameEn?: unknown } | string | undefined);
  if (!v || typeof v.name !== 'string') return null;
  return { name: v.name, nameEn: typeof v.nameEn === 'string' ? v.nameEn : null };
}

/** Why the demo must not be loaded, or null when it may. */
async function refusal(sql: Sql): Promise<string | null> {
  const seeded = await sql.query('select 1 from system_settings where key = $1', [DEMO_SEEDED_KEY]);
  if (seeded.rows.length > 0) return 'the demo plant was loaded before';
  const depts = await sql.query('select 1 from departments limit 1');
  if (depts.rows.length > 0) return 'the organisation already has departments; the demo plant is only loaded into an empty one';
  const taken = await sql.query<{ username: string }>('select username from users where username = any($1::text[]) order by username', [
    DEMO_USERS.map((u) => u.username),
  ]);
  if (taken.rows.length > 0) return `demo user names are taken already (${taken.rows.map((u) => u.username).join(', ')})`;
  return null;
}

/**
 * Loads the demo plant in one transaction with one summary audit entry, unless it was loaded
 * before or the organisation is not empty. Safe when several processes start at once.
 */
export async function seedDemoPlant(ctx: Pick<AppContext, 'db' | 'clock'>, actor: Actor = systemActor): Promise<DemoSeedResult> {
  const before = await refusal(ctx.db);
  if (before) return { seeded: false, reason: before };
  // One argon2 hash shared by every demo account: hashing 30 times would cost over a second.
  const passwordHash = await hashPassword(DEMO_PASSWORD);
  const at = ctx.clock.now();
  return ctx.db.tx(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [DEMO_LOCK]);
    const now = await refusal(tx);
    if (now) return { seeded: false, reason: now };
    return load(tx, actor, passwordHash, at);
  });
}

async function load(tx: Tx, actor: Actor, passwordHash: string, at: Date): Promise<DemoSeedResult> {
  await tx.query(
    `insert into roles (code, name, name_en, description)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::text[]) on conflict (code) do nothing`,
    [DEMO_ROLES.map((r) => r.code), DEMO_ROLES.map((r) => r.name), DEMO_ROLES.map((r) => r.nameEn), DEMO_ROLES.map((r) => r.description)],
  );
  const roleIds = await idsBy(tx, 'roles');

  await tx.query(
    `insert into positions (code, name, name_en, level)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::int[]) on conflict (code) do nothing`,
    [DEMO_POSITIONS.map((p) => p.code), DEMO_POSITIONS.map((p) => p.name), DEMO_POSITIONS.map((p) => p.nameEn), DEMO_POSITIONS.map((p) => p.level)],
  );
  const positionIds = await idsBy(tx, 'positions');

  const deptIds = new Map<string, string>();
  for (const [i, d] of DEMO_DEPARTMENTS.entries()) {
    const parentId = d.parent ? deptIds.get(d.parent)! : null;
    deptIds.set(d.code, await insertDepartment(tx, { code: d.code, name: d.name, nameEn: d.nameEn, parentId, sort: (i + 1) * 10 }));
  }

  const userIds = new Map<string, string>();
  for (const u of DEMO_USERS) {
    const r = await tx.query<{ id: string }>(
      `insert into users (username, display_name, display_name_en, email, password_hash, password_changed_at, manager_id, position_id, title, created_at, updated_at)
       values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$6,$6) returning id`,
      [
        u.username,
        u.name,
        u.nameEn,
        `${u.username}@hdjj.example.com`,
        passwordHash,
        at,
        u.manager ? userIds.get(u.manager)! : null,
        positionIds.get(u.position)!,
        u.title,
      ],
    );
    const id = r.rows[0]!.id;
    userIds.set(u.username, id);
    await tx.query(
      `insert into user_departments (user_id, department_id, is_primary)
       select $1, d, ord = 1 from unnest($2::uuid[]) with ordinality as t(d, ord)`,
      [id, u.departments.map((c) => deptIds.get(c)!)],
    );
    await tx.query('insert into user_roles (user_id, role_id) select $1, unnest($2::uuid[])', [
      id,
      ['employee', ...u.roles].map((c) => roleIds.get(c)!),
    ]);
    for (const code of u.heads ?? []) {
      await tx.query('update departments set head_user_id = $2 where id = $1', [deptIds.get(code)!, id]);
    }
  }

  // The administrator created on first start belongs to IT.
  const admin = (await tx.query<{ id: string }>(`select id from users where username = 'admin'`)).rows[0];
  if (admin) {
    await tx.query(
      `insert into user_departments (user_id, department_id, is_primary)
       values ($1, $2, not exists (select 1 from user_departments where user_id = $1 and is_primary))
       on conflict do nothing`,
      [admin.id, deptIds.get('it')!],
    );
    await tx.query(`insert into user_roles (user_id, role_id) select $1, id from roles where code in ('admin', 'employee') on conflict do nothing`, [admin.id]);
  }

  const summary = {
    company: DEMO_COMPANY.name,
    departments: DEMO_DEPARTMENTS.length,
    users: DEMO_USERS.length,
    roles: DEMO_ROLES.length,
    positions: DEMO_POSITIONS.length,
    adminPlaced: Boolean(admin),
  };
  await tx.query(
    `insert into system_settings (key, value, updated_at) values ($1, $2, $4), ($3, $5, $4)
     on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at`,
    [DEMO_SEEDED_KEY, JSON.stringify({ at: at.toISOString(), ...summary }), COMPANY_KEY, at, JSON.stringify(DEMO_COMPANY)],
  );
  await appendAudit(tx, actor, { action: 'demo.seeded', targetType: 'system', targetId: 'demo', detail: summary }, at);
  return { seeded: true, departments: summary.departments, users: summary.users, roles: summary.roles, positions: summary.positions, adminPlaced: summary.adminPlaced };
}

async function idsBy(tx: Tx, table: 'roles' | 'positions'): Promise<Map<string, string>> {
  const r = await tx.query<{ id: string; code: string }>(`select id, code from ${table}`);
  return new Map(r.rows.map((x) => [x.code, x.id]));
}

/** Platform bootstrap step: loads the demo plant on a new database unless told not to. */
export async function bootstrapOrg(ctx: AppContext, opts: BootstrapOptions): Promise<void> {
  if (!opts.seedDemo) return;
  const t0 = performance.now();
  const r = await seedDemoPlant(ctx);
  if (r.seeded) {
    ctx.log.info({ ...r, ms: Math.round(performance.now() - t0) }, 'loaded the demo plant');
    opts.announce(`Loaded the demo plant ${DEMO_COMPANY.name} (${r.users} people in ${r.departments} departments). Demo accounts sign in with the password ${DEMO_PASSWORD}.`);
  } else {
    ctx.log.debug({ reason: r.reason }, 'demo plant not loaded');
  }
}
