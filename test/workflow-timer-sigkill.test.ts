// A timer worker process killed with SIGKILL after claiming a due SLA timer: the timer still
// fires exactly once, by another worker, after the dead one's lease has expired.
//
// The doomed worker is a real child process (test/helpers/timer-child.ts) running the product's
// TimerWorker against the same database:
// - PostgreSQL: the child claims the reminder and enters the effect transaction; that transaction
//   locks the timer row and then waits for the instance row, which this test holds locked. The
//   test sees the child's backend waiting on the lock (pg_stat_activity) and the timer row locked
//   (FOR UPDATE NOWAIT fails), then SIGKILLs the child mid-transaction and releases its lock; the
//   server rolls the orphaned transaction back.
// - PGlite: only one process may open a data folder, so the child only claims (the claim commits
//   to disk) and is SIGKILLed before its effect; the test then reopens the folder.
// Both: while the lease holds nobody fires the timer; after it the survivor fires it once: one
// reminder notification, one `reminded` trail event, the timer row fired by the survivor.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/server/config.ts';
import { openDatabase, type Database } from '../src/server/db/index.ts';
import { createTrellis } from '../src/server/main.ts';
import type { Actor } from '../src/server/platform/context.ts';
import { loadPrincipalData } from '../src/server/platform/org/index.ts';
import { TimerWorker, workflowService } from '../src/server/workflow/index.ts';
import { createTestDatabase, testTarget, type TestDatabase } from './helpers/db.ts';
import { approver, flow, ManualClock, users } from './workflow-helpers.ts';

