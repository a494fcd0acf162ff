// RabbitMQ (AMQP 0-9-1) destination and consumer.
//
// Destination: a confirm channel, persistent messages, `messageId` = the delivery's idempotency
// key (a consumer dedupes on it), `mandatory` so an unroutable message is an error instead of a
// silent drop. On open it declares its topology: the exchange, and — when a queue is named — a
// quorum queue bound to it whose rejected messages are dead-lettered to `<exchange>.dlx` → `<queue>.dlq`
// (also a quorum queue). The connection is re-opened on the next send after the broker closed it
// (restart, `close_connection`, network): the publish in flight then reports a retryable error and
// the engine's retry sends it again, which is why the message id matters.
//
// Consumer (triggers): manual acks; the handler commits its database transaction and only then
// is the message acked; a `PermanentMessageError` nacks it without requeue (→ DLQ); any other error
// requeues it. The consumer reconnects by itself with capped backoff.
import amqp, { type ChannelModel, type ConfirmChannel, type Channel, type ConsumeMessage, type Options } from 'amqplib';
import { z } from 'zod';
import type { DeliveryOutcome, DeliveryRequest, DestinationHandle, Driver, DriverContext } from '../types.ts';
import type { Logger } from '../../platform/context.ts';
import { registerDriver } from './registry.ts';
import { ui } from '../../../shared/integration-api.ts';

const NAME = /^[A-Za-z0-9_.:-]{1,200}$/;
const name = (what: string) => z.string().regex(NAME, `${what}: letters, digits and _ . : - only (at most 200)`);

export const amqpConfigSchema = z.strictObject({
  /** Broker address without credentials, e.g. amqp://127.0.0.1:5672/ or amqps://mq.plant.local/erp (vhost in the path). */
  url: z
    .string()
    .regex(/^amqps?:\/\/[^/@\s]+(\/[^\s@]*)?$/, 'amqp:// or amqps:// URL without user name or password (put those in the secrets)')
    .meta(ui(['Broker 地址', 'Broker URL'], { help: ['不含用户名密码；虚拟主机写在路径里', 'no user name or password; the vhost goes in the path'], placeholder: 'amqp://127.0.0.1:5672/' })),
  exchange: name('exchange').meta(ui(['交换机', 'Exchange'])),
  exchangeType: z.enum(['topic', 'direct', 'fanout']).default('topic').meta(ui(['交换机类型', 'Exchange type'])),
  /** Routing key; default: the event type (e.g. trellis.record.created). */
  routingKey: z.string().max(255).optional().meta(ui(['路由键 (默认事件类型)', 'Routing key (default: event type)'])),
  /** Declare this quorum queue (with its dead-letter queue) bound to the exchange. */
  queue: name('queue').optional().meta(ui(['声明队列', 'Declare queue'], { help: ['声明一个绑定到交换机的仲裁队列（含死信队列）', 'declares a quorum queue (with its dead-letter queue) bound to the exchange'] })),
  /** Binding key of the queue; default `#` (everything) for topic exchanges. */
  bindingKey: z.string().max(255).default('#').meta(ui(['绑定键', 'Binding key'])),
  /** How long to wait for the broker's confirm before reporting a retryable error. */
  confirmTimeoutMs: z.number().int().min(100).max(120_000).default(10_000).meta(ui(['确认超时 (毫秒)', 'Confirm timeout (ms)'])),
  heartbeatSeconds: z.number().int().min(0).max(600).default(15).meta(ui(['心跳 (秒)', 'Heartbeat (s)'])),
});
export type AmqpConfig = z.infer<typeof amqpConfigSchema>;

export const amqpSecretSchema = z.strictObject({
  username: z.string().min(1).max(200).meta(ui(['用户名', 'User name'])),
  password: z.string().max(500).meta(ui(['密码', 'Password'])),
});
export type AmqpSecrets = z.infer<typeof amqpSecretSchema>;

/** Thrown by a consumer's handler when the message can never be processed: it goes to the DLQ. */
export class PermanentMessageError extends Error {}

export function deadLetterNames(config: Pick<AmqpConfig, 'exchange' | 'queue'>): { exchange: string; queue: string | null } {
  return { exchange: `${config.exchange}.dlx`, queue: config.queue ? `${config.queue}.dlq` : null };
}

