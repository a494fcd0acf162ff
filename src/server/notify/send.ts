// sendNotification: the one entry point other engines call, inside THEIR transaction. It adds no
// read and no round trip of its own: it queues (Tx.beforeCommit, else runs at once, combined)
//  - the in-app rows (wf_notifications) for the recipients who did not turn in-app off for the kind;
//  - one outbox event `trellis.notify.requested` carrying the notification — inserted only when an
//    enabled channel matches the kind and app (a conditional insert), so a plant without channels
//    pays nothing more.
// The fan-out runs after commit as an in-process subscriber of that event (`notify.fanout`: its
// effect commits exactly once with its delivery): it reads the matching channels, the recipients'
// languages, addresses, preferences and departments and the template overrides, renders one
// message per external send (group channel: one per notification in the channel's language;
// recipients channel: one email per person in the person's language) and writes one outbox event
// `trellis.notify.message` per send (source /trellis/notify/<channel id>). The relay turns each into
// a delivery of the channel's flow: retried, idempotency-keyed, on the health dashboard.
import { randomUUID } from 'node:crypto';
import { combineStatements, type Statement, type Tx } from '../db/index.ts';
import { badRequest } from '../platform/errors.ts';
import { OUTBOX_CHANNEL, outboxStatement } from '../platform/events/index.ts';
import { flowService } from '../integration/index.ts';
import { NOTIFY_EVENT, NOTIFY_REQUESTED, channelCouldTake, channelSource } from './channels.ts';
import { OUTCOME_WORDS, pick, plainText, render, type Language, type TemplateRow } from './templates.ts';

export interface NotificationInput {
  /** e.g. task, reminder, escalation, outcome, cc, returned, message, or an app's own (andon.opened). */
  kind: string;
  userIds: string[];
  /** The subject line (also the in-app title and `{{title}}`). */
  title: string;
  body?: string | null;
  /** Template key; defaults to the kind. */
  template?: string;
  /** More placeholder values (`{{record.line}}`…). */
  data?: Record<string, unknown>;
  app?: string | null;
  entity?: string | null;
  recordId?: string | null;
  instanceId?: string | null;
  taskId?: string | null;
  /** Who caused it (shown as `{{initiator}}`). */
  fromUserId?: string | null;
  /** A link for the reader (default: the task or approval page). */
  link?: string | null;
  at?: Date;
  /** false: no in-app row (the caller wrote its own). */
  inApp?: boolean;
}

export interface NotifySettings {
  /** Where people open Trellis (links in external messages); empty: relative links. */
  publicUrl: string;
  timezone: string;
}

const settings: NotifySettings = { publicUrl: '', timezone: 'Asia/Shanghai' };
export function configureNotify(s: Partial<NotifySettings>): void {
  Object.assign(settings, s);
  settings.publicUrl = settings.publicUrl.replace(/\/+$/, '');
}

interface ChannelHit {
  id: string;
  name: string;
  audience: 'group' | 'recipients';
  department_id: string | null;
  language: Language;
  to_addresses: string[] | null;
  connector_id: string;
}

interface Recipient {
  id: string;
  name: string;
  nameEn: string | null;
  email: string | null;
  locale: string | null;
  channels: Record<string, string[]> | null;
  quietStart: string | null;
  quietEnd: string | null;
  departments: string[];
}

export interface Message {
  title: string;
  text: string;
  markdown: string;
  lang: Language;
  kind: string;
  link: string | null;
  to?: string[];
}

export const languageOf = (locale: string | null | undefined): Language => (locale && /^en/i.test(locale) ? 'en' : 'zh-CN');

/** The channels a person has chosen for a kind: both unless the preferences say otherwise. */
export function wants(r: Pick<Recipient, 'channels'>, kind: string, channel: 'inapp' | 'email'): boolean {
  const c = r.channels?.[kind];
  return c === undefined ? true : c.includes(channel);
}

