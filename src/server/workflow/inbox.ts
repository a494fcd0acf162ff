// The approver's inbox: to do, done, CC'd to me, started by me; counts; notifications.
// Lists page by keyset (time, id) so page 100 costs what page 1 costs; "to do" reads only the
// partial index of pending tasks of one user.
import type { Sql } from '../db/index.ts';
import { badRequest } from '../platform/errors.ts';

export interface InboxFilter {
  app?: string;
  workflow?: string;
  /** Words in the title. */
  q?: string;
  /** Created (to do / cc / started) or decided (done) within [from, to). */
  from?: string;
  to?: string;
  /** started: instance status. */
  status?: string;
  limit?: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

function decodeCursor(c: string | undefined): { at: Date; id: string } | null {
  if (!c) return null;
  try {
    const [at, id] = Buffer.from(c, 'base64url').toString('utf8').split('|');
    const d = new Date(at!);
    if (Number.isNaN(d.getTime()) || !/^[0-9a-f-]{36}$/.test(id ?? '')) throw new Error();
    return { at: d, id: id! };
  } catch {
    throw badRequest('The cursor is not valid: pass back nextCursor from the previous page unchanged.');
  }
}

const encodeCursor = (at: Date, id: string) => Buffer.from(`${new Date(at).toISOString()}|${id}`, 'utf8').toString('base64url');

/** Shared filter clauses; `t` is the alias carrying app/workflow/title, `time` the ordering column. */
function filters(f: InboxFilter, params: unknown[], alias: string, time: string): string {
  const where: string[] = [];
  if (f.app) where.push(`${alias}.app = $${params.push(f.app)}`);
  if (f.workflow) where.push(`${alias}.workflow = $${params.push(f.workflow)}`);
  if (f.q) where.push(`${alias}.title ilike $${params.push(`%${f.q.replace(/[\\%_]/g, (m) => `\\${m}`)}%`)}`);
  if (f.from) where.push(`${time} >= $${params.push(new Date(f.from))}`);
  if (f.to) where.push(`${time} < $${params.push(new Date(f.to))}`);
  const cur = decodeCursor(f.cursor);
  if (cur) where.push(`(${time}, ${alias}.id) < ($${params.push(cur.at)}, $${params.push(cur.id)})`);
  return where.length ? ` and ${where.join(' and ')}` : '';
}

function limitOf(f: InboxFilter): number {
  return Math.min(Math.max(f.limit ?? 20, 1), 200);
}

function page<T extends { id: string }>(rows: T[], limit: number, timeOf: (r: T) => Date): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  const last = items.at(-1);
  return { items, nextCursor: more && last ? encodeCursor(timeOf(last), last.id) : null };
}

export interface InboxTask {
  id: string;
  instanceId: string;
  nodeId: string;
  kind: string;
  title: string;
  app: string;
  workflow: string;
  initiatorId: string;
  initiatorName: string;
  onBehalfOf: string | null;
  escalationLevel: number;
  status: string;
  decision: string | null;
  createdAt: Date;
  decidedAt: Date | null;
}

const TASK_COLUMNS = `t.id, t.instance_id as "instanceId", t.node_id as "nodeId", t.kind, t.title, t.app, t.workflow,
  t.initiator_id as "initiatorId", u.display_name as "initiatorName", t.on_behalf_of as "onBehalfOf",
  t.escalation_level as "escalationLevel", t.status, t.decision, t.created_at as "createdAt", t.decided_at as "decidedAt"`;

export async function todo(sql: Sql, userId: string, f: InboxFilter = {}): Promise<Page<InboxTask>> {
  const params: unknown[] = [userId];
  const limit = limitOf(f);
  const where = filters(f, params, 't', 't.created_at');
  const r = await sql.query<InboxTask>(
    `select ${TASK_COLUMNS} from wf_tasks t join users u on u.id = t.initiator_id
      where t.assignee_id = $1 and t.status = 'pending'${where}
      order by t.created_at desc, t.id desc limit ${limit + 1}`,
    params,
  );
  return page(r.rows, limit, (x) => x.createdAt);
}

export async function done(sql: Sql, userId: string, f: InboxFilter = {}): Promise<Page<InboxTask>> {
  const params: unknown[] = [userId];
  const limit = limitOf(f);
  const where = filters(f, params, 't', 't.decided_at');
  const r = await sql.query<InboxTask>(
    `select ${TASK_COLUMNS} from wf_tasks t join users u on u.id = t.initiator_id
      where t.assignee_id = $1 and t.decided_at is not null and t.decided_by = $1${where}
      order by t.decided_at desc, t.id desc limit ${limit + 1}`,
    params,
  );
  return page(r.rows, limit, (x) => x.decidedAt!);
}

