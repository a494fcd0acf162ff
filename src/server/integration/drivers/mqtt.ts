// MQTT (v5) destination and trigger.
//
// Destination: publishes each delivery at QoS 1 (the broker's PUBACK is the acknowledgement) to
// `<topicPrefix>/<event type with dots as slashes>` or a fixed topic, with the idempotency key as
// the `trellis-idempotency-key` user property and the correlation data, so a subscriber can drop a
// re-send. mqtt.js reconnects by itself; a publish that is not acknowledged in time is retryable.
//
// Trigger: `openMqttTrigger` subscribes at QoS 1 with a persistent session and acknowledges each
// message only after the handler's database commit (the IoT engine's batch consumer, see
// src/server/iot/mqtt-consumer.ts): a process that dies before its commit gets the message again.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { z } from 'zod';
import type { DestinationHandle, Driver, DriverContext } from '../types.ts';
import type { Logger } from '../../platform/context.ts';
import { startMqttBatchConsumer, type MqttBatchConsumer, type MqttInbound } from '../../iot/index.ts';
import { registerDriver } from './registry.ts';
import { ui } from '../../../shared/integration-api.ts';

const TOPIC = /^[^#+\s]+$/;

export const mqttConfigSchema = z.strictObject({
  url: z.string().regex(/^(mqtts?|wss?|tcp):\/\/[^@\s]+$/, 'mqtt://host:port without user name or password (put those in the secrets)').meta(ui(['Broker 地址', 'Broker URL'], { placeholder: 'mqtt://127.0.0.1:1883' })),
  /** Deliveries go to `<topicPrefix>/<event type, dots as slashes>` unless `topic` is set. */
  topicPrefix: z.string().regex(TOPIC, 'no wildcards (+, #) or spaces').max(200).default('trellis/events').meta(ui(['主题前缀', 'Topic prefix'])),
  topic: z.string().regex(TOPIC, 'no wildcards (+, #) or spaces').max(255).optional().meta(ui(['固定主题', 'Fixed topic'])),
  /** Fixed client id (a persistent session needs one); default trellis-<connector name>. */
  clientId: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/).optional().meta(ui(['客户端 ID', 'Client id'], { help: ['持久会话需要固定 ID；默认 trellis-连接器名', 'a persistent session needs a fixed id; default trellis-<connector name>'] })),
  retain: z.boolean().default(false).meta(ui(['保留消息 (retain)', 'Retain messages'])),
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000).meta(ui(['超时 (毫秒)', 'Timeout (ms)'])),
});
export type MqttConfig = z.infer<typeof mqttConfigSchema>;

export const mqttSecretSchema = z.strictObject({
  username: z.string().min(1).max(200).meta(ui(['用户名', 'User name'])),
  password: z.string().max(500).meta(ui(['密码', 'Password'])),
});
export type MqttSecrets = z.infer<typeof mqttSecretSchema>;

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 500);
}

function clientOptions(config: MqttConfig, secrets: MqttSecrets | undefined, clientId: string): IClientOptions {
  return {
    protocolVersion: 5,
    clientId,
    username: secrets?.username,
    password: secrets?.password,
    connectTimeout: config.timeoutMs,
    reconnectPeriod: 1000,
  };
}

export async function openMqttDestination(config: MqttConfig, secrets: MqttSecrets | undefined, opts: { log: Logger; clientId: string }): Promise<DestinationHandle> {
  const client: MqttClient = mqtt.connect(config.url, clientOptions(config, secrets, opts.clientId));
  client.on('error', (err) => opts.log.warn({ err: describe(err) }, 'MQTT destination error'));
  return {
    async send(req) {
      const topic = config.topic ?? `${config.topicPrefix}/${req.event.type.replace(/[#+\s]/g, '_').split('.').join('/')}`;
      if (!client.connected) {
        // Let a first connect or a reconnect finish, within the timeout.
        const ok = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => {
            client.off('connect', on);
            resolve(false);
          }, config.timeoutMs);
          const on = () => {
            clearTimeout(t);
            resolve(true);
          };
          client.once('connect', on);
        });
        if (!ok) return { ok: false, retryable: true, error: `Not connected to the MQTT broker at ${config.url} (waited ${config.timeoutMs} ms)` };
      }
      try {
        const publish = client.publishAsync(topic, JSON.stringify(req.payload ?? null), {
          qos: 1,
          retain: config.retain,
          properties: {
            contentType: 'application/json',
            correlationData: Buffer.from(req.idempotencyKey),
            userProperties: { 'trellis-idempotency-key': req.idempotencyKey, 'ce-type': req.event.type, 'ce-id': req.event.id },
          },
        });
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_r, reject) => {
          timer = setTimeout(() => reject(new Error(`no PUBACK within ${config.timeoutMs} ms`)), config.timeoutMs);
        });
        try {
          await Promise.race([publish, timeout]);
        } finally {
          clearTimeout(timer);
        }
        return { ok: true, detail: { topic } };
      } catch (err) {
        return { ok: false, retryable: true, error: `MQTT publish to ${topic} failed: ${describe(err)}` };
      }
    },
    async test() {
      const t0 = performance.now();
      try {
        const c = await mqtt.connectAsync(config.url, { ...clientOptions(config, secrets, `${opts.clientId}-test`), reconnectPeriod: 0 });
        await c.endAsync();
        return { ok: true, message: `连接成功 Connected to ${config.url}`, latencyMs: performance.now() - t0 };
      } catch (err) {
        return { ok: false, message: `Cannot connect to the MQTT broker at ${config.url}: ${describe(err)}`, latencyMs: performance.now() - t0 };
      }
    },
    async close() {
      await client.endAsync();
    },
  };
}

export interface MqttTriggerOptions {
  /** Topic filters, subscribed at QoS 1. */
  topics: string[];
  /** Must commit its transaction before it resolves: the messages are acknowledged afterwards. */
  handleBatch: (messages: MqttInbound[]) => Promise<void>;
  log: Logger;
  maxBatch?: number;
  maxWaitMs?: number;
}

/** Subscribes with a persistent session (fixed client id) and acknowledges only after `handleBatch` committed. */
export async function openMqttTrigger(config: MqttConfig, secrets: MqttSecrets | undefined, clientId: string, opts: MqttTriggerOptions): Promise<MqttBatchConsumer> {
  const consumer = startMqttBatchConsumer({
    url: config.url,
    clientId: config.clientId ?? clientId,
    username: secrets?.username,
    password: secrets?.password,
    topics: opts.topics,
    handleBatch: opts.handleBatch,
    log: opts.log,
    maxBatch: opts.maxBatch,
    maxWaitMs: opts.maxWaitMs,
    connectTimeoutMs: config.timeoutMs,
  });
  try {
    await consumer.ready();
  } catch (err) {
    consumer.kill();
    throw err;
  }
  return consumer;
}

export const mqttDriver: Driver<MqttConfig, MqttSecrets> = {
  kind: 'mqtt',
  label: { zh: 'MQTT 消息', en: 'MQTT' },
  configSchema: mqttConfigSchema as unknown as z.ZodType<MqttConfig>,
  secretSchema: mqttSecretSchema,
  openDestination: (config, secrets, dctx: DriverContext) =>
    openMqttDestination(config, secrets, { log: dctx.ctx.log, clientId: config.clientId ?? `trellis-${dctx.connectorName.replace(/[^A-Za-z0-9_.:-]/g, '-').slice(0, 80)}` }),
};

registerDriver(mqttDriver);
