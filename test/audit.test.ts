// The audit trail: reading it (filters, keyset paging, who may) and verifying it. Editing one
// entry, deleting one in the middle, or deleting the newest one is each reported, both by
// `verifyAuditChain` and by GET /api/v1/audit/verify.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, sealAudit, startAuditSealer, verifyAuditChain, readAuditHead, AUDIT_HEAD_KEY, type AuditRow } from '../src/server/platform/audit/index.ts';
import { systemActor } from '../src/server/platform/context.ts';
import { DEMO_PASSWORD } from '../src/server/platform/org/index.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';

let t: TestTrellis;
let auditor: TestSession;
let operator: TestSession;

async function append(n: number, action = 'test.event'): Promise<void> {
  for (let i = 0; i < n; i++) {
    await t.ctx.db.tx((tx) => appendAudit(tx, systemActor, { action, targetType: 'thing', targetId: String(i), detail: { i, note: '试验' } }));
  }
  // Entries are chained by the sealer after commit; tampering tests start from sealed entries.
  await sealAudit(t.ctx.db);
}

type Saved = { rows: AuditRow[]; head: unknown };

/** Tamper tests restore the trail afterwards so each starts from an intact chain. */
async function save(): Promise<Saved> {
  const rows = (await t.ctx.db.query<AuditRow>('select * from audit_log order by seq')).rows;
  const head = (await t.ctx.db.query('select value from system_settings where key = $1', [AUDIT_HEAD_KEY])).rows[0]?.value;
  return { rows, head };
}
let saved: Saved | undefined;
async function restore(s: Saved): Promise<void> {
  await t.ctx.db.tx(async (tx) => {
    await tx.query('delete from audit_log');
    for (const r of s.rows) {
      await tx.query(
        `insert into audit_log (seq, at, actor_id, actor_name, action, target_type, target_id, ip, user_agent, request_id, detail, prev_hash, hash, chain_pos)
         values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`,
        [r.seq, r.at, r.actor_id, r.actor_name, r.action, r.target_type, r.target_id, r.ip, r.user_agent, r.request_id, JSON.stringify(r.detail), r.prev_hash, r.hash, r.chain_pos],
      );
    }
    await tx.query(
      `insert into system_settings (key, value) values ($1, $2) on conflict (key) do update set value = excluded.value`,
      [AUDIT_HEAD_KEY, JSON.stringify(s.head)],
    );
  });
}

async function lastSeq(): Promise<number> {
  // Positions in the hash chain (entries are sealed in order; `seq` may have gaps from rollbacks).
  return (await t.ctx.db.query<{ seq: number }>('select max(chain_pos)::int as seq from audit_log')).rows[0]!.seq;
}

async function apiVerify(): Promise<{ ok: boolean; checked: number; brokenAt?: number; reason?: string }> {
  const r = await auditor.inject('/api/v1/audit/verify');
  expect(r.statusCode).toBe(200);
  return r.json();
}

beforeAll(async () => {
  t = await createTestTrellis({ seedDemo: true });
  auditor = await loginAs(t, 'qian.audit', DEMO_PASSWORD);
  operator = await loginAs(t, 'wang.operator', DEMO_PASSWORD);
  await append(12);
});
afterEach(async () => {
  if (saved) await restore(saved);
  saved = undefined;
  expect((await verifyAuditChain(t.ctx.db)).ok).toBe(true);
});
afterAll(async () => {
  await t?.destroy();
});

