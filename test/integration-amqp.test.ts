// RabbitMQ driver against the real broker on 127.0.0.1:5672 (guest/guest): topology (quorum queue
// with dead-lettering), confirms, persistent messages with the idempotency key as message id,
// reconnect after the broker closed the connection, batches, and a consumer that acks only after
// its database commit and dead-letters permanent failures. Unique names per run; deleted after.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/server/integration/drivers/index.ts';
import { getDriver } from '../src/server/integration/drivers/index.ts';
import {
  amqpConfigSchema,
  consumeAmqp,
  deadLetterNames,
  openAmqpDestination,
  PermanentMessageError,
  type AmqpConfig,
} from '../src/server/integration/drivers/amqp.ts';
import type { DeliveryRequest } from '../src/server/integration/types.ts';
import { createTestDatabase, testTarget, type TestDatabase } from './helpers/db.ts';

const run = promisify(execFile);
const log = pino({ level: 'silent' });
const URL_ = 'amqp://127.0.0.1:5672/';
const secrets = { username: 'guest', password: 'guest' };
const suffix = randomBytes(4).toString('hex');
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

function request(n: number, key = `idem-${suffix}-${n}`): DeliveryRequest {
  return {
    deliveryId: randomUUID(),
    idempotencyKey: key,
    partitionKey: `doc-${n % 3}`,
    attempt: 1,
    payload: { n, amount: '1234.50' },
    event: {
      specversion: '1.0',
      id: randomUUID(),
      source: '/trellis/test',
      type: 'trellis.test.sent',
      subject: `doc-${n % 3}`,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: { n },
    },
  };
}

async function until<T>(fn: () => Promise<T | undefined | null | false>, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await wait(50);
  }
}

