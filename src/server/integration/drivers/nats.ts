// NATS JetStream destination: each delivery is published to a subject of a stream with the
// delivery's idempotency key as `Nats-Msg-Id`, so the stream itself drops a re-send within its
// duplicate window (the engine retries after a lost ack; the stream keeps one copy). The stream is
// created on open when it does not exist. The NATS client reconnects by itself; a publish while
// disconnected fails with a retryable error.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { z } from 'zod';
import type { DeliveryOutcome, DeliveryRequest, DestinationHandle, Driver, DriverContext } from '../types.ts';
import type { Logger } from '../../platform/context.ts';
import { registerDriver } from './registry.ts';
import { ui } from '../../../shared/integration-api.ts';

const SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export const natsConfigSchema = z.strictObject({
  /** One or more nats:// or tls:// addresses, without credentials. */
  servers: z.array(z.string().regex(/^(nats|tls|wss?):\/\/[^@\s]+$/, 'nats://host:port without user name or password')).min(1).max(10).meta(ui(['服务器地址', 'Servers'], { placeholder: 'nats://127.0.0.1:4222' })),
  stream: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'stream name: letters, digits, _ and - only').meta(ui(['流 (stream)', 'Stream'])),
  /** Subject prefix: a delivery goes to `<subjectPrefix>.<event type>` unless `subject` is set. */
  subjectPrefix: z.string().regex(SUBJECT, 'dot-separated tokens of letters, digits, _ and -').max(200).meta(ui(['主题前缀', 'Subject prefix'], { help: ['投递到 <主题前缀>.<事件类型>，除非设了固定主题', 'deliveries go to <prefix>.<event type> unless a fixed subject is set'] })),
  subject: z.string().regex(SUBJECT).max(255).optional().meta(ui(['固定主题', 'Fixed subject'])),
  /** Duplicate window of the stream when Trellis creates it (seconds); re-sends inside it are dropped. */
  duplicateWindowSeconds: z.number().int().min(1).max(7 * 24 * 3600).default(24 * 3600).meta(ui(['去重窗口 (秒)', 'Duplicate window (s)'])),
  /** Create the stream when missing (with subjects `<subjectPrefix>.>`). */
  createStream: z.boolean().default(true).meta(ui(['不存在时创建流', 'Create the stream when missing'])),
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000).meta(ui(['超时 (毫秒)', 'Timeout (ms)'])),
});
export type NatsConfig = z.infer<typeof natsConfigSchema>;

export const natsSecretSchema = z.union([
  z.strictObject({ user: z.string().min(1).max(200).meta(ui(['用户名', 'User name'])), pass: z.string().max(500).meta(ui(['密码', 'Password'])) }),
  z.strictObject({ token: z.string().min(1).max(2000).meta(ui(['令牌 (代替用户名密码)', 'Token (instead of user and password)'])) }),
]);
export type NatsSecrets = z.infer<typeof natsSecretSchema>;

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 500);
}

function subjectOf(config: NatsConfig, req: DeliveryRequest): string {
  if (config.subject) return config.subject;
  const type = req.event.type.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+|\.+$/g, '').replace(/\.{2,}/g, '.');
  return `${config.subjectPrefix}.${type || 'event'}`;
}

async function open(config: NatsConfig, secrets: NatsSecrets | undefined, name: string): Promise<NatsConnection> {
  return connect({
    servers: config.servers,
    name,
    timeout: config.timeoutMs,
    reconnect: true,
    maxReconnectAttempts: -1,
    ...(secrets ?? {}),
  });
}

async function ensureStream(nc: NatsConnection, config: NatsConfig): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(config.stream);
  } catch (err) {
    if (!config.createStream || !/not found/i.test(describe(err))) throw err;
    await jsm.streams.add({
      name: config.stream,
      subjects: [`${config.subjectPrefix}.>`],
      duplicate_window: config.duplicateWindowSeconds * 1_000_000_000,
    });
  }
}