const LEASE_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls a condition (real time) until it holds; fails with `what` after 60 s. */
async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>): Promise<T> {
  const end = Date.now() + 60_000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe(`a timer worker process killed by SIGKILL between claim and effect (${testTarget})`, () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn().catch(() => {});
  });

  it('fires exactly once, by another worker, after the lease expires', { timeout: 180_000 }, async () => {
    const clock = new ManualClock();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-timer-kill-'));
    cleanup.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    let testDb: TestDatabase | null = null;
    let db: Database;
    if (testTarget === 'postgres') {
      testDb = await createTestDatabase();
      cleanup.push(() => testDb!.drop());
      db = testDb.db;
    } else {
      db = await openDatabase({ dataDir: path.join(dir, 'pgdata') });
    }
    const config = loadConfig({ TRELLIS_ADMIN_PASSWORD: 'Admin-Pass-2026!', TRELLIS_LOG_LEVEL: 'silent', TRELLIS_DATA_DIR: path.join(dir, 'files') });
    const trellis = await createTrellis(config, { db, seedDemo: true, clock, announce: () => {}, logger: pino({ level: 'silent' }) });

    // an approval with "remind after 10 minutes", started by a demo operator
    const userId = async (username: string) => (await db.query<{ id: string }>('select id from users where username = $1', [username])).rows[0]!.id;
    const wangId = await userId('wang.operator');
    const liId = await userId('li.teamlead');
    const pd = await loadPrincipalData(db, wangId);
    const wang: Actor = {
      principal: { kind: 'user', userId: wangId, username: 'wang.operator', displayName: 'wang', roles: pd.roles, departmentIds: pd.departmentIds, primaryDepartmentId: pd.primaryDepartmentId, scopes: null },
      meta: { ip: '10.9.9.9', userAgent: 'vitest', requestId: null },
    };
    const { instanceId } = await workflowService.start(trellis.ctx, wang, {
      app: 'demo',
      appVersion: 1,
      workflow: flow('sigkill', approver('a', users('li.teamlead'), { sla: { remind: { after: 10 } } })),
      recordId: randomUUID(),
      record: {},
    });
    const timer = (await db.query<{ id: number }>(`select id from wf_timers where instance_id = $1 and kind = 'remind'`, [instanceId])).rows[0]!;
    clock.advanceMinutes(10); // due now

    // ---- the doomed worker: a child process
    const holder = testDb ? new pg.Client({ connectionString: testDb.url }) : null;
    if (holder) {
      await holder.connect();
      cleanup.push(() => holder.end());
      // the effect will wait for this lock, inside its transaction
      await holder.query('begin');
      await holder.query('select id from wf_instances where id = $1 for update', [instanceId]);
    } else {
      await trellis.close();
      await db.close(); // PGlite: one process per data folder
    }
    const appName = `trellis-doomed-${process.pid}`;
    const childUrl = testDb ? `${testDb.url}${testDb.url!.includes('?') ? '&' : '?'}application_name=${appName}` : undefined;
    const out: string[] = [];
    const child: ChildProcess = spawn(process.execPath, [path.resolve('test/helpers/timer-child.ts')], {
      env: {
        ...process.env,
        CHILD_NOW: clock.now().toISOString(),
        CHILD_LEASE_MS: String(LEASE_MS),
        CHILD_MODE: testDb ? 'pass' : 'claim-only',
        ...(childUrl ? { CHILD_DB_URL: childUrl } : { CHILD_DATA_DIR: path.join(dir, 'pgdata') }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    cleanup.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    child.stdout!.on('data', (b: Buffer) => out.push(b.toString()));
    child.stderr!.on('data', (b: Buffer) => out.push(b.toString()));
    const alive = () => {
      if (child.exitCode !== null) throw new Error(`the child exited early: ${out.join('')}`);
    };

    if (holder) {
      // the child's effect transaction is waiting for the instance lock...
      await until('the child to wait inside its effect transaction', async () => {
        alive();
        // asked on another connection: inside the holder's transaction the activity view is a snapshot
        const r = await db.query<{ wait_event_type: string | null; query: string }>(
          `select wait_event_type, query from pg_stat_activity where application_name = $1 and state = 'active' and wait_event_type = 'Lock'`,
          [appName],
        );
        return r.rows.find((x) => /from wf_instances/.test(x.query));
      });
      // ...having claimed the timer and locked its row in that transaction
      const claimed = await db.query<{ locked_by: string; attempts: number; fired_at: Date | null }>('select locked_by, attempts, fired_at from wf_timers where id = $1', [timer.id]);
      expect(claimed.rows[0]).toMatchObject({ locked_by: 'doomed-child', attempts: 1, fired_at: null });
      await expect(db.query('select id from wf_timers where id = $1 for update nowait', [timer.id])).rejects.toMatchObject({ code: '55P03' });
    } else {
      await until('the child to claim the timer', async () => {
        alive();
        return out.join('').includes(`claimed ${timer.id}`);
      });
    }

    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(out.join('')).not.toMatch(/fired|error/);

    if (holder) {
      await holder.query('rollback'); // the orphaned transaction gets the lock, cannot answer, is rolled back
      await until('the killed worker’s backend to end', async () => {
        const r = await db.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where application_name = $1', [appName]);
        return r.rows[0]!.n === 0;
      });
    } else {
      db = await openDatabase({ dataDir: path.join(dir, 'pgdata') });
      cleanup.push(() => db.close());
    }

    const row = async () =>
      (await db.query<{ locked_by: string; attempts: number; fired_at: Date | null; lease_until: Date; payload: { result?: string } }>('select * from wf_timers where id = $1', [timer.id])).rows[0]!;
    const reminders = async () =>
      (await db.query<{ n: number }>(`select count(*)::int as n from wf_notifications where user_id = $1 and kind = 'reminder' and instance_id = $2`, [liId, instanceId])).rows[0]!.n;
    const reminded = async () => (await db.query<{ n: number }>(`select count(*)::int as n from wf_events where instance_id = $1 and type = 'reminded'`, [instanceId])).rows[0]!.n;

    // the dead worker's claim survived it: leased to the child, not fired
    const before = await row();
    expect(before).toMatchObject({ locked_by: 'doomed-child', attempts: 1, fired_at: null });
    expect(new Date(before.lease_until).getTime()).toBe(clock.now().getTime() + LEASE_MS);
    expect(await reminders()).toBe(0);
    expect(await reminded()).toBe(0);

    // while the lease holds, another worker leaves it alone
    const survivor = new TimerWorker(db, clock, { workerId: 'survivor', leaseMs: LEASE_MS });
    expect(await survivor.runOnce()).toBe(0);
    expect(await reminders()).toBe(0);

    // after the lease: fired exactly once
    clock.advanceMs(LEASE_MS + 1_000);
    expect(await survivor.runOnce()).toBe(1);
    expect(await survivor.runOnce()).toBe(0);
    expect(await new TimerWorker(db, clock, { workerId: 'third' }).runOnce()).toBe(0);
    expect(await reminders()).toBe(1);
    expect(await reminded()).toBe(1);
    const after = await row();
    expect(after).toMatchObject({ locked_by: 'survivor', attempts: 2, payload: { result: 'reminded' } });
    expect(new Date(after.fired_at!).getTime()).toBe(clock.now().getTime());
    const left = await db.query('select id from wf_timers where instance_id = $1 and fired_at is null', [instanceId]);
    expect(left.rows).toHaveLength(0);

    if (testDb) await trellis.close();
  });
});
