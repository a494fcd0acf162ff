// The relay's pacing under a steady flow of events (decision 0007, measured limits): a round that
// found a partial batch is followed by the next one no sooner than `paceMs` after its start, so a
// stream of events is relayed in few rounds; a backlog of full batches is not held back, and stop()
// does not wait out a held round. Nothing subscribes here: the relay still marks every event relayed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Relay, relayOnce } from '../src/server/integration/relay.ts';
import { subscribe } from '../src/server/integration/subscribers.ts';
import { emitEvent } from '../src/server/platform/events/index.ts';
import { testTarget } from './helpers/db.ts';
import { createTestTrellis, type TestTrellis } from './helpers/trellis.ts';

let t: TestTrellis;

beforeAll(async () => {
  t = await createTestTrellis();
});
afterAll(async () => {
  await t?.destroy();
});

const unrelayed = async () => Number((await t.ctx.db.query<{ n: number }>('select count(*)::int as n from outbox where relayed_at is null')).rows[0]!.n);
const emit = (i: number) =>
  t.ctx.db.tx((tx) => emitEvent(tx, { type: 'test.relay.paced', source: '/test/relay', subject: `doc-${i % 3}`, data: { i } }));

describe(`relay pacing (${testTarget})`, () => {
  it('holds the round after a partial batch for the pace, relays what gathered in one go, and stops without waiting', async () => {
    await t.ctx.db.query('update outbox set relayed_at = now() where relayed_at is null'); // start-up's own events
    const relay = new Relay(t.ctx, { pollMs: 600_000, paceMs: 600_000, batchSize: 500 });
    await relay.start(); // its first round finds nothing
    try {
      await emit(0); // after a quiet spell: relayed at once
      await expect.poll(unrelayed, { timeout: 20_000, interval: 20 }).toBe(0);
      const first = relay.relayed;
      // a partial batch was just relayed: the next round may start only a pace (10 minutes) later
      for (let i = 1; i <= 4; i++) await emit(i);
      expect(await unrelayed()).toBe(4);
      expect(relay.relayed).toBe(first);
    } finally {
      await relay.stop(); // ends the held round at once
    }
    expect(await unrelayed()).toBe(4);
  });

  it('relays a backlog of full batches back to back, without pacing', async () => {
    await t.ctx.db.query('update outbox set relayed_at = now() where relayed_at is null');
    for (let i = 0; i < 12; i++) await emit(i);
    const relay = new Relay(t.ctx, { pollMs: 600_000, paceMs: 600_000, batchSize: 5 });
    await relay.start(); // the first round runs at once: 5, 5 (full: no pause), then 2
    try {
      await expect.poll(unrelayed, { timeout: 20_000, interval: 20 }).toBe(0);
      expect(relay.relayed).toBe(12);
    } finally {
      await relay.stop();
    }
  });

  it('marks events nobody takes as relayed with no delivery, and gives the taken ones theirs with their data', async () => {
    await t.ctx.db.query('update outbox set relayed_at = now() where relayed_at is null');
    const unsubscribe = subscribe('relay-pace-test', 'test.relay.taken', async () => {});
    try {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const ev = await t.ctx.db.tx((tx) =>
          emitEvent(tx, { type: i % 3 === 0 ? 'test.relay.taken' : 'test.relay.ignored', source: '/test/relay', subject: `doc-${i}`, data: { i, note: '数据' } }),
        );
        ids.push(ev.id);
      }
      expect(await relayOnce(t.ctx.db, 500)).toBe(6);
      expect(await unrelayed()).toBe(0);
      const d = await t.ctx.db.query<{ event_id: string; event_type: string; subscriber: string }>(
        `select event_id::text as event_id, event_type, subscriber from integration_deliveries where event_id = any($1::uuid[]) order by outbox_id`,
        [ids],
      );
      expect(d.rows).toEqual([
        { event_id: ids[0], event_type: 'test.relay.taken', subscriber: 'relay-pace-test' },
        { event_id: ids[3], event_type: 'test.relay.taken', subscriber: 'relay-pace-test' },
      ]);
    } finally {
      unsubscribe();
    }
  });
});
