// Channels (subscriptions): "these notifications go to that connector". A channel owns one
// integration flow (`notify.<name>`, event type trellis.notify.requested, source
// /trellis/notify/<channel id>, mapping `data.message`), created, changed and deleted with it in
// the same transaction — so its sends are ordinary deliveries: retried with backoff, rate-limited
// (robots accept ~20 messages a minute), visible and fixable on the integration health screens.
//  - audience `group`: one message per notification to a group robot (WeCom, DingTalk, Feishu),
//    or to fixed addresses (`to`) over SMTP; rendered in the channel's language.
//  - audience `recipients`: one email per recipient who wants email for that kind, in the
//    recipient's language, to the recipient's address (SMTP connectors only).
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Sql, Tx } from '../db/index.ts';
import type { Actor } from '../platform/context.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { badRequest, conflict, notFound } from '../platform/errors.ts';
import { connectorService, flowService, getDriver } from '../integration/index.ts';
import { Language } from './templates.ts';

/** A notification to fan out (caller's transaction → the notify.fanout subscriber). */
export const NOTIFY_REQUESTED = 'trellis.notify.requested';
/** One rendered message for one channel (→ the channel's flow → its connector). */
export const NOTIFY_EVENT = 'trellis.notify.message';
export const channelSource = (id: string) => `/trellis/notify/${id}`;

export const ChannelName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,59}$/, 'lower-case letters, digits, _ and - (at most 60)');
export const Kind = z.string().regex(/^[a-z][a-z0-9_.]{0,59}$/, 'a notification kind: lower-case letters, digits, _ and . (e.g. task, escalation, andon.opened)');
export const Email = z.string().max(320).regex(/^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$/, 'an email address like name@example.com');

const Delivery = z
  .strictObject({
    maxAttempts: z.number().int().min(1).max(1000).optional(),
    backoffBaseMs: z.number().int().min(10).max(3_600_000).optional(),
    backoffCapMs: z.number().int().min(10).max(86_400_000).optional(),
    /** Robots take about 20 messages a minute; the default rate keeps under that. */
    ratePerSecond: z.number().positive().max(1000).nullish(),
    burst: z.number().int().min(1).max(1000).optional(),
  })
  .default({});

const Fields = {
  /** Connector id or name; its kind must be a destination (wecom, dingtalk, feishu, smtp, http…). */
  connector: z.string().min(1).max(100),
  audience: z.enum(['group', 'recipients']),
  /** Notification kinds, or "*" for all. */
  kinds: z.array(z.union([Kind, z.literal('*')])).min(1, 'at least one kind, or "*"').max(50),
  /** Only notifications about this app. */
  app: z.string().min(1).max(60).nullish(),
  /** Only notifications for people in this department (or below it). */
  departmentId: z.uuid().nullish(),
  /** Language of group messages (recipients get their own). */
  language: Language,
  /** Fixed addresses for a `group` channel on an SMTP connector (a shared mailbox). */
  to: z.array(Email).min(1).max(50).nullish(),
  enabled: z.boolean(),
};

export const ChannelCreate = z.strictObject({
  name: ChannelName,
  connector: Fields.connector,
  audience: Fields.audience.default('group'),
  kinds: Fields.kinds,
  app: Fields.app,
  departmentId: Fields.departmentId,
  language: Fields.language.default('zh-CN'),
  to: Fields.to,
  enabled: Fields.enabled.default(true),
  delivery: Delivery,
});
export type ChannelCreate = z.infer<typeof ChannelCreate>;

export const ChannelPatch = z.strictObject({
  name: ChannelName.optional(),
  connector: Fields.connector.optional(),
  audience: Fields.audience.optional(),
  kinds: Fields.kinds.optional(),
  app: Fields.app,
  departmentId: Fields.departmentId,
  language: Fields.language.optional(),
  to: Fields.to,
  enabled: Fields.enabled.optional(),
  delivery: Delivery.optional(),
});
export type ChannelPatch = z.infer<typeof ChannelPatch>;

export interface ChannelRow {
  id: string;
  name: string;
  flow_id: string;
  audience: 'group' | 'recipients';
  kinds: string[];
  app: string | null;
  department_id: string | null;
  language: 'zh-CN' | 'en';
  to_addresses: string[] | null;
  enabled: boolean;
  version: number;
  created_at: Date;
  updated_at: Date;
  connector_id: string;
  connector_name: string;
  connector_kind: string;
  flow_name: string;
}

