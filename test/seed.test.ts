// The demo plant: loaded once into an empty organisation, skippable, consistent; and the
// `trellis seed` / `trellis audit verify` commands.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/server/config.ts';
import { openDatabase, type Database } from '../src/server/db/index.ts';
import { createTrellis, repoRoot } from '../src/server/main.ts';
import { platformEngine } from '../src/server/platform/index.ts';
import { systemActor } from '../src/server/platform/context.ts';
import { verifyAuditChain } from '../src/server/platform/audit/index.ts';
import { BUILTIN_ROLES, createDepartment, DEMO_DEPARTMENTS, DEMO_ROLES, DEMO_PASSWORD, DEMO_USERS, getManagerChain, seedDemoPlant } from '../src/server/platform/org/index.ts';
import { createTestDatabase, testTarget } from './helpers/db.ts';
import { createTestTrellis, loginAs, TEST_ADMIN_PASSWORD, type TestTrellis } from './helpers/trellis.ts';

const run = promisify(execFile);

async function counts(t: TestTrellis): Promise<Record<string, unknown>> {
  const r = await t.ctx.db.query(
    `select (select count(*)::int from departments) as departments, (select count(*)::int from users where kind = 'person') as people,
            (select count(*)::int from roles) as roles, (select count(*)::int from positions) as positions,
            (select count(*)::int from user_roles) as grants, (select count(*)::int from user_departments) as memberships,
            (select count(*)::int from audit_log) as audit, (select count(*)::int from audit_log where action = 'demo.seeded') as seeded_entries`,
  );
  return r.rows[0]!;
}

describe('demo plant', () => {
  let t: TestTrellis;
  beforeAll(async () => {
    t = await createTestTrellis({ seedDemo: true });
  });
  afterAll(async () => {
    await t?.destroy();
  });

  it('loads departments, people, roles and positions once, with one audit entry', async () => {
    expect(await counts(t)).toMatchObject({ departments: 13, people: 31, positions: 10, seeded_entries: 1 });
    const roles = (await t.ctx.db.query<{ code: string }>('select code from roles')).rows.map((r) => r.code);
    expect(roles).toEqual(expect.arrayContaining([...BUILTIN_ROLES, ...DEMO_ROLES.map((r) => r.code)]));
    const company = await t.ctx.db.query<{ value: { name: string } }>(`select value from system_settings where key = 'org.company'`);
    expect(company.rows[0]!.value.name).toBe('华东精机零部件有限公司');
    expect((await verifyAuditChain(t.ctx.db)).ok).toBe(true);
  });

  it('a second bootstrap does nothing', async () => {
    const before = await counts(t);
    const messages: string[] = [];
    await platformEngine.bootstrap!(t.ctx, { seedDemo: true, announce: (m) => messages.push(m) });
    expect(await counts(t)).toEqual(before);
    expect(messages).toEqual([]);
    expect(await seedDemoPlant(t.ctx)).toEqual({ seeded: false, reason: 'the demo plant was loaded before' });
  });

  it('is consistent: one primary department each, heads, manager chains ending at the plant manager', async () => {
    const primaries = await t.ctx.db.query<{ username: string; n: number }>(
      `select u.username, count(*) filter (where ud.is_primary)::int as n from users u join user_departments ud on ud.user_id = u.id group by u.username`,
    );
    expect(primaries.rows).toHaveLength(DEMO_USERS.length + 1);
    expect(primaries.rows.every((r) => r.n === 1)).toBe(true);
    const heads = await t.ctx.db.query<{ code: string; head: string | null }>(
      'select d.code, u.username as head from departments d left join users u on u.id = d.head_user_id order by d.code',
    );
    expect(heads.rows.every((r) => r.head !== null)).toBe(true);
    expect(heads.rows.map((r) => r.code).sort()).toEqual(DEMO_DEPARTMENTS.map((d) => d.code).sort());
    const ids = new Map((await t.ctx.db.query<{ id: string; username: string }>('select id, username from users')).rows.map((r) => [r.username, r.id]));
    for (const u of DEMO_USERS) {
      const chain = (await getManagerChain(t.ctx.db, ids.get(u.username)!, 10)).map((m) => m.username);
      if (u.username === 'chen.plant') expect(chain).toEqual([]);
      else expect(chain.at(-1), u.username).toBe('chen.plant');
      if (u.roles.includes('operator')) expect(chain, u.username).toHaveLength(3);
    }
    const admin = await t.ctx.db.query<{ code: string; roles: string[] }>(
      `select d.code, array(select r.code from user_roles ur join roles r on r.id = ur.role_id where ur.user_id = u.id order by r.code) as roles
       from users u join user_departments ud on ud.user_id = u.id and ud.is_primary join departments d on d.id = ud.department_id where u.username = 'admin'`,
    );
    expect(admin.rows[0]).toEqual({ code: 'it', roles: ['admin', 'employee'] });
    // One hash for every demo account (hashed once at seed time), and it works.
    const hashes = await t.ctx.db.query<{ n: number }>('select count(distinct password_hash)::int as n from users where username = any($1::text[])', [
      DEMO_USERS.map((u) => u.username),
    ]);
    expect(hashes.rows[0]!.n).toBe(1);
    const s = await loginAs(t, 'wu.cfo', DEMO_PASSWORD);
    expect(s.username).toBe('wu.cfo');
    await loginAs(t, 'admin', TEST_ADMIN_PASSWORD);
  });
});

