import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/server/db/index.ts';
import { emitEvent, eventsMigrations, OUTBOX_CHANNEL, readOutbox, toCloudEvent } from '../src/server/platform/events/index.ts';
import { createTestDatabase, testTarget, type TestDatabase } from './helpers/db.ts';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`transactional outbox (${testTarget})`, () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
    await migrate(t.db, eventsMigrations);
  });
  afterAll(async () => {
    await t.drop();
  });

  it('writes a CloudEvents 1.0 envelope in the caller transaction', async () => {
    const emitted = await t.db.tx((tx) =>
      emitEvent(tx, {
        type: 'trellis.record.created',
        source: '/trellis/apps/ecn/change_notice',
        subject: '7d0f8a2e-1111-4222-8333-944445555666',
        data: { amount: '12345678901234567890.12', n: 1 },
        time: new Date('2026-03-01T00:00:00Z'),
      }),
    );
    expect(emitted).toMatchObject({ specversion: '1.0', datacontenttype: 'application/json', partitionkey: '7d0f8a2e-1111-4222-8333-944445555666' });
    const rows = await readOutbox(t.db);
    expect(rows).toHaveLength(1);
    const ev = toCloudEvent(rows[0]!);
    expect(ev).toEqual({
      specversion: '1.0',
      id: emitted.id,
      source: '/trellis/apps/ecn/change_notice',
      type: 'trellis.record.created',
      subject: '7d0f8a2e-1111-4222-8333-944445555666',
      time: '2026-03-01T00:00:00.000Z',
      datacontenttype: 'application/json',
      data: { amount: '12345678901234567890.12', n: 1 },
      partitionkey: '7d0f8a2e-1111-4222-8333-944445555666',
    });
  });

  it('leaves no event behind when the transaction rolls back, and wakes listeners only on commit', async () => {
    const before = (await readOutbox(t.db, 0, 1000)).length;
    const heard: string[] = [];
    const stop = await t.db.listen(OUTBOX_CHANNEL, (p) => heard.push(p));
    try {
      await expect(
        t.db.tx(async (tx) => {
          await emitEvent(tx, { type: 'x.y', source: '/t', subject: 's', data: {} });
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      await wait(150);
      expect((await readOutbox(t.db, 0, 1000)).length).toBe(before);
      expect(heard).toHaveLength(0);
      await t.db.tx(async (tx) => {
        await emitEvent(tx, { type: 'x.y', source: '/t', subject: 'a', data: { i: 1 } });
        await emitEvent(tx, { type: 'x.y', source: '/t', subject: 'b', data: { i: 2 } });
      });
      for (let i = 0; i < 50 && heard.length === 0; i++) await wait(20);
      expect(heard.length).toBeGreaterThanOrEqual(1);
      expect((await readOutbox(t.db, 0, 1000)).length).toBe(before + 2);
    } finally {
      await stop();
    }
  });

  it('refuses a duplicate event id (idempotent re-emission)', async () => {
    const id = '0b7f3a52-6f55-4c4e-9a7b-1d2e3f405162';
    await t.db.tx((tx) => emitEvent(tx, { id, type: 'x.dup', source: '/t', data: {} }));
    await expect(t.db.tx((tx) => emitEvent(tx, { id, type: 'x.dup', source: '/t', data: {} }))).rejects.toThrow();
  });

  it('keeps only the indexes something reads: every index is work on each event written', async () => {
    const r = await t.db.query<{ indexname: string }>(`select indexname from pg_indexes where tablename = 'outbox' order by indexname`);
    // the primary key (replay by id) and the event id's uniqueness; no by-type or by-partition index
    expect(r.rows.map((x) => x.indexname)).toEqual(['outbox_event_id_key', 'outbox_pkey']);
  });
});