function connectOptions(config: AmqpConfig, secrets: AmqpSecrets | undefined): Options.Connect {
  const u = new URL(config.url);
  const vhost = decodeURIComponent(u.pathname.replace(/^\//, '')) || '/';
  return {
    protocol: u.protocol.replace(':', ''),
    hostname: u.hostname,
    port: u.port ? Number(u.port) : u.protocol === 'amqps:' ? 5671 : 5672,
    username: secrets?.username ?? 'guest',
    password: secrets?.password ?? 'guest',
    vhost,
    heartbeat: config.heartbeatSeconds,
  };
}

/** The connection shows under this name in RabbitMQ's management tools. */
function socketOptions(connectionName: string) {
  return { timeout: 10_000, clientProperties: { connection_name: connectionName } };
}

/** A message a person can act on, never the credentials (amqplib's messages hold none, but the URL might). */
function describe(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/\/\/[^@/\s]*@/g, '//***@').slice(0, 500);
}

async function declareTopology(ch: Channel, config: AmqpConfig): Promise<void> {
  const dl = deadLetterNames(config);
  await ch.assertExchange(config.exchange, config.exchangeType, { durable: true });
  if (!config.queue) return;
  await ch.assertExchange(dl.exchange, 'fanout', { durable: true });
  await ch.assertQueue(dl.queue!, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await ch.bindQueue(dl.queue!, dl.exchange, '');
  await ch.assertQueue(config.queue, {
    durable: true,
    arguments: { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': dl.exchange },
  });
  await ch.bindQueue(config.queue, config.exchange, config.exchangeType === 'fanout' ? '' : config.bindingKey);
}

interface Link {
  conn: ChannelModel;
  ch: ConfirmChannel;
  /** Message ids the broker returned as unroutable (a `basic.return` arrives before the ack). */
  returned: Set<string>;
}

/** A confirm channel that is opened on first use and opened again after the broker closed it. */
class ConfirmLink {
  private link: Link | undefined;
  private opening: Promise<Link> | undefined;
  private closed = false;
  private readonly config: AmqpConfig;
  private readonly secrets: AmqpSecrets | undefined;
  private readonly log: Logger;
  private readonly connectionName: string;
  /** How many times a connection was opened (1 = never reconnected). */
  opens = 0;

  constructor(config: AmqpConfig, secrets: AmqpSecrets | undefined, log: Logger, connectionName: string) {
    this.config = config;
    this.secrets = secrets;
    this.log = log;
    this.connectionName = connectionName;
  }

  get(): Promise<Link> {
    if (this.closed) return Promise.reject(new Error('the AMQP destination is closed'));
    if (this.link) return Promise.resolve(this.link);
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async open(): Promise<Link> {
    const conn = await amqp.connect(connectOptions(this.config, this.secrets), socketOptions(this.connectionName));
    const drop = () => {
      if (this.link?.conn === conn) this.link = undefined;
    };
    conn.on('error', (err: Error) => this.log.warn({ err: describe(err) }, 'AMQP connection error'));
    conn.on('close', drop);
    try {
      const ch = await conn.createConfirmChannel();
      const returned = new Set<string>();
      ch.on('error', (err: Error) => this.log.warn({ err: describe(err) }, 'AMQP channel error'));
      ch.on('close', drop);
      ch.on('return', (msg: ConsumeMessage) => {
        if (msg.properties.messageId) returned.add(String(msg.properties.messageId));
      });
      await declareTopology(ch, this.config);
      const link = { conn, ch, returned };
      if (this.closed) {
        await conn.close().catch(() => {});
        throw new Error('the AMQP destination is closed');
      }
      this.link = link;
      this.opens++;
      return link;
    } catch (err) {
      await conn.close().catch(() => {});
      throw err;
    }
  }

  /** Forgets a broken link so the next use opens a new one. */
  reset(link: Link): void {
    if (this.link === link) {
      this.link = undefined;
      void link.conn.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const link = this.link ?? (await this.opening?.catch(() => undefined));
    this.link = undefined;
    if (link) await link.conn.close().catch(() => {});
  }
}

function body(req: DeliveryRequest): Buffer {
  return Buffer.from(JSON.stringify(req.payload ?? null));
}

function publishOptions(req: DeliveryRequest): Options.Publish {
  return {
    persistent: true,
    mandatory: true,
    messageId: req.idempotencyKey,
    contentType: 'application/json',
    type: req.event.type,
    timestamp: Math.floor(Date.parse(req.event.time) / 1000) || undefined,
    headers: {
      'ce-specversion': '1.0',
      'ce-id': req.event.id,
      'ce-type': req.event.type,
      'ce-source': req.event.source,
      ...(req.event.subject ? { 'ce-subject': req.event.subject } : {}),
      ...(req.partitionKey ? { 'trellis-partition-key': req.partitionKey } : {}),
    },
  };
}

/** Publishes one message and resolves when the broker confirmed it (or failed, or timed out). */
function publishConfirmed(link: Link, config: AmqpConfig, req: DeliveryRequest): Promise<DeliveryOutcome> {
  return new Promise<DeliveryOutcome>((resolve) => {
    let settled = false;
    const finish = (o: DeliveryOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const timer = setTimeout(
      () => finish({ ok: false, retryable: true, error: `RabbitMQ did not confirm the message within ${config.confirmTimeoutMs} ms` }),
      config.confirmTimeoutMs,
    );
    try {
      link.ch.publish(config.exchange, config.routingKey ?? req.event.type, body(req), publishOptions(req), (err: unknown) => {
        if (err) return finish({ ok: false, retryable: true, error: `RabbitMQ refused or lost the message: ${describe(err)}` });
        if (link.returned.delete(req.idempotencyKey)) {
          return finish({
            ok: false,
            retryable: true,
            error: `No queue is bound to exchange "${config.exchange}" for routing key "${config.routingKey ?? req.event.type}"; bind a queue or change the routing key.`,
          });
        }
        finish({ ok: true, detail: { exchange: config.exchange, messageId: req.idempotencyKey } });
      });
    } catch (err) {
      // The channel closed under us (IllegalOperationError): the next attempt reconnects.
      finish({ ok: false, retryable: true, error: `RabbitMQ connection lost: ${describe(err)}` });
    }
  });
}

export interface AmqpDestination extends DestinationHandle {
  /** Connections opened so far (for tests and health: > 1 means it reconnected). */
  readonly connectionsOpened: number;
}

export async function openAmqpDestination(
  config: AmqpConfig,
  secrets: AmqpSecrets | undefined,
  opts: { log: Logger; connectionName: string },
): Promise<AmqpDestination> {
  const link = new ConfirmLink(config, secrets, opts.log, opts.connectionName);
  const withLink = async <T>(fn: (l: Link) => Promise<T>, onConnectError: (e: string) => T): Promise<T> => {
    let l: Link;
    try {
      l = await link.get();
    } catch (err) {
      return onConnectError(`Cannot connect to RabbitMQ at ${config.url}: ${describe(err)}`);
    }
    return fn(l);
  };
  const after = (l: Link, o: DeliveryOutcome) => {
    if (!o.ok) link.reset(l);
    return o;
  };
  return {
    get connectionsOpened() {
      return link.opens;
    },
    send: (req) =>
      withLink(
        async (l) => after(l, await publishConfirmed(l, config, req)),
        (error): DeliveryOutcome => ({ ok: false, retryable: true, error }),
      ),
    // Many publishes on the same channel, confirms awaited together: one round trip's latency for all.
    sendBatch: (reqs) =>
      withLink(
        async (l) => {
          const outcomes = await Promise.all(reqs.map((r) => publishConfirmed(l, config, r)));
          if (outcomes.some((o) => !o.ok && o.error.startsWith('RabbitMQ'))) link.reset(l);
          return outcomes;
        },
        (error): DeliveryOutcome[] => reqs.map(() => ({ ok: false, retryable: true, error })),
      ),
    async test() {
      const t0 = performance.now();
      const conn = await amqp.connect(connectOptions(config, secrets), socketOptions(`${opts.connectionName}:test`)).catch((err: unknown) => err as Error);
      if (conn instanceof Error) return { ok: false, message: `Cannot connect to RabbitMQ at ${config.url}: ${describe(conn)}`, latencyMs: performance.now() - t0 };
      conn.on('error', () => {});
      try {
        const ch = await conn.createChannel();
        ch.on('error', () => {});
        await ch.checkExchange(config.exchange);
        return { ok: true, message: `连接成功 Connected; exchange "${config.exchange}" exists`, latencyMs: performance.now() - t0 };
      } catch (err) {
        return { ok: false, message: `Connected, but exchange "${config.exchange}" is not usable: ${describe(err)}`, latencyMs: performance.now() - t0 };
      } finally {
        await conn.close().catch(() => {});
      }
    },
    close: () => link.close(),
  };
}

// ---- consumer --------------------------------------------------------------------------------

export interface AmqpMessage {
  messageId: string | null;
  routingKey: string;
  content: Buffer;
  headers: Record<string, unknown>;
  redelivered: boolean;
}

export interface AmqpConsumerOptions {
  log: Logger;
  connectionName: string;
  prefetch?: number;
  /** Called with the error of each message nacked to the DLQ or requeued (for counters). */
  onError?: (err: unknown, permanent: boolean) => void;
}

export interface AmqpConsumer {
  close(): Promise<void>;
  /** Connections opened so far. */
  readonly connectionsOpened: number;
}

/**
 * Consumes `config.queue` with manual acks: `handler` must finish its database commit before it
 * resolves; only then is the message acked. `PermanentMessageError` → nack without requeue (the
 * queue dead-letters it to the DLQ); any other error → nack with requeue.
 */
export async function consumeAmqp(
  config: AmqpConfig,
  secrets: AmqpSecrets | undefined,
  handler: (msg: AmqpMessage) => Promise<void>,
  opts: AmqpConsumerOptions,
): Promise<AmqpConsumer> {
  if (!config.queue) throw new Error('an AMQP consumer needs config.queue');
  const queue = config.queue;
  let closed = false;
  let conn: ChannelModel | undefined;
  let opens = 0;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;

  const start = async (): Promise<void> => {
    const c = await amqp.connect(connectOptions(config, secrets), socketOptions(opts.connectionName));
    c.on('error', (err: Error) => opts.log.warn({ err: describe(err) }, 'AMQP consumer connection error'));
    c.on('close', () => {
      if (conn === c) conn = undefined;
      if (!closed) schedule();
    });
    try {
      const ch = await c.createChannel();
      ch.on('error', (err: Error) => opts.log.warn({ err: describe(err) }, 'AMQP consumer channel error'));
      await declareTopology(ch, config);
      await ch.prefetch(opts.prefetch ?? 50);
      await ch.consume(
        queue,
        (m) => {
          if (!m) return; // cancelled by the server; the close handler reconnects
          const msg: AmqpMessage = {
            messageId: m.properties.messageId ? String(m.properties.messageId) : null,
            routingKey: m.fields.routingKey,
            content: m.content,
            headers: (m.properties.headers ?? {}) as Record<string, unknown>,
            redelivered: m.fields.redelivered,
          };
          handler(msg).then(
            () => safely(() => ch.ack(m)),
            (err: unknown) => {
              const permanent = err instanceof PermanentMessageError;
              opts.onError?.(err, permanent);
              opts.log.warn({ err: describe(err), messageId: msg.messageId, permanent }, permanent ? 'AMQP message dead-lettered' : 'AMQP message requeued');
              safely(() => ch.nack(m, false, !permanent));
            },
          );
        },
        { noAck: false },
      );
      conn = c;
      opens++;
      attempt = 0;
      if (closed) await c.close().catch(() => {});
    } catch (err) {
      await c.close().catch(() => {});
      throw err;
    }
  };
  // After the connection is gone the ack cannot be sent: the broker redelivers the message.
  const safely = (fn: () => void) => {
    try {
      fn();
    } catch {
      // channel already closed
    }
  };
  const schedule = () => {
    if (closed || timer) return;
    const delay = Math.min(10_000, 100 * 2 ** Math.min(attempt++, 7)) * (0.8 + Math.random() * 0.4);
    timer = setTimeout(() => {
      timer = undefined;
      start().catch((err: unknown) => {
        opts.log.warn({ err: describe(err) }, 'AMQP consumer reconnect failed');
        schedule();
      });
    }, delay);
  };

  await start();
  return {
    get connectionsOpened() {
      return opens;
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await conn?.close().catch(() => {});
    },
  };
}

export const amqpDriver: Driver<AmqpConfig, AmqpSecrets> = {
  kind: 'amqp',
  label: { zh: 'RabbitMQ 消息队列', en: 'RabbitMQ (AMQP)' },
  configSchema: amqpConfigSchema as unknown as z.ZodType<AmqpConfig>,
  secretSchema: amqpSecretSchema,
  openDestination: (config, secrets, dctx: DriverContext) =>
    openAmqpDestination(config, secrets, { log: dctx.ctx.log, connectionName: `trellis:${dctx.connectorName}` }),
};

registerDriver(amqpDriver);