describe(`AMQP driver (RabbitMQ, ${testTarget})`, () => {
  let admin: ChannelModel;
  let ch: Channel;
  const exchanges: string[] = [];
  const queues: string[] = [];
  const config = (name: string, extra: Partial<AmqpConfig> = {}): AmqpConfig => {
    const c = amqpConfigSchema.parse({ url: URL_, exchange: `trellis.test.${suffix}.${name}`, queue: `trellis.test.${suffix}.${name}.q`, ...extra });
    exchanges.push(c.exchange, deadLetterNames(c).exchange);
    if (c.queue) queues.push(c.queue, deadLetterNames(c).queue!);
    return c;
  };

  beforeAll(async () => {
    admin = await amqp.connect(URL_);
    ch = await admin.createChannel();
    ch.on('error', () => {});
  });
  afterAll(async () => {
    const c = await admin.createChannel();
    for (const q of queues) await c.deleteQueue(q).catch(() => {});
    for (const e of exchanges) await c.deleteExchange(e).catch(() => {});
    await admin.close();
  });

  it('is registered with a strict config schema and secrets kept apart', () => {
    const d = getDriver('amqp')!;
    expect(d.label.zh).toContain('RabbitMQ');
    expect(d.secretSchema).toBeDefined();
    expect(d.configSchema.safeParse({ url: 'amqp://guest:guest@127.0.0.1/', exchange: 'x' }).success).toBe(false);
    expect(d.configSchema.safeParse({ url: URL_, exchange: 'x', password: 'p' }).success).toBe(false);
    expect(d.configSchema.safeParse({ url: URL_, exchange: 'bad name' }).success).toBe(false);
  });

  it('declares a quorum queue with a dead-letter queue and publishes persistent messages keyed by the idempotency key', async () => {
    const cfg = config('topo');
    const dest = await openAmqpDestination(cfg, secrets, { log, connectionName: `trellis-test-${suffix}` });
    try {
      const out = await dest.send(request(1));
      expect(out).toMatchObject({ ok: true });
      const msg = await until(async () => ch.get(cfg.queue!, { noAck: true }), 'the message');
      expect(msg.properties.messageId).toBe(`idem-${suffix}-1`);
      expect(msg.properties.deliveryMode).toBe(2);
      expect(msg.properties.headers?.['ce-type']).toBe('trellis.test.sent');
      expect(JSON.parse(msg.content.toString())).toEqual({ n: 1, amount: '1234.50' });
      // The queue really is a quorum queue: re-declaring it as classic is refused by the broker.
      const probe = await admin.createChannel();
      probe.on('error', () => {});
      const dlx = deadLetterNames(cfg).exchange;
      await expect(probe.assertQueue(cfg.queue!, { durable: true, arguments: { 'x-dead-letter-exchange': dlx } })).rejects.toThrow(/PRECONDITION_FAILED.*x-queue-type/);
      const test = await dest.test();
      expect(test.ok).toBe(true);
    } finally {
      await dest.close();
    }
  });

  it('reports an unroutable message (no bound queue) and a wrong password as errors a person can act on', async () => {
    const cfg = config('noroute', { queue: undefined });
    const dest = await openAmqpDestination(cfg, secrets, { log, connectionName: `trellis-test-${suffix}` });
    try {
      const out = await dest.send(request(2));
      expect(out).toMatchObject({ ok: false, retryable: true });
      expect(!out.ok && out.error).toMatch(/No queue is bound/);
    } finally {
      await dest.close();
    }
    const bad = await openAmqpDestination(cfg, { username: 'guest', password: 'wrong-secret-xyz' }, { log, connectionName: 'x' });
    const out = await bad.send(request(3));
    expect(out.ok).toBe(false);
    expect(JSON.stringify(out)).not.toContain('wrong-secret-xyz');
    expect((await bad.test()).ok).toBe(false);
    await bad.close();
  });

  it('reconnects after the broker closed its connection: the next send succeeds', async () => {
    const cfg = config('reconnect');
    const name = `trellis-test-reconnect-${suffix}`;
    const dest = await openAmqpDestination(cfg, secrets, { log, connectionName: name });
    try {
      expect((await dest.send(request(10))).ok).toBe(true);
      expect(dest.connectionsOpened).toBe(1);
      // Close our connection from the server side (as a broker restart does), not anyone else's.
      const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties'], { timeout: 30_000 });
      const line = stdout.split('\n').find((l) => l.includes(name));
      expect(line, 'our connection is listed').toBeTruthy();
      await run('rabbitmqctl', ['close_connection', line!.split('\t')[0]!, 'test: server-side close'], { timeout: 30_000 });
      // In flight when the connection drops, or the first after it: a retryable error, never a false success.
      const outcomes = [];
      for (let i = 11; i < 14; i++) outcomes.push(await dest.send(request(i)));
      const failed = outcomes.filter((o) => !o.ok);
      for (const f of failed) expect(f).toMatchObject({ ok: false, retryable: true });
      expect(outcomes.at(-1)!.ok).toBe(true);
      expect(dest.connectionsOpened).toBe(2);
      // Every message confirmed as sent is in the queue.
      const got = new Set<string>();
      await until(async () => {
        const m = await ch.get(cfg.queue!, { noAck: true });
        if (m) got.add(String(m.properties.messageId));
        return !m && got.size > 0;
      }, 'the queue drained');
      for (let i = 0; i < outcomes.length; i++) if (outcomes[i]!.ok) expect(got.has(`idem-${suffix}-${11 + i}`)).toBe(true);
    } finally {
      await dest.close();
    }
  });

  it('publishes a batch and awaits the confirms together', async () => {
    const cfg = config('batch');
    const dest = await openAmqpDestination(cfg, secrets, { log, connectionName: `trellis-test-${suffix}` });
    try {
      const reqs = Array.from({ length: 500 }, (_, i) => request(100 + i));
      const outs = await dest.sendBatch!(reqs);
      expect(outs).toHaveLength(500);
      expect(outs.every((o) => o.ok)).toBe(true);
      const q = await ch.checkQueue(cfg.queue!);
      expect(q.messageCount).toBe(500);
    } finally {
      await dest.close();
    }
  });

  describe('consumer with manual acks', () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await createTestDatabase();
      await t.db.exec('create table inbox (message_id text primary key, body jsonb not null)');
    });
    afterAll(async () => {
      await t.drop();
    });

    it('acks after the commit, requeues a transient failure and dead-letters a permanent one', async () => {
      const cfg = config('consume');
      const dest = await openAmqpDestination(cfg, secrets, { log, connectionName: `trellis-test-${suffix}` });
      let failedOnce = false;
      const errors: boolean[] = [];
      const consumer = await consumeAmqp(
        cfg,
        secrets,
        async (m) => {
          const body = JSON.parse(m.content.toString()) as { n: number };
          if (body.n === 666) throw new PermanentMessageError('amount is not a number');
          await t.db.tx(async (tx) => {
            await tx.query('insert into inbox (message_id, body) values ($1, $2) on conflict do nothing', [m.messageId, body]);
            if (body.n === 2 && !failedOnce) {
              failedOnce = true;
              throw new Error('database busy'); // rolled back, the message is requeued
            }
          });
        },
        { log, connectionName: `trellis-test-consumer-${suffix}`, onError: (_e, permanent) => errors.push(permanent) },
      );
      try {
        for (const n of [1, 2, 3, 666]) expect((await dest.send(request(n))).ok).toBe(true);
        // A duplicate (the engine retried after a lost confirm) lands once in the database.
        expect((await dest.send(request(1))).ok).toBe(true);
        await until(async () => (await t.db.query('select count(*)::int as n from inbox')).rows[0]!.n === 3, 'three rows');
        const dlq = deadLetterNames(cfg).queue!;
        const dead = await until(async () => ch.get(dlq, { noAck: true }), 'the dead letter');
        expect(JSON.parse(dead.content.toString())).toMatchObject({ n: 666 });
        expect(errors.sort()).toEqual([false, true]);
        await until(async () => (await ch.checkQueue(cfg.queue!)).messageCount === 0, 'the queue empty');
        const rows = await t.db.query<{ message_id: string }>('select message_id from inbox order by message_id');
        expect(rows.rows.map((r) => r.message_id)).toEqual([`idem-${suffix}-1`, `idem-${suffix}-2`, `idem-${suffix}-3`]);
      } finally {
        await consumer.close();
        await dest.close();
      }
    });
  });
});
