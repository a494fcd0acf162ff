// An MQTT subscriber that acknowledges QoS 1 messages only after the caller's database commit,
// in batches.
//
// mqtt.js processes incoming packets strictly one after another: the PUBACK of a message is sent
// when `handleMessage`'s callback runs, and the next packet is read only after that. Holding the
// callback until a commit would mean one transaction per message. So the callback runs at once
// and the PUBACK that mqtt.js then sends is *parked* (the client's packet writer is wrapped for
// `puback` only); the parked PUBACKs go out, in arrival order, after `handleBatch` has committed.
//
// Persistent session (clean start off, a session expiry, a fixed client id): messages the broker
// sent but we never acknowledged — the process died, the commit failed, the connection dropped —
// are sent again when the same client id connects again, so nothing is lost; the handler must be
// idempotent (the energy ledger's unique (meter, ts) makes it so). PUBACKs parked on a connection
// that has since dropped are discarded, never sent on the new connection: the broker re-sends
// those messages and they are acknowledged when they come again.
// `receiveMaximum` bounds how many unacknowledged messages the broker sends us at once.
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import type { Logger } from '../platform/context.ts';

export interface MqttInbound {
  topic: string;
  payload: Buffer;
  /** The broker sent it before (we may have committed it already). */
  dup: boolean;
}

export interface MqttBatchConsumerOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  /** Topic filters, subscribed at QoS 1. */
  topics: string[];
  /** Commits the batch; resolves only after the commit. Throwing retries the batch (messages stay unacknowledged). */
  handleBatch: (messages: MqttInbound[]) => Promise<void>;
  log: Logger;
  maxBatch?: number;
  /** How long a partial batch waits for more messages. */
  maxWaitMs?: number;
  receiveMaximum?: number;
  sessionExpirySeconds?: number;
  connectTimeoutMs?: number;
}

interface Parked {
  gen: number;
  messageId: number;
  /** The PUBACK mqtt.js wanted to send, once it has asked. */
  puback?: Packet;
}

interface Pending {
  msg: MqttInbound;
  parked: Parked | null;
}

export interface MqttBatchConsumer {
  readonly client: MqttClient;
  /** Messages committed and acknowledged. */
  readonly committed: number;
  /** Batches whose handler failed (then retried). */
  readonly failedBatches: number;
  /** Resolves once connected and subscribed. */
  ready(): Promise<void>;
  /** Waits for the batch in progress, sends its acknowledgements, disconnects. */
  stop(): Promise<void>;
  /** Simulates a crash: drops the connection without acknowledging anything pending. */
  kill(): void;
}

type SendPacket = (packet: Packet, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

export function startMqttBatchConsumer(opts: MqttBatchConsumerOptions): MqttBatchConsumer {
  const maxBatch = opts.maxBatch ?? 1000;
  const maxWaitMs = opts.maxWaitMs ?? 20;
  const clientOpts: IClientOptions = {
    protocolVersion: 5,
    clientId: opts.clientId,
    clean: false,
    username: opts.username,
    password: opts.password,
    reconnectPeriod: 1000,
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    resubscribe: true,
    properties: {
      sessionExpiryInterval: opts.sessionExpirySeconds ?? 7 * 24 * 3600,
      receiveMaximum: opts.receiveMaximum ?? 2000,
    },
  };
  const client = mqtt.connect(opts.url, clientOpts);
  let gen = 0;
  let stopping = false;
  let killed = false;
  let committed = 0;
  let failedBatches = 0;
  const parkedById = new Map<number, Parked>();
  const batch: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | null = null;

  // Park the PUBACK of every QoS 1 message until its batch has committed.
  const c = client as unknown as { _sendPacket: SendPacket };
  const send: SendPacket = c._sendPacket.bind(client);
  c._sendPacket = (packet, cb, ...rest) => {
    if (packet.cmd === 'puback' && packet.messageId !== undefined) {
      const parked = parkedById.get(packet.messageId);
      if (parked && parked.gen === gen && !parked.puback) {
        parked.puback = packet;
        cb?.();
        return;
      }
    }
    send(packet, cb, ...rest);
  };

  client.handleMessage = (packet: IPublishPacket, callback) => {
    const msg: MqttInbound = { topic: packet.topic, payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload), dup: packet.dup };
    let parked: Parked | null = null;
    if (packet.qos === 1 && packet.messageId !== undefined) {
      parked = { gen, messageId: packet.messageId };
      parkedById.set(packet.messageId, parked);
    }
    batch.push({ msg, parked });
    if (batch.length >= maxBatch) kick();
    else timer ??= setTimeout(kick, maxWaitMs);
    callback();
  };

  let resolveSubscribed!: () => void;
  let rejectSubscribed!: (e: Error) => void;
  const subscribed = new Promise<void>((res, rej) => {
    resolveSubscribed = res;
    rejectSubscribed = rej;
  });
  client.on('connect', (connack) => {
    gen++;
    // Acknowledgements parked on the dropped connection are void: those messages come again.
    for (const [id, p] of parkedById) if (p.gen !== gen) parkedById.delete(id);
    if (connack.sessionPresent && gen > 1) opts.log.info({ clientId: opts.clientId }, 'MQTT session resumed');
    client.subscribe(opts.topics, { qos: 1 }, (err, granted) => {
      if (err) return rejectSubscribed(err);
      const refused = granted?.filter((g) => g.qos > 2);
      if (refused?.length) return rejectSubscribed(new Error(`the broker refused the subscription to ${refused.map((g) => g.topic).join(', ')}`));
      resolveSubscribed();
    });
  });
  client.on('error', (err) => {
    opts.log.warn({ err: err.message, clientId: opts.clientId }, 'MQTT client error');
    if (gen === 0) rejectSubscribed(err);
  });

  function kick(): void {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (flushing || killed || batch.length === 0) return;
    const taken = batch.splice(0, maxBatch);
    flushing = commitBatch(taken).finally(() => {
      flushing = null;
      if (batch.length) {
        if (batch.length >= maxBatch || stopping) kick();
        else timer ??= setTimeout(kick, maxWaitMs);
      }
    });
  }

  async function commitBatch(taken: Pending[]): Promise<void> {
    let delay = 100;
    for (;;) {
      if (killed) return;
      try {
        await opts.handleBatch(taken.map((p) => p.msg));
        break;
      } catch (err) {
        failedBatches++;
        opts.log.error({ err: err instanceof Error ? err.message : String(err), size: taken.length }, 'MQTT batch not committed; retrying (messages stay unacknowledged)');
        if (killed) return;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
    if (killed) return;
    committed += taken.length;
    for (const p of taken) {
      if (!p.parked) continue;
      if (parkedById.get(p.parked.messageId) === p.parked) parkedById.delete(p.parked.messageId);
      if (p.parked.gen === gen && p.parked.puback && client.connected) send(p.parked.puback);
    }
  }

  return {
    client,
    get committed() {
      return committed;
    },
    get failedBatches() {
      return failedBatches;
    },
    ready: () => subscribed,
    async stop() {
      stopping = true;
      while (flushing || batch.length) {
        if (!flushing) kick();
        await flushing;
      }
      await new Promise<void>((r) => client.end(false, {}, () => r()));
    },
    kill() {
      killed = true;
      if (timer) clearTimeout(timer);
      client.stream?.destroy();
      client.end(true);
    },
  };
}
