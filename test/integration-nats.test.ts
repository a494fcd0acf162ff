// NATS JetStream driver against the real server on 127.0.0.1:4222: the stream is created when
// missing, and a re-sent delivery (same idempotency key) is not stored twice.
import { randomBytes, randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import '../src/server/integration/drivers/index.ts';
import { getDriver } from '../src/server/integration/drivers/index.ts';
import { natsConfigSchema, openNatsDestination } from '../src/server/integration/drivers/nats.ts';
import type { DeliveryRequest } from '../src/server/integration/types.ts';

const log = pino({ level: 'silent' });
const suffix = randomBytes(4).toString('hex');
const stream = `TRELLIS_TEST_${suffix}`;
const config = natsConfigSchema.parse({ servers: ['nats://127.0.0.1:4222'], stream, subjectPrefix: `trellis.test.${suffix}` });

function request(n: number, key = `idem-${suffix}-${n}`): DeliveryRequest {
  return {
    deliveryId: randomUUID(),
    idempotencyKey: key,
    partitionKey: null,
    attempt: 1,
    payload: { n },
    event: {
      specversion: '1.0',
      id: randomUUID(),
      source: '/trellis/test',
      type: 'trellis.order.created',
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: { n },
    },
  };
}

describe('NATS JetStream driver', () => {
  afterAll(async () => {
    const nc = await connect({ servers: '127.0.0.1:4222' });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  });

  it('is registered; config refuses credentials in the address', () => {
    expect(getDriver('nats')?.label.en).toBe('NATS JetStream');
    expect(natsConfigSchema.safeParse({ servers: ['nats://u:p@127.0.0.1:4222'], stream: 'S', subjectPrefix: 'a' }).success).toBe(false);
  });

  it('creates the stream and stores a re-sent message once (msg id = idempotency key)', async () => {
    const dest = await openNatsDestination(config, undefined, { log, connectionName: 'trellis-test' });
    try {
      expect((await dest.test()).ok).toBe(true);
      const first = await dest.send(request(1));
      expect(first).toMatchObject({ ok: true });
      expect(dest.lastAck).toEqual({ seq: 1, duplicate: false });
      const again = await dest.send(request(1)); // a retry after a lost acknowledgement
      expect(again).toMatchObject({ ok: true, detail: { duplicate: true } });
      expect((await dest.send(request(2))).ok).toBe(true);
      const nc = await connect({ servers: '127.0.0.1:4222' });
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(stream);
      expect(info.state.messages).toBe(2);
      const stored = await jsm.streams.getMessage(stream, { seq: 1 });
      expect(stored?.subject).toBe(`trellis.test.${suffix}.trellis.order.created`);
      expect(stored?.header?.get('Nats-Msg-Id')).toBe(`idem-${suffix}-1`);
      expect(stored?.json()).toEqual({ n: 1 });
      await nc.close();
    } finally {
      await dest.close();
    }
  });

  it('reports an unreachable server as a retryable error', async () => {
    const dest = await openNatsDestination({ ...config, servers: ['nats://127.0.0.1:1'], timeoutMs: 500 }, undefined, { log, connectionName: 'x' });
    const out = await dest.send(request(3));
    expect(out).toMatchObject({ ok: false, retryable: true });
    expect((await dest.test()).ok).toBe(false);
    await dest.close();
  });
});