describe('verify', () => {
  it('reports an intact chain and records its head', async () => {
    const r = await verifyAuditChain(t.ctx.db);
    expect(r).toEqual({ ok: true, checked: await lastSeq() });
    expect(await apiVerify()).toMatchObject({ ok: true });
    const head = await readAuditHead(t.ctx.db);
    const last = await t.ctx.db.query<{ pos: number; hash: string }>('select chain_pos::int as pos, hash from audit_log order by chain_pos desc limit 1');
    expect(head).toEqual(last.rows[0]);
    // Verifying with small pages walks the same chain.
    expect(await verifyAuditChain(t.ctx.db, 3)).toEqual(r);
  });

  it('detects an edited detail', async () => {
    saved = await save();
    await t.ctx.db.query(`update audit_log set detail = jsonb_set(detail, '{note}', '"改过"') where chain_pos = 5`);
    expect(await verifyAuditChain(t.ctx.db)).toMatchObject({ ok: false, brokenAt: 5, checked: 4, reason: 'entry 5 was altered' });
    expect(await apiVerify()).toMatchObject({ ok: false, brokenAt: 5 });
  });

  it('detects a broken link between entries', async () => {
    saved = await save();
    await t.ctx.db.query(`update audit_log set prev_hash = repeat('a', 64) where chain_pos = 7`);
    expect(await verifyAuditChain(t.ctx.db)).toMatchObject({ ok: false, brokenAt: 7, reason: 'entry 7 does not link to entry 6' });
  });

  it('detects a deleted entry in the middle', async () => {
    saved = await save();
    await t.ctx.db.query('delete from audit_log where chain_pos = 6');
    expect(await verifyAuditChain(t.ctx.db)).toMatchObject({ ok: false, brokenAt: 6, reason: 'entry 6 is missing' });
    expect(await apiVerify()).toMatchObject({ ok: false, brokenAt: 6 });
  });

  it('detects a deleted first entry', async () => {
    saved = await save();
    await t.ctx.db.query('delete from audit_log where chain_pos = 1');
    expect(await verifyAuditChain(t.ctx.db)).toMatchObject({ ok: false, brokenAt: 1 });
  });

  it('detects a deleted last entry, and several', async () => {
    saved = await save();
    const last = await lastSeq();
    await t.ctx.db.query('delete from audit_log where chain_pos = $1', [last]);
    expect(await verifyAuditChain(t.ctx.db)).toMatchObject({ ok: false, brokenAt: last, checked: last - 1 });
    expect(await apiVerify()).toMatchObject({ ok: false, brokenAt: last });
    await t.ctx.db.query('delete from audit_log where chain_pos > $1', [last - 4]);
    const r = await verifyAuditChain(t.ctx.db);
    expect(r).toMatchObject({ ok: false, brokenAt: last - 3 });
    expect(r.reason).toContain(`entries ${last - 3} to ${last} are missing`);
  });

  it('keeps a deleted tail visible after new entries are appended', async () => {
    saved = await save();
    const last = await lastSeq();
    await t.ctx.db.query('delete from audit_log where chain_pos = $1', [last]);
    await append(2, 'test.after_tamper');
    // The next entry continues from the recorded head, so the hole stays a hole.
    const seqs = (await t.ctx.db.query<{ seq: number }>('select chain_pos::int as seq from audit_log where chain_pos >= $1 order by chain_pos', [last - 1])).rows.map((r) => r.seq);
    expect(seqs).toEqual([last - 1, last + 1, last + 2]);
    expect(await verifyAuditChain(t.ctx.db)).toMatchObject({ ok: false, brokenAt: last, reason: `entry ${last} is missing` });
  });

  it('detects a removed or forged chain head', async () => {
    saved = await save();
    await t.ctx.db.query('delete from system_settings where key = $1', [AUDIT_HEAD_KEY]);
    expect(await verifyAuditChain(t.ctx.db)).toMatchObject({ ok: false, reason: expect.stringContaining('chain head') });
    await restore(saved);
    await t.ctx.db.query(`update system_settings set value = jsonb_set(value, '{hash}', to_jsonb(repeat('b', 64))) where key = $1`, [AUDIT_HEAD_KEY]);
    expect(await verifyAuditChain(t.ctx.db)).toMatchObject({ ok: false, reason: expect.stringContaining('recorded chain head') });
  });

  it('is for auditors and admins only', async () => {
    expect((await operator.inject('/api/v1/audit/verify')).statusCode).toBe(403);
    expect((await operator.inject('/api/v1/audit')).statusCode).toBe(403);
    expect((await t.app.inject('/api/v1/audit/verify')).statusCode).toBe(401);
    const admin = await loginAs(t);
    expect((await admin.inject('/api/v1/audit/verify')).statusCode).toBe(200);
  });
});