export interface ChannelView {
  id: string;
  name: string;
  connector: { id: string; name: string; kind: string };
  flow: { id: string; name: string };
  audience: 'group' | 'recipients';
  kinds: string[];
  app: string | null;
  departmentId: string | null;
  language: 'zh-CN' | 'en';
  to: string[] | null;
  enabled: boolean;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export function viewChannel(r: ChannelRow): ChannelView {
  return {
    id: r.id,
    name: r.name,
    connector: { id: r.connector_id, name: r.connector_name, kind: r.connector_kind },
    flow: { id: r.flow_id, name: r.flow_name },
    audience: r.audience,
    kinds: r.kinds,
    app: r.app,
    departmentId: r.department_id,
    language: r.language,
    to: r.to_addresses,
    enabled: r.enabled,
    version: r.version,
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

const SELECT = `select c.*, f.connector_id, k.name as connector_name, k.kind as connector_kind, f.name as flow_name
  from notify_channels c join integration_flows f on f.id = c.flow_id join integration_connectors k on k.id = f.connector_id`;

export async function listChannels(sql: Sql): Promise<ChannelRow[]> {
  return (await sql.query<ChannelRow>(`${SELECT} order by c.name`)).rows;
}

export async function getChannel(sql: Sql, idOrName: string): Promise<ChannelRow> {
  const isId = /^[0-9a-f-]{36}$/i.test(idOrName);
  const r = await sql.query<ChannelRow>(`${SELECT} where ${isId ? 'c.id = $1::uuid' : 'c.name = $1'}`, [idOrName]);
  if (!r.rows[0]) throw notFound(`No notification channel ${JSON.stringify(idOrName)}. List them with GET /api/v1/notify/channels.`);
  return r.rows[0];
}

async function connectorOf(tx: Tx, connector: string): Promise<{ id: string; name: string; kind: string }> {
  let row;
  try {
    row = await connectorService.getConnector(tx, connector);
  } catch {
    throw badRequest(`No connector ${JSON.stringify(connector)}; create it first (POST /api/v1/integration/connectors, kind wecom, dingtalk, feishu or smtp).`, [
      { path: 'body.connector', message: 'unknown connector' },
    ]);
  }
  if (!getDriver(row.kind)?.openDestination) {
    throw badRequest(`The connector "${row.name}" (kind ${row.kind}) cannot receive messages; use a wecom, dingtalk, feishu or smtp connector.`, [
      { path: 'body.connector', message: 'not a destination' },
    ]);
  }
  return { id: row.id, name: row.name, kind: row.kind };
}

function checkShape(audience: string, kind: string, to: string[] | null | undefined): void {
  if (audience === 'recipients' && kind !== 'smtp') {
    throw badRequest(`A "recipients" channel sends each person an email, so it needs an smtp connector (this one is ${kind}); use audience "group" for group robots.`, [
      { path: 'body.audience', message: 'recipients needs an smtp connector' },
    ]);
  }
  if (audience === 'group' && kind === 'smtp' && !to?.length) {
    throw badRequest('A "group" channel on an smtp connector needs the addresses to send to in "to" (or use audience "recipients").', [{ path: 'body.to', message: 'required for group email' }]);
  }
  if (to?.length && kind !== 'smtp') throw badRequest('"to" applies to smtp connectors only; remove it.', [{ path: 'body.to', message: 'only for smtp' }]);
}

async function checkDepartment(tx: Tx, id: string | null | undefined): Promise<void> {
  if (!id) return;
  const r = await tx.query('select 1 from departments where id = $1', [id]);
  if (!r.rowCount) throw badRequest(`There is no department ${id}.`, [{ path: 'body.departmentId', message: 'unknown department' }]);
}

async function nameFree(tx: Tx, name: string, exceptId: string | null): Promise<void> {
  const r = await tx.query('select 1 from notify_channels where name = $1 and id is distinct from $2::uuid', [name, exceptId]);
  if (r.rowCount) throw conflict(`A notification channel named "${name}" already exists; choose another name.`);
  const f = await tx.query<{ id: string }>('select id from integration_flows where name = $1', [`notify.${name}`]);
  if (f.rows[0] && !(await tx.query('select 1 from notify_channels where flow_id = $1 and id = $2::uuid', [f.rows[0].id, exceptId])).rowCount) {
    throw conflict(`An integration flow named "notify.${name}" already exists; choose another channel name.`);
  }
}

function flowSettings(d: z.infer<typeof Delivery>, connectorKind: string) {
  const robot = connectorKind !== 'smtp';
  return {
    maxAttempts: d.maxAttempts ?? 12,
    backoffBaseMs: d.backoffBaseMs ?? 2000,
    backoffCapMs: Math.max(d.backoffCapMs ?? 600_000, d.backoffBaseMs ?? 2000),
    ratePerSecond: d.ratePerSecond === undefined ? (robot ? 0.3 : 5) : d.ratePerSecond,
    burst: d.burst ?? (robot ? 10 : 20),
  };
}

// ---------------------------------------------------------------------------------------------
// Could any channel take a notification? Every approval step notifies someone; most plants have
// channels for a few kinds only. Per database, the enabled channels' kinds and apps are kept in
// memory, re-read at most every CHANNEL_RULES_STALE_MS (a channel enabled by another Trellis
// process counts within that time, as app definitions do) and forgotten at once when this
// process changes a channel. When none could take it, a notification costs no statement; when
// one could, the insert still checks exactly (flow enabled, kind, app) in the database.

const CHANNEL_RULES_STALE_MS = 2000;
const channelRules = new WeakMap<object, { at: number; rules: Array<{ kinds: string[]; app: string | null }> }>();

/** False only when no enabled channel takes notifications of this kind and app. */
export async function channelCouldTake(tx: Tx, kind: string, app: string | null): Promise<boolean> {
  const db = tx.database;
  if (!db) return true; // a view of a transaction: no cache, the insert decides
  let known = channelRules.get(db);
  if (!known || Date.now() - known.at >= CHANNEL_RULES_STALE_MS) {
    const r = await tx.query<{ kinds: string[]; app: string | null }>('select kinds, app from notify_channels where enabled');
    known = { at: Date.now(), rules: r.rows };
    channelRules.set(db, known);
  }
  return known.rules.some((c) => (c.kinds.includes('*') || c.kinds.includes(kind)) && (c.app === null || c.app === app));
}

/** A channel changed: re-read the rules now (this transaction sees its change) and after commit. */
function forgetChannelRules(tx: Tx): void {
  const db = tx.database;
  if (!db) return;
  channelRules.delete(db);
  tx.afterCommit(() => {
    channelRules.delete(db);
  });
}

export async function createChannel(tx: Tx, actor: Actor, input: ChannelCreate): Promise<ChannelRow> {
  forgetChannelRules(tx);
  const conn = await connectorOf(tx, input.connector);
  checkShape(input.audience, conn.kind, input.to);
  await checkDepartment(tx, input.departmentId);
  await nameFree(tx, input.name, null);
  const id = randomUUID();
  const flow = await flowService.createFlow(tx, actor, {
    name: `notify.${input.name}`,
    description: `Notification channel ${input.name} (managed by /api/v1/notify/channels)`,
    connector: conn.id,
    eventTypes: [NOTIFY_EVENT],
    condition: { source: channelSource(id) },
    mapping: 'data.message',
    enabled: input.enabled,
    maxConcurrency: conn.kind === 'smtp' ? 4 : 1, // robots: one at a time (their rate limits); mail: a few connections
    batchSize: 1,
    alerts: {},
    ...flowSettings(input.delivery, conn.kind),
  });
  await tx.query(
    `insert into notify_channels (id, name, flow_id, audience, kinds, app, department_id, language, to_addresses, enabled) values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
    [id, input.name, flow.id, input.audience, input.kinds, input.app ?? null, input.departmentId ?? null, input.language, input.to ?? null, input.enabled],
  );
  const row = await getChannel(tx, id);
  await appendAudit(tx, actor, { action: 'notify.channel.create', targetType: 'notify_channel', targetId: id, detail: { ...viewChannel(row) } });
  return row;
}

export async function updateChannel(tx: Tx, actor: Actor, idOrName: string, patch: ChannelPatch): Promise<ChannelRow> {
  forgetChannelRules(tx);
  const cur = await getChannel(tx, idOrName);
  await tx.query('select 1 from notify_channels where id = $1 for update', [cur.id]);
  const conn = patch.connector === undefined ? { id: cur.connector_id, name: cur.connector_name, kind: cur.connector_kind } : await connectorOf(tx, patch.connector);
  const audience = patch.audience ?? cur.audience;
  const to = patch.to === undefined ? cur.to_addresses : patch.to;
  checkShape(audience, conn.kind, to);
  if (patch.departmentId !== undefined) await checkDepartment(tx, patch.departmentId);
  const name = patch.name ?? cur.name;
  if (name !== cur.name) await nameFree(tx, name, cur.id);
  const enabled = patch.enabled ?? cur.enabled;
  await flowService.updateFlow(tx, actor, cur.flow_id, {
    ...(name !== cur.name ? { name: `notify.${name}` } : {}),
    ...(patch.connector !== undefined ? { connector: conn.id } : {}),
    enabled,
    ...(patch.delivery ? flowSettings(patch.delivery, conn.kind) : {}),
  });
  await tx.query(
    `update notify_channels set name = $2, audience = $3, kinds = $4, app = $5, department_id = $6, language = $7, to_addresses = $8, enabled = $9,
       version = version + 1, updated_at = now() where id = $1`,
    [
      cur.id,
      name,
      audience,
      patch.kinds ?? cur.kinds,
      patch.app === undefined ? cur.app : patch.app,
      patch.departmentId === undefined ? cur.department_id : patch.departmentId,
      patch.language ?? cur.language,
      to ?? null,
      enabled,
    ],
  );
  const row = await getChannel(tx, cur.id);
  await appendAudit(tx, actor, { action: 'notify.channel.update', targetType: 'notify_channel', targetId: cur.id, detail: { before: viewChannel(cur), after: viewChannel(row) } });
  return row;
}

export async function deleteChannel(tx: Tx, actor: Actor, idOrName: string): Promise<void> {
  forgetChannelRules(tx);
  const cur = await getChannel(tx, idOrName);
  await flowService.deleteFlow(tx, actor, cur.flow_id); // cascades to the channel row
  await appendAudit(tx, actor, { action: 'notify.channel.delete', targetType: 'notify_channel', targetId: cur.id, detail: { name: cur.name, connector: cur.connector_name } });
}