export interface NatsDestination extends DestinationHandle {
  /** The stream sequence of the last stored message, and whether it was a duplicate (tests). */
  lastAck: { seq: number; duplicate: boolean } | null;
}

export async function openNatsDestination(config: NatsConfig, secrets: NatsSecrets | undefined, opts: { log: Logger; connectionName: string }): Promise<NatsDestination> {
  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  let opening: Promise<JetStreamClient> | undefined;
  let closed = false;
  const client = (): Promise<JetStreamClient> => {
    if (closed) return Promise.reject(new Error('the NATS destination is closed'));
    if (js) return Promise.resolve(js);
    opening ??= (async () => {
      const c = await open(config, secrets, opts.connectionName);
      try {
        await ensureStream(c, config);
      } catch (err) {
        await c.close().catch(() => {});
        throw err;
      }
      void c.closed().then((err) => {
        if (err) opts.log.warn({ err: describe(err) }, 'NATS connection closed');
        if (nc === c) {
          nc = undefined;
          js = undefined;
        }
      });
      nc = c;
      js = jetstream(c, { timeout: config.timeoutMs });
      return js;
    })().finally(() => {
      opening = undefined;
    });
    return opening;
  };

  const handle: NatsDestination = {
    lastAck: null,
    async send(req) {
      let j: JetStreamClient;
      try {
        j = await client();
      } catch (err) {
        return { ok: false, retryable: true, error: `Cannot connect to NATS JetStream (${config.servers.join(', ')}), stream "${config.stream}": ${describe(err)}` };
      }
      try {
        const ack = await j.publish(subjectOf(config, req), JSON.stringify(req.payload ?? null), {
          msgID: req.idempotencyKey,
          expect: { streamName: config.stream },
          timeout: config.timeoutMs,
        });
        handle.lastAck = { seq: ack.seq, duplicate: ack.duplicate };
        return { ok: true, externalRef: `${ack.stream}:${ack.seq}`, detail: { duplicate: ack.duplicate } } satisfies DeliveryOutcome;
      } catch (err) {
        const msg = describe(err);
        // A subject outside the stream or a wrong stream is a configuration problem, not a passing one.
        const permanent = /no responders|expected stream|wrong last/i.test(msg) && !/timeout/i.test(msg);
        return { ok: false, retryable: !permanent, error: `NATS JetStream did not store the message: ${msg}` };
      }
    },
    async test() {
      const t0 = performance.now();
      try {
        const c = await open(config, secrets, `${opts.connectionName}:test`);
        try {
          const jsm = await jetstreamManager(c);
          const info = await jsm.streams.info(config.stream).catch(() => null);
          return {
            ok: true,
            message: info ? `连接成功 Connected; stream "${config.stream}" holds ${info.state.messages} messages` : `连接成功 Connected; stream "${config.stream}" will be created on first use`,
            latencyMs: performance.now() - t0,
          };
        } finally {
          await c.close();
        }
      } catch (err) {
        return { ok: false, message: `Cannot connect to NATS JetStream (${config.servers.join(', ')}): ${describe(err)}`, latencyMs: performance.now() - t0 };
      }
    },
    async close() {
      closed = true;
      await opening?.catch(() => undefined);
      const c = nc;
      nc = undefined;
      js = undefined;
      await c?.close().catch(() => {});
    },
  };
  return handle;
}

export const natsDriver: Driver<NatsConfig, NatsSecrets> = {
  kind: 'nats',
  label: { zh: 'NATS JetStream 消息流', en: 'NATS JetStream' },
  configSchema: natsConfigSchema as unknown as z.ZodType<NatsConfig>,
  secretSchema: natsSecretSchema,
  openDestination: (config, secrets, dctx: DriverContext) =>
    openNatsDestination(config, secrets, { log: dctx.ctx.log, connectionName: `trellis:${dctx.connectorName}` }),
};

registerDriver(natsDriver);
