// MQTT driver against the real Mosquitto on 127.0.0.1:1883: the destination publishes at QoS 1 with
// the idempotency key as a user property; the trigger acknowledges only after the handler's
// commit, so a handler that fails gets the message again after a reconnect of the same session.
import { randomBytes, randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import '../src/server/integration/drivers/index.ts';
import { getDriver } from '../src/server/integration/drivers/index.ts';
import { mqttConfigSchema, openMqttDestination, openMqttTrigger } from '../src/server/integration/drivers/mqtt.ts';
import type { DeliveryRequest } from '../src/server/integration/types.ts';
import type { MqttInbound } from '../src/server/iot/index.ts';

const BROKER = 'mqtt://127.0.0.1:1883';
const log = pino({ level: 'silent' });
const suffix = randomBytes(4).toString('hex');
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(fn: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await wait(20);
  }
}

function request(n: number): DeliveryRequest {
  return {
    deliveryId: randomUUID(),
    idempotencyKey: `idem-${suffix}-${n}`,
    partitionKey: null,
    attempt: 1,
    payload: { n },
    event: { specversion: '1.0', id: randomUUID(), source: '/t', type: 'trellis.andon.raised', time: new Date().toISOString(), datacontenttype: 'application/json', data: {} },
  };
}

describe('MQTT driver (Mosquitto)', () => {
  const sessions: string[] = [];
  afterAll(async () => {
    for (const clientId of sessions) {
      const c = await mqtt.connectAsync(BROKER, { protocolVersion: 5, clientId, clean: true, properties: { sessionExpiryInterval: 0 } });
      await c.endAsync();
    }
  });

  it('is registered; credentials are refused in the URL', () => {
    expect(getDriver('mqtt')?.secretSchema).toBeDefined();
    expect(mqttConfigSchema.safeParse({ url: 'mqtt://user:pw@127.0.0.1:1883' }).success).toBe(false);
    expect(mqttConfigSchema.safeParse({ url: BROKER, topic: 'a/+/b' }).success).toBe(false);
  });

  it('a trigger gets what the destination publishes; a failed commit leaves the message unacknowledged and it comes again', async () => {
    const config = mqttConfigSchema.parse({ url: BROKER, topicPrefix: `trellis-test-${suffix}` });
    const clientId = `trellis-test-trigger-${suffix}`;
    sessions.push(clientId);
    const seen: MqttInbound[] = [];
    let failNext = true;
    let trigger = await openMqttTrigger(config, undefined, clientId, {
      topics: [`trellis-test-${suffix}/#`],
      log,
      handleBatch: async (msgs) => {
        seen.push(...msgs);
        if (failNext) {
          failNext = false;
          trigger.kill(); // the commit failed and the process died
          throw new Error('commit failed');
        }
      },
    });
    const dest = await openMqttDestination(config, undefined, { log, clientId: `trellis-test-pub-${suffix}` });
    try {
      expect((await dest.test()).ok).toBe(true);
      expect(await dest.send(request(1))).toMatchObject({ ok: true, detail: { topic: `trellis-test-${suffix}/trellis/andon/raised` } });
      await until(() => seen.length === 1, 'the first delivery');
      trigger = await openMqttTrigger(config, undefined, clientId, { topics: [`trellis-test-${suffix}/#`], log, handleBatch: async (msgs) => void seen.push(...msgs) });
      await until(() => seen.length === 2, 'the redelivery');
      expect(seen[1]!.dup).toBe(true);
      expect(JSON.parse(seen[1]!.payload.toString())).toEqual({ n: 1 });
      await until(() => trigger.committed === 1, 'the commit');
    } finally {
      await trigger.stop();
      await dest.close();
    }
  });

  it('reports an unreachable broker as retryable', async () => {
    const dest = await openMqttDestination(mqttConfigSchema.parse({ url: 'mqtt://127.0.0.1:1', timeoutMs: 300 }), undefined, { log, clientId: `x-${suffix}` });
    expect(await dest.send(request(2))).toMatchObject({ ok: false, retryable: true });
    expect((await dest.test()).ok).toBe(false);
    await dest.close();
  });
});