const toMin = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
export function inQuietHours(start: string | null, end: string | null, at: Date, timezone: string): boolean {
  if (!start || !end || start === end) return false;
  const now = flowService.localMinutes(at, timezone);
  const s = toMin(start);
  const e = toMin(end);
  return s < e ? now >= s && now < e : now >= s || now < e;
}

export function renderMessage(
  templates: ReadonlyArray<Pick<TemplateRow, 'key' | 'locale' | 'title' | 'body'>>,
  key: string,
  lang: Language,
  kind: string,
  data: Record<string, unknown>,
  link: string | null,
): Message {
  const t = pick(key, lang, templates);
  const words = typeof data.body === 'string' ? OUTCOME_WORDS[data.body] : undefined;
  const d = { outcome: words ? words[lang] : (data.body ?? ''), ...data };
  const title = render(t.title, d).replace(/\s+/g, ' ').trim().slice(0, 500) || String(data.title ?? kind).slice(0, 500);
  const markdown = render(t.body, d).trim();
  return { title, markdown, text: plainText(markdown), lang, kind, link };
}

/** Condition under which a notification is worth fanning out: an enabled channel matches it ($1 kind, $2 app). */
const CHANNEL_MATCHES = `exists (select 1 from notify_channels c join integration_flows f on f.id = c.flow_id
   where c.enabled and f.enabled and ('*' = any(c.kinds) or c.kinds @> array[$1::text]) and (c.app is null or c.app = $2::text))`;

/** What the requested event carries (the fan-out's input). */
export interface RequestedData {
  kind: string;
  userIds: string[];
  title: string;
  body: string | null;
  template: string;
  data: Record<string, unknown>;
  app: string | null;
  entity: string | null;
  recordId: string | null;
  instanceId: string | null;
  taskId: string | null;
  fromUserId: string | null;
  link: string | null;
}

type DeferringTx = Tx & { beforeCommit?: (s: Statement | (() => Statement | null)) => void };

/**
 * Queues the in-app rows and the fan-out request of a notification in `tx` (nothing is read, no
 * network). External messages follow after commit, each as a delivery.
 */
export async function sendNotification(tx: Tx, input: NotificationInput): Promise<{ eventId: string | null }> {
  const userIds = [...new Set(input.userIds)];
  if (userIds.length === 0) return { eventId: null };
  const at = input.at ?? new Date();
  const statements: Statement[] = [];
  if (input.inApp !== false) {
    statements.push({
      text: `insert into wf_notifications (user_id, kind, instance_id, task_id, title, body, created_at)
             select u.id, $2::text, $3, $4, $5, $6, $7
               from unnest($1::uuid[]) as u(id) left join notify_preferences p on p.user_id = u.id
              where p.channels is null or p.channels -> $2::text is null or p.channels -> $2::text @> '"inapp"'::jsonb`,
      params: [userIds, input.kind, input.instanceId ?? null, input.taskId ?? null, input.title, input.body ?? null, at],
    });
  }
  const data: RequestedData = {
    kind: input.kind,
    userIds,
    title: input.title,
    body: input.body ?? null,
    template: input.template ?? input.kind,
    data: input.data ?? {},
    app: input.app ?? null,
    entity: input.entity ?? null,
    recordId: input.recordId ?? null,
    instanceId: input.instanceId ?? null,
    taskId: input.taskId ?? null,
    fromUserId: input.fromUserId ?? null,
    link: input.link ?? null,
  };
  // no enabled channel could take it (checked in memory, see channelCouldTake): no fan-out request
  if (!(await channelCouldTake(tx, input.kind, input.app ?? null))) {
    await queue(tx, statements);
    return { eventId: null };
  }
  const eventId = randomUUID();
  statements.push({
    text: `insert into outbox (event_id, type, source, subject, time, data, partition_key)
           select $3::uuid, '${NOTIFY_REQUESTED}', '/trellis/notify', null, $4::timestamptz, $5::jsonb, null where ${CHANNEL_MATCHES}`,
    params: [input.kind, input.app ?? null, eventId, at.toISOString(), JSON.stringify(data)],
  });
  tx.notifyAfterCommit(OUTBOX_CHANNEL);
  await queue(tx, statements);
  return { eventId };
}