export interface InboxInstance {
  id: string;
  title: string;
  app: string;
  workflow: string;
  entity: string;
  recordId: string;
  status: string;
  initiatorId: string;
  initiatorName: string;
  createdAt: Date;
  endedAt: Date | null;
  readAt?: Date | null;
}

const INSTANCE_COLUMNS = `i.id, i.title, i.app, i.workflow, i.entity, i.record_id as "recordId", i.status, i.initiator_id as "initiatorId",
  u.display_name as "initiatorName", i.created_at as "createdAt", i.ended_at as "endedAt"`;

export async function cc(sql: Sql, userId: string, f: InboxFilter = {}): Promise<Page<InboxInstance & { ccId: string }>> {
  const params: unknown[] = [userId];
  const limit = limitOf(f);
  const where = filters({ ...f, cursor: undefined }, params, 'i', 'c.created_at');
  const cur = decodeCursor(f.cursor);
  const curSql = cur ? ` and (c.created_at, c.id) < ($${params.push(cur.at)}, $${params.push(cur.id)})` : '';
  const r = await sql.query<InboxInstance & { ccId: string; ccAt: Date }>(
    `select ${INSTANCE_COLUMNS}, c.id as "ccId", c.created_at as "ccAt", c.read_at as "readAt"
       from wf_cc c join wf_instances i on i.id = c.instance_id join users u on u.id = i.initiator_id
      where c.user_id = $1${where}${curSql}
      order by c.created_at desc, c.id desc limit ${limit + 1}`,
    params,
  );
  const more = r.rows.length > limit;
  const items = more ? r.rows.slice(0, limit) : r.rows;
  const last = items.at(-1);
  return { items, nextCursor: more && last ? encodeCursor(last.ccAt, last.ccId) : null };
}

export async function started(sql: Sql, userId: string, f: InboxFilter = {}): Promise<Page<InboxInstance>> {
  const params: unknown[] = [userId];
  const limit = limitOf(f);
  let where = filters(f, params, 'i', 'i.created_at');
  if (f.status) where += ` and i.status = $${params.push(f.status)}`;
  const r = await sql.query<InboxInstance>(
    `select ${INSTANCE_COLUMNS} from wf_instances i join users u on u.id = i.initiator_id
      where i.initiator_id = $1${where}
      order by i.created_at desc, i.id desc limit ${limit + 1}`,
    params,
  );
  return page(r.rows, limit, (x) => x.createdAt);
}

export interface InboxCounts {
  todo: number;
  done: number;
  ccUnread: number;
  startedRunning: number;
  notificationsUnread: number;
}

export async function counts(sql: Sql, userId: string): Promise<InboxCounts> {
  const r = await sql.query<InboxCounts>(
    `select
       (select count(*) from wf_tasks where assignee_id = $1 and status = 'pending')::int as todo,
       (select count(*) from wf_tasks where assignee_id = $1 and decided_at is not null and decided_by = $1)::int as done,
       (select count(*) from wf_cc where user_id = $1 and read_at is null)::int as "ccUnread",
       (select count(*) from wf_instances where initiator_id = $1 and status in ('running', 'returned'))::int as "startedRunning",
       (select count(*) from wf_notifications where user_id = $1 and read_at is null)::int as "notificationsUnread"`,
    [userId],
  );
  return r.rows[0]!;
}

export async function markCcRead(sql: Sql, userId: string, instanceId: string, at: Date): Promise<void> {
  await sql.query('update wf_cc set read_at = $3 where user_id = $1 and instance_id = $2 and read_at is null', [userId, instanceId, at]);
}

export interface NotificationRow {
  id: number;
  kind: string;
  instanceId: string | null;
  taskId: string | null;
  title: string;
  body: string | null;
  createdAt: Date;
  readAt: Date | null;
}

export async function notifications(sql: Sql, userId: string, o: { unread?: boolean; limit?: number; before?: number } = {}): Promise<NotificationRow[]> {
  const params: unknown[] = [userId];
  let where = '';
  if (o.unread) where += ' and read_at is null';
  if (o.before) where += ` and id < $${params.push(o.before)}`;
  const r = await sql.query<NotificationRow>(
    `select id, kind, instance_id as "instanceId", task_id as "taskId", title, body, created_at as "createdAt", read_at as "readAt"
       from wf_notifications where user_id = $1${where} order by id desc limit ${Math.min(Math.max(o.limit ?? 50, 1), 200)}`,
    params,
  );
  return r.rows;
}

export async function markNotificationsRead(sql: Sql, userId: string, ids: number[] | 'all', at: Date): Promise<number> {
  const r =
    ids === 'all'
      ? await sql.query('update wf_notifications set read_at = $2 where user_id = $1 and read_at is null', [userId, at])
      : await sql.query('update wf_notifications set read_at = $2 where user_id = $1 and id = any($3::bigint[]) and read_at is null', [userId, at, ids]);
  return r.rowCount;
}