describe('skipping the demo', () => {
  it('leaves the organisation empty with seedDemo false or TRELLIS_SKIP_DEMO=1, and can load it later', { timeout: 120_000 }, async () => {
    const testDb = await createTestDatabase();
    const config = loadConfig({ TRELLIS_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, TRELLIS_LOG_LEVEL: 'silent', TRELLIS_SKIP_DEMO: '1' });
    const trellis = await createTrellis(config, { db: testDb.db, announce: () => {}, logger: pino({ level: 'silent' }) });
    try {
      const db = trellis.ctx.db;
      expect((await db.query('select 1 from departments')).rows.length).toBe(0);
      expect((await db.query(`select 1 from system_settings where key = 'demo.seeded'`)).rows.length).toBe(0);
      // Later on request (what `trellis seed` does):
      const r = await seedDemoPlant(trellis.ctx);
      expect(r).toMatchObject({ seeded: true, users: DEMO_USERS.length, adminPlaced: true });
    } finally {
      await trellis.close();
      await testDb.drop();
    }
  });

  it('never loads into an organisation that already has departments', { timeout: 120_000 }, async () => {
    const t = await createTestTrellis({ seedDemo: false });
    try {
      await t.ctx.db.tx((tx) => createDepartment({ tx, actor: systemActor }, { code: 'hq', name: '总部' }));
      await platformEngine.bootstrap!(t.ctx, { seedDemo: true, announce: () => {} });
      expect((await t.ctx.db.query<{ n: number }>('select count(*)::int as n from departments')).rows[0]!.n).toBe(1);
      expect((await seedDemoPlant(t.ctx)).seeded).toBe(false);
    } finally {
      await t.destroy();
    }
  });
});

describe('CLI: trellis seed and trellis audit verify', () => {
  it('seeds once, verifies, and reports a deleted tail with exit code 1', { timeout: 180_000 }, async () => {
    let env: Record<string, string>;
    let withDb: <T>(fn: (db: Database) => Promise<T>) => Promise<T>;
    let cleanup: () => Promise<void>;
    if (testTarget === 'postgres') {
      const testDb = await createTestDatabase();
      env = { DATABASE_URL: testDb.url! };
      withDb = (fn) => fn(testDb.db);
      cleanup = () => testDb.drop();
    } else {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-seed-'));
      env = { TRELLIS_DATA_DIR: dir };
      withDb = async (fn) => {
        const db = await openDatabase({ dataDir: dir });
        try {
          return await fn(db);
        } finally {
          await db.close();
        }
      };
      cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
    }
    const cli = async (...args: string[]) => {
      try {
        const r = await run(process.execPath, [path.join(repoRoot, 'src/server/cli.ts'), ...args], {
          cwd: repoRoot,
          env: { ...process.env, ...env, TRELLIS_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, TRELLIS_LOG_LEVEL: 'warn' },
        });
        return { code: 0, out: r.stdout + r.stderr };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, out: e.stdout + e.stderr };
      }
    };
    try {
      const first = await cli('seed');
      expect(first.out).toContain('Loaded the demo plant: 13 departments, 30 people');
      expect(first.out).toContain('admin placed in the IT department');
      expect(first.out).toContain(DEMO_PASSWORD);
      expect(first.code).toBe(0);
      const second = await cli('seed');
      expect(second).toEqual({ code: 0, out: expect.stringContaining('Demo plant not loaded: the demo plant was loaded before.') });

      const ok = await cli('audit', 'verify');
      expect(ok.code).toBe(0);
      expect(ok.out).toMatch(/^OK: the audit trail is intact \(\d+ entries checked\)\./m);

      const last = await withDb(async (db) => {
        const seq = (await db.query<{ seq: number }>('select max(seq)::int as seq from audit_log')).rows[0]!.seq;
        await db.query('delete from audit_log where seq = $1', [seq]);
        return seq;
      });
      const broken = await cli('audit', 'verify');
      expect(broken.code).toBe(1);
      expect(broken.out).toContain(`BROKEN at entry ${last}: entry ${last} is missing`);
    } finally {
      await cleanup();
    }
  });
});