describe('reading the trail', () => {
  it('filters by action prefix, target, actor and time, newest first', async () => {
    const r = await auditor.inject('/api/v1/audit?action=test&limit=100');
    expect(r.statusCode).toBe(200);
    const items = r.json().items as Array<{ seq: number; action: string; detail: { i: number } }>;
    expect(items.every((e) => e.action.startsWith('test.'))).toBe(true);
    expect(items.map((e) => e.seq)).toEqual([...items.map((e) => e.seq)].sort((a, b) => b - a));
    const exact = (await auditor.inject('/api/v1/audit?action=test.event&targetType=thing&targetId=3')).json().items;
    expect(exact).toHaveLength(1);
    expect(exact[0].detail).toEqual({ i: 3, note: '试验' });
    expect((await auditor.inject('/api/v1/audit?action=tes')).json().items).toEqual([]);
    const seeded = (await auditor.inject('/api/v1/audit?actor=system&action=demo.seeded')).json().items;
    expect(seeded).toHaveLength(1);
    expect(seeded[0].detail).toMatchObject({ users: 30, departments: 13 });
    const logins = (await auditor.inject('/api/v1/audit?actor=qian.audit&action=auth.login')).json().items;
    expect(logins.length).toBeGreaterThanOrEqual(1);
    const future = (await auditor.inject('/api/v1/audit?from=2999-01-01T00:00:00Z')).json().items;
    expect(future).toEqual([]);
    const past = (await auditor.inject('/api/v1/audit?to=2000-01-01T00:00:00%2B08:00')).json().items;
    expect(past).toEqual([]);
  });

  it('pages with a keyset cursor without gaps or repeats', async () => {
    const seen: number[] = [];
    let before: number | null = null;
    for (let page = 0; page < 50; page++) {
      const r = await auditor.inject(`/api/v1/audit?limit=4${before ? `&before=${before}` : ''}`);
      const body = r.json() as { items: Array<{ seq: number }>; nextBefore: number | null };
      seen.push(...body.items.map((e) => e.seq));
      before = body.nextBefore;
      if (before === null) break;
    }
    const all = (await t.ctx.db.query<{ seq: number }>('select seq::int as seq from audit_log order by seq desc')).rows.map((r) => r.seq);
    expect(seen).toEqual(all.filter((s) => s <= seen[0]!));
    expect(seen.at(-1)).toBe(all.at(-1));
  });

  it('refuses bad filters with a 400', async () => {
    for (const q of ['from=yesterday', 'before=0', 'limit=100000', 'action=DROP%20TABLE', 'actor=a%00b', 'nope=1']) {
      const r = await auditor.inject(`/api/v1/audit?${q}`);
      expect(r.statusCode, q).toBe(400);
    }
  });
});

describe('background sealer', () => {
  const unsealed = async () => Number((await t.ctx.db.query<{ n: number }>('select count(*)::int as n from audit_log where chain_pos is null')).rows[0]!.n);
  const commit = (i: number) => t.ctx.db.tx((tx) => appendAudit(tx, systemActor, { action: 'test.sealer', targetType: 'thing', targetId: String(i) }));

  it('seals a stream of commits after commit, without being called', async () => {
    const errors: unknown[] = [];
    const stop = startAuditSealer(t.ctx.db, (err) => errors.push(err), 60_000, 20);
    try {
      for (let i = 0; i < 25; i++) await commit(i);
      await expect.poll(unsealed, { timeout: 20_000, interval: 50 }).toBe(0);
    } finally {
      await stop();
    }
    expect(errors).toEqual([]);
    expect((await verifyAuditChain(t.ctx.db)).ok).toBe(true);
  });

  it('under a steady flow seals at most once per pace: later commits wait for the next round, and stop() does not wait for it', async () => {
    const errors: unknown[] = [];
    const stop = startAuditSealer(t.ctx.db, (err) => errors.push(err), 600_000, 600_000);
    try {
      await commit(0); // wakes the sealer: the first round runs at once
      await expect.poll(unsealed, { timeout: 20_000, interval: 20 }).toBe(0);
      // that round sealed something, so the next may start only a pace (here 10 minutes) later:
      // these commits' wake-ups are held, and their entries stay unsealed for now
      for (let i = 1; i <= 5; i++) await commit(i);
      expect(await unsealed()).toBe(5);
    } finally {
      await stop(); // clears the held round instead of waiting 10 minutes for it
    }
    expect(errors).toEqual([]);
    expect(await sealAudit(t.ctx.db)).toBe(5);
    expect(await unsealed()).toBe(0);
  });
});