/** Queues the statements for commit (or runs them now in a transaction without a queue). */
async function queue(tx: Tx, statements: Statement[]): Promise<void> {
  if (!statements.length) return;
  const d = tx as DeferringTx;
  if (d.beforeCommit) for (const st of statements) d.beforeCommit(st);
  else {
    const all = combineStatements(statements);
    await tx.query(all.text, all.params);
  }
}

const READ = `
with ch as (
  select c.id, c.name, c.audience, c.department_id, c.language, c.to_addresses, f.connector_id
    from notify_channels c join integration_flows f on f.id = c.flow_id
   where c.enabled and f.enabled and ('*' = any(c.kinds) or c.kinds @> array[$2::text]) and (c.app is null or c.app = $3::text)
)
select (select coalesce(json_agg(ch order by ch.name), '[]'::json) from ch) as channels,
       (select coalesce(json_agg(json_build_object(
                  'id', u.id, 'name', u.display_name, 'nameEn', u.display_name_en, 'email', coalesce(p.email, u.email),
                  'locale', coalesce(p.language, u.locale), 'channels', p.channels, 'quietStart', p.quiet_start, 'quietEnd', p.quiet_end,
                  'departments', (select coalesce(json_agg(distinct dc.ancestor_id), '[]'::json)
                                    from user_departments ud join department_closure dc on dc.descendant_id = ud.department_id
                                   where ud.user_id = u.id))), '[]'::json)
           from users u left join notify_preferences p on p.user_id = u.id where u.id = any($1::uuid[]) and u.active) as users,
       (select coalesce(json_agg(json_build_object('key', t.key, 'locale', t.locale, 'title', t.title, 'body', t.body)), '[]'::json)
           from notify_templates t where t.key = $4) as templates,
       (select json_build_object('name', display_name, 'nameEn', display_name_en) from users where id = $5::uuid) as sender`;

interface ReadRow {
  channels: ChannelHit[];
  users: Recipient[];
  templates: TemplateRow[];
  sender: { name: string; nameEn: string | null } | null;
}

/**
 * The fan-out of one requested notification (run by the notify.fanout subscriber in the
 * transaction that marks its delivery done): one `trellis.notify.message` event per external send.
 */
