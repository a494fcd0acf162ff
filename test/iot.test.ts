// IoT engine: the meter register and readings API, and MQTT ingestion against the real Mosquitto
// on 127.0.0.1:1883 (unique topic prefix and client ids per run): batching into one insert,
// redelivery stored once, unknown meters and malformed payloads counted without stopping the
// worker, and a client killed before its commit gets the message again (persistent session).
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIngestion, ingestionConfigFromEnv, meterCodeExtractor, type IngestionConfig, type IngestionWorker } from '../src/server/iot/index.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { testTarget } from './helpers/db.ts';

const BROKER = 'mqtt://127.0.0.1:1883';
const log = pino({ level: 'silent' });
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const suffix = randomBytes(4).toString('hex');
const prefix = `trellis-test-${suffix}`;

async function until<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await wait(25);
  }
}

describe(`IoT meters and MQTT ingestion (${testTarget})`, () => {
  let t: TestTrellis;
  let admin: TestSession;
  let pub: MqttClient;
  const clientIds: string[] = [];
  const cfg = (name: string): IngestionConfig => {
    const clientId = `${prefix}-${name}`;
    clientIds.push(clientId);
    return { url: BROKER, topic: `${prefix}/meters/+/reading`, clientId, maxBatch: 500, maxWaitMs: 10 };
  };
  const topic = (code: string) => `${prefix}/meters/${code}/reading`;
  const publish = (code: string, body: unknown) =>
    pub.publishAsync(topic(code), typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
  const count = async (code: string) =>
    (await t.ctx.db.query<{ n: number }>('select count(*)::int as n from iot_meter_readings r join iot_meters m on m.id = r.meter_id where m.code = $1', [code])).rows[0]!.n;

  beforeAll(async () => {
    t = await createTestTrellis();
    admin = await loginAs(t);
    pub = await mqtt.connectAsync(BROKER, { protocolVersion: 5, clientId: `${prefix}-pub` });
    for (const [code, kind, unit, readingType] of [
      ['E-101', 'electricity', 'kWh', 'cumulative'],
      ['W-7', 'water', 'm3', 'interval'],
      ['KILL-1', 'electricity', 'kWh', 'cumulative'],
      ['KILL-2', 'electricity', 'kWh', 'cumulative'],
    ]) {
      const r = await admin.inject({
        method: 'POST',
        url: '/api/v1/iot/meters',
        payload: { code, name: `${code} 表`, kind, unit, readingType, equipmentCode: 'CNC-01', costCenter: 'CC-MACH' },
      });
      expect(r.statusCode, r.body).toBe(201);
    }
  });

  afterAll(async () => {
    await pub?.endAsync();
    // Remove the persistent sessions this run left on the broker.
    for (const clientId of clientIds) {
      const c = await mqtt.connectAsync(BROKER, { protocolVersion: 5, clientId, clean: true, properties: { sessionExpiryInterval: 0 } });
      await c.endAsync();
    }
    await t?.destroy();
  });

  it('registers meters (admin, audited) and refuses bad or duplicate input with a clear 4xx', async () => {
    const list = await admin.inject('/api/v1/iot/meters?costCenter=CC-MACH');
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((m: { code: string }) => m.code)).toEqual(['E-101', 'KILL-1', 'KILL-2', 'W-7']);
    const dup = await admin.inject({ method: 'POST', url: '/api/v1/iot/meters', payload: { code: 'E-101', kind: 'electricity', unit: 'kWh' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.headers['content-type']).toContain('application/problem+json');
    const bad = await admin.inject({ method: 'POST', url: '/api/v1/iot/meters', payload: { code: 'a b', kind: 'steam', unit: 'kWh' } });
    expect(bad.statusCode).toBe(400);
    const audit = await t.ctx.db.query(`select count(*)::int as n from audit_log where action = 'iot.meter.create'`);
    expect(audit.rows[0]!.n).toBe(4);
    const anon = await t.app.inject('/api/v1/iot/meters');
    expect(anon.statusCode).toBe(401);
  });

  it('reads env configuration: off when TRELLIS_MQTT_URL is unset; a topic filter needs a + segment', () => {
    expect(ingestionConfigFromEnv({})).toBeNull();
    expect(ingestionConfigFromEnv({ TRELLIS_MQTT_URL: BROKER })).toMatchObject({ topic: 'trellis/meters/+/reading', maxBatch: 1000 });
    expect(() => ingestionConfigFromEnv({ TRELLIS_MQTT_URL: 'mqtt://u:p@h:1883' })).toThrow(/TRELLIS_MQTT_URL/);
    expect(() => ingestionConfigFromEnv({ TRELLIS_MQTT_URL: BROKER, TRELLIS_MQTT_TOPIC: 'meters/#' })).toThrow(/\+/);
    expect(meterCodeExtractor('$share/g/trellis/meters/+/reading')('trellis/meters/E-1/reading')).toBe('E-1');
  });

  describe('ingestion', () => {
    let w: IngestionWorker;
    beforeAll(async () => {
      w = await startIngestion({ db: t.ctx.db, log }, cfg('main'));
    });
    afterAll(async () => {
      await w?.stop();
    });

    it('stores readings, once per meter and minute, and counts what it rejects without stopping', async () => {
      const base = Date.UTC(2026, 2, 1, 0, 0); // 2026-03-01 08:00 Asia/Shanghai
      const at = (min: number, sec = 0) => new Date(base + min * 60_000 + sec * 1000).toISOString();
      await publish('E-101', { ts: at(0), value: 1000.5 });
      await publish('E-101', { ts: at(0, 30), value: 1000.9 }); // same minute: the first one stays
      await publish('E-101', { readings: [{ ts: at(1), value: '1001.25' }, { ts: at(59), value: '1010.00' }, { ts: at(60), value: 1012.75, quality: 'uncertain' }] });
      await publish('E-101', 'not json');
      await publish('E-101', { ts: '2026-03-01 08:00', value: 1 }); // no offset: refused, never guessed
      await publish('E-101', { ts: at(2), value: 'NaN' });
      await publish('NOPE-9', { ts: at(0), value: 1 });
      await publish('W-7', { ts: at(0), value: '0.125' });
      await publish('W-7', { ts: at(1), value: '0.375' });
      await publish('E-101', { ts: at(0), value: 1000.5 }); // a publisher's retry
      await until(() => w.ingester.stats.messages === 10, 'ten messages handled');
      expect(w.ingester.stats).toMatchObject({ readings: 8, stored: 6, duplicates: 2, malformed: 3, unknownMeter: 1 });
      expect(await count('E-101')).toBe(4);
      const row = await t.ctx.db.query(`select value::text as v from iot_meter_readings r join iot_meters m on m.id = r.meter_id where m.code = 'E-101' and ts = $1`, [at(0)]);
      expect(row.rows[0]!.v).toBe('1000.5');

      // Per hour in plant time: 08:00 bucket holds minutes 0..59, 09:00 the reading at minute 60.
      const r = await admin.inject(`/api/v1/iot/meters/E-101/readings?from=${encodeURIComponent(at(0))}&to=${encodeURIComponent(at(120))}&interval=hour`);
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json().buckets).toEqual([
        { start: at(0), readings: 3, first: '1000.5', last: '1010.00', min: '1000.5', max: '1010.00', consumption: '9.50', notGood: 0 },
        { start: at(60), readings: 1, first: '1012.75', last: '1012.75', min: '1012.75', max: '1012.75', consumption: '2.75', notGood: 1 },
      ]);
      const day = await admin.inject(`/api/v1/iot/meters/W-7/readings?from=${encodeURIComponent(at(-480))}&to=${encodeURIComponent(at(960))}&interval=day`);
      expect(day.json().buckets).toEqual([expect.objectContaining({ start: '2026-02-28T16:00:00.000Z', readings: 2, consumption: '0.500' })]);
      const minute = await admin.inject(`/api/v1/iot/meters/E-101/readings?from=${encodeURIComponent(at(1))}&to=${encodeURIComponent(at(2))}&interval=minute`);
      expect(minute.json().buckets).toEqual([expect.objectContaining({ readings: 1, consumption: '0.75' })]); // from the reading before the range
      const status = await admin.inject('/api/v1/iot/ingestion');
      expect(status.json()).toMatchObject({ running: true, connected: true, stored: 6 });
      const tooMany = await admin.inject(`/api/v1/iot/meters/E-101/readings?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&interval=minute`);
      expect(tooMany.statusCode).toBe(400);
      const reversed = await admin.inject(`/api/v1/iot/meters/E-101/readings?from=${encodeURIComponent(at(5))}&to=${encodeURIComponent(at(1))}`);
      expect(reversed.statusCode).toBe(400);
      expect((await admin.inject(`/api/v1/iot/meters/NOPE/readings?from=${encodeURIComponent(at(0))}&to=${encodeURIComponent(at(5))}`)).statusCode).toBe(404);
    });

    it('inserts many messages as batches (several messages per transaction)', async () => {
      const base = Date.UTC(2026, 3, 1);
      const before = w.ingester.stats.batches;
      const sends = [];
      for (let i = 0; i < 600; i++) sends.push(publish('E-101', { ts: new Date(base + i * 60_000).toISOString(), value: String(2000 + i) }));
      await Promise.all(sends);
      await until(async () => (await count('E-101')) === 604, '600 more rows');
      expect(w.ingester.stats.batches - before).toBeLessThan(600);
    });
  });

  it('a client killed before its commit gets the message again, and it is stored once', async () => {
    const c = cfg('kill');
    let calls = 0;
    const first: IngestionWorker = await startIngestion({ db: t.ctx.db, log }, c, {
      hooks: {
        beforeCommit: async () => {
          calls++;
          first.consumer.kill(); // the process dies: no commit, no acknowledgement
          throw new Error('killed');
        },
      },
    });
    await publish('KILL-1', { ts: '2026-03-02T00:00:00Z', value: '5' });
    await until(() => calls >= 1, 'the first delivery');
    expect(await count('KILL-1')).toBe(0);
    const second = await startIngestion({ db: t.ctx.db, log }, c);
    try {
      await until(async () => (await count('KILL-1')) === 1, 'the redelivery stored');
      expect(second.ingester.stats).toMatchObject({ stored: 1, duplicates: 0 });
    } finally {
      await second.stop();
    }
    expect(await count('KILL-1')).toBe(1);
  });

  it('a client killed after its commit but before acknowledging gets the message again; it is not counted twice', async () => {
    const c = cfg('kill-after');
    const first: IngestionWorker = await startIngestion({ db: t.ctx.db, log }, c, {
      hooks: {
        beforeCommit: async (tx) => {
          tx.afterCommit(() => first.consumer.kill()); // committed, then the process dies before the PUBACK
        },
      },
    });
    await publish('KILL-2', { ts: '2026-03-02T00:00:00Z', value: '7' });
    await until(async () => (await count('KILL-2')) === 1, 'the first commit');
    const second = await startIngestion({ db: t.ctx.db, log }, c);
    try {
      await until(() => second.ingester.stats.messages === 1, 'the redelivery');
      expect(second.ingester.stats).toMatchObject({ stored: 0, duplicates: 1 });
      expect(await count('KILL-2')).toBe(1);
    } finally {
      await second.stop();
    }
    // Acknowledged now: a third client with the same session gets nothing more.
    const third = await startIngestion({ db: t.ctx.db, log }, c);
    await wait(300);
    expect(third.ingester.stats.messages).toBe(0);
    await third.stop();
  });
});
