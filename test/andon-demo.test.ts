// The Andon demo data (catalog/production-exception/demo.yaml) loads through the records and
// workflow services: four weeks of exceptions in mixed stages, some escalated, closed ones
// submitted, all with plausible handling times; loading twice does nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPendingDemos } from '../src/server/catalog/index.ts';
import { createTestTrellis, type TestTrellis } from './helpers/trellis.ts';

let t: TestTrellis;
beforeAll(async () => {
  t = await createTestTrellis({ seedDemo: true });
});
afterAll(async () => {
  await t?.destroy();
});

describe('Andon demo data', () => {
  it('creates weeks of exceptions through the services, in mixed stages, and only once', async () => {
    const first = await loadPendingDemos(t.ctx);
    expect(first.andon?.records).toBe(6);
    expect(first.andon!.stories).toBeGreaterThanOrEqual(25);
    const db = t.ctx.db;
    const byStatus = await db.query<{ status: string; n: number }>(`select status, count(*)::int as n from wf_instances where app = 'andon' group by status order by status`);
    const counts = Object.fromEntries(byStatus.rows.map((r) => [r.status, r.n]));
    expect(counts.approved).toBeGreaterThanOrEqual(15);
    expect(counts.running).toBeGreaterThanOrEqual(3);
    // open ones wait at different stages
    const stages = await db.query<{ node_id: string }>(
      `select distinct k.node_id from wf_tasks k join wf_instances i on i.id = k.instance_id where i.app = 'andon' and k.status = 'pending'`,
    );
    expect(stages.rows.length).toBeGreaterThanOrEqual(2);
    // late responses escalated to the next level, as they would have
    const escalated = await db.query<{ n: number }>(`select count(*)::int as n from wf_tasks k join wf_instances i on i.id = k.instance_id where i.app = 'andon' and k.status = 'escalated'`);
    expect(escalated.rows[0]!.n).toBeGreaterThan(0);
    // closed exceptions are submitted documents spread over weeks, each handled in hours or days
    const closed = await db.query<{ created_at: Date; ended_at: Date }>(`select created_at, ended_at from wf_instances where app = 'andon' and status = 'approved'`);
    const spanDays = (Math.max(...closed.rows.map((r) => +new Date(r.created_at))) - Math.min(...closed.rows.map((r) => +new Date(r.created_at)))) / 86_400_000;
    expect(spanDays).toBeGreaterThan(10);
    for (const r of closed.rows) expect(+new Date(r.ended_at) - +new Date(r.created_at)).toBeGreaterThan(60 * 60_000);
    const submitted = await db.query<{ n: number }>(`select count(*)::int as n from x_andon__exception where status = 'submitted'`);
    expect(submitted.rows[0]!.n).toBe(counts.approved);
    // the closures are on their way to the ERP as deliveries
    const outbox = await db.query<{ n: number }>(`select count(*)::int as n from outbox where type = 'trellis.record.submitted' and source = '/trellis/apps/andon/exception'`);
    expect(outbox.rows[0]!.n).toBe(counts.approved);
    // every closed exception carries its stage times (stamped by the flow's set_fields nodes at
    // the story's times), in order, so the Andon board has real figures
    const stamps = await db.query<{ n: number; ordered: number }>(
      `select count(*)::int as n, count(*) filter (where occurred_at <= responded_at and responded_at <= contained_at and contained_at <= cause_found_at
         and cause_found_at <= prevented_at and prevented_at <= closed_at)::int as ordered from x_andon__exception where status = 'submitted'`,
    );
    expect(stamps.rows[0]).toEqual({ n: counts.approved, ordered: counts.approved });
    const open = await db.query<{ n: number }>(`select count(*)::int as n from x_andon__exception where status = 'draft' and closed_at is null and responded_at is not null`);
    expect(open.rows[0]!.n).toBeGreaterThan(0);
    expect(await loadPendingDemos(t.ctx)).toEqual({});
  });
});