export async function fanOut(tx: Tx, req: RequestedData, at: Date): Promise<string[]> {
  const r = await tx.query<ReadRow>(READ, [req.userIds, req.kind, req.app, req.template, req.fromUserId]);
  const row = r.rows[0]!;
  if (!row.channels.length) return [];
  const users = row.users.sort((a, b) => req.userIds.indexOf(a.id) - req.userIds.indexOf(b.id));
  const link = req.link ?? (req.taskId ? `${settings.publicUrl}/tasks/${req.taskId}` : req.instanceId ? `${settings.publicUrl}/approvals/${req.instanceId}` : null);
  const base = (lang: Language, names: string): Record<string, unknown> => ({
    title: req.title,
    body: req.body ?? '',
    kind: req.kind,
    app: req.app ?? '',
    entity: req.entity ?? '',
    recordId: req.recordId ?? '',
    instanceId: req.instanceId ?? '',
    taskId: req.taskId ?? '',
    link: link ?? '',
    initiator: row.sender ? (lang === 'en' ? (row.sender.nameEn ?? row.sender.name) : row.sender.name) : '',
    recipients: names,
    recipient: names,
    ...req.data,
  });
  const nameIn = (u: Recipient, lang: Language) => (lang === 'en' ? (u.nameEn ?? u.name) : u.name);

  const sends: Array<{ channel: ChannelHit; userId: string | null; message: Message }> = [];
  const seen = new Set<string>();
  for (const c of row.channels) {
    const people = c.department_id ? users.filter((u) => u.departments.includes(c.department_id!)) : users;
    if (people.length === 0) continue;
    if (c.audience === 'group') {
      if (seen.has(`g:${c.connector_id}`)) continue; // one message per robot, even if two channels match
      seen.add(`g:${c.connector_id}`);
      const names = people.map((u) => nameIn(u, c.language)).join(c.language === 'en' ? ', ' : '、');
      const m = renderMessage(row.templates, req.template, c.language, req.kind, base(c.language, names), link);
      sends.push({ channel: c, userId: null, message: c.to_addresses?.length ? { ...m, to: c.to_addresses } : m });
    } else {
      for (const u of people) {
        if (!u.email || !wants(u, req.kind, 'email') || inQuietHours(u.quietStart, u.quietEnd, at, settings.timezone)) continue;
        if (seen.has(`r:${c.connector_id}:${u.id}`)) continue;
        seen.add(`r:${c.connector_id}:${u.id}`);
        const lang = languageOf(u.locale);
        const m = renderMessage(row.templates, req.template, lang, req.kind, base(lang, nameIn(u, lang)), link);
        sends.push({ channel: c, userId: u.id, message: { ...m, to: [u.email] } });
      }
    }
  }
  if (sends.length === 0) return [];
  const statements = sends.map((s) =>
    outboxStatement(tx, {
      type: NOTIFY_EVENT,
      source: channelSource(s.channel.id),
      partitionKey: null,
      time: at,
      data: {
        channel: s.channel.name,
        kind: req.kind,
        userId: s.userId,
        app: req.app,
        entity: req.entity,
        recordId: req.recordId,
        instanceId: req.instanceId,
        taskId: req.taskId,
        message: s.message,
      },
    }).statement,
  );
  const all = combineStatements(statements);
  await tx.query(all.text, all.params);
  return sends.map((s) => s.channel.name);
}

/**
 * A test message through one channel (the `test` template, or `template`), as a delivery like any
 * other: it proves connector, flow and the other side together. A recipients channel sends it to
 * `to`, else to the caller's address.
 */
export async function sendTestMessage(
  tx: Tx,
  channel: { id: string; name: string; audience: 'group' | 'recipients'; language: Language; to_addresses: string[] | null },
  o: { userId: string; language?: Language; to?: string[]; template?: string; data?: Record<string, unknown>; at?: Date },
): Promise<{ eventId: string; to: string[] | null }> {
  const me = await tx.query<{ email: string | null; locale: string | null }>(
    'select coalesce(p.email, u.email) as email, coalesce(p.language, u.locale) as locale from users u left join notify_preferences p on p.user_id = u.id where u.id = $1',
    [o.userId],
  );
  const lang = o.language ?? (channel.audience === 'group' ? channel.language : languageOf(me.rows[0]?.locale));
  const key = o.template ?? 'test';
  const templates = (await tx.query<TemplateRow>('select * from notify_templates where key = $1', [key])).rows;
  const m = renderMessage(templates, key, lang, 'test', { title: 'Trellis', body: '', channel: channel.name, ...(o.data ?? {}) }, settings.publicUrl || null);
  let to: string[] | null = null;
  if (channel.audience === 'recipients') {
    to = o.to ?? (me.rows[0]?.email ? [me.rows[0].email] : null);
    if (!to?.length) throw badRequest('There is no address to send the test email to: give "to", or set your email (profile or notification preferences).', [{ path: 'body.to', message: 'required' }]);
  } else if (channel.to_addresses?.length) to = channel.to_addresses;
  const { statement, event } = outboxStatement(tx, {
    type: NOTIFY_EVENT,
    source: channelSource(channel.id),
    partitionKey: null,
    time: o.at,
    data: { channel: channel.name, kind: 'test', userId: o.userId, message: to ? { ...m, to } : m },
  });
  await tx.query(statement.text, statement.params);
  return { eventId: event.id, to };
}
