// Tamper-evident audit log. Entries are appended inside the caller's transaction, so an
// action and its audit entry commit together or not at all. Each entry's hash covers the
// previous entry's hash and its own canonical content: editing or deleting any row breaks
// the chain from there on, which `verifyAuditChain` reports.
import { createHash } from 'node:crypto';
import type { Sql, Tx } from '../../db/index.ts';
import type { Actor } from '../context.ts';

export interface AuditEvent {
  /** Verb in dotted form: `auth.login`, `auth.login_failed`, `org.user.create`, `record.update`. */
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  /** What changed; never secrets (passwords, tokens, keys). */
  detail?: Record<string, unknown>;
}

export interface AuditRow {
  seq: number;
  at: Date;
  actor_id: string | null;
  actor_name: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  detail: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);
// All writers of the chain queue on this lock for the rest of their transaction,
// so sequence order equals commit order and the chain has no forks.
const AUDIT_LOCK = 74_201_002;

/** JSON with object keys sorted at every level: the same content always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

function entryHash(prevHash: string, e: Omit<AuditRow, 'hash' | 'prev_hash'>): string {
  const content = canonicalJson({
    seq: e.seq,
    at: new Date(e.at).toISOString(),
    actor_id: e.actor_id,
    actor_name: e.actor_name,
    action: e.action,
    target_type: e.target_type,
    target_id: e.target_id,
    ip: e.ip,
    user_agent: e.user_agent,
    request_id: e.request_id,
    detail: e.detail,
  });
  return createHash('sha256').update(prevHash).update('\n').update(content).digest('hex');
}

/** Appends one entry in the caller's transaction. `actor` null = anonymous (e.g. a failed login). */
export async function appendAudit(tx: Tx, actor: Actor | null, event: AuditEvent, at: Date = new Date()): Promise<number> {
  await tx.query('select pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
  // Continue from the recorded head, not merely the last row: after a deleted tail the next
  // entry still links to the vanished one, so the gap stays visible to `verifyAuditChain`.
  const last = (await tx.query<{ seq: number; hash: string }>('select seq, hash from audit_log order by seq desc limit 1')).rows[0];
  const head = await readAuditHead(tx);
  const prev = head && (!last || head.seq >= last.seq) ? head : last;
  const prevHash = prev?.hash ?? GENESIS;
  const seq = (prev?.seq ?? 0) + 1;
  // Millisecond precision: what is hashed must survive the round trip through timestamptz.
  const when = new Date(Math.floor(at.getTime()));
  const row = {
    seq,
    at: when,
    actor_id: actor?.principal.userId ?? null,
    actor_name: actor?.principal.username ?? null,
    action: event.action,
    target_type: event.targetType ?? null,
    target_id: event.targetId ?? null,
    ip: actor?.meta.ip ?? null,
    user_agent: actor?.meta.userAgent ?? null,
    request_id: actor?.meta.requestId ?? null,
    detail: JSON.parse(JSON.stringify(event.detail ?? {})) as Record<string, unknown>,
  };
  const hash = entryHash(prevHash, row);
  await tx.query(
    `insert into audit_log (seq, at, actor_id, actor_name, action, target_type, target_id, ip, user_agent, request_id, detail, prev_hash, hash)
     values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
    [seq, when, row.actor_id, row.actor_name, row.action, row.target_type, row.target_id, row.ip, row.user_agent, row.request_id, JSON.stringify(row.detail), prevHash, hash],
  );
  await tx.query(
    `insert into system_settings (key, value, updated_at) values ($1, $2, now())
     on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at`,
    [AUDIT_HEAD_KEY, JSON.stringify({ seq, hash })],
  );
  return seq;
}

/** `system_settings` key holding `{seq, hash}` of the newest entry, written with every append. */
export const AUDIT_HEAD_KEY = 'audit.head';

export interface AuditHead {
  seq: number;
  hash: string;
}

export async function readAuditHead(sql: Sql): Promise<AuditHead | null> {
  const r = await sql.query<{ value: unknown }>('select value from system_settings where key = $1', [AUDIT_HEAD_KEY]);
  const v = r.rows[0]?.value as Partial<AuditHead> | string | undefined;
  const head = typeof v === 'string' ? (JSON.parse(v) as Partial<AuditHead>) : v;
  if (!head || typeof head.seq !== 'number' || typeof head.hash !== 'string') return null;
  return { seq: head.seq, hash: head.hash };
}

/** Audit for an anonymous request (failed login): the caller knows only where it came from. */
export function anonymousActor(meta: Actor['meta'], username?: string): Actor {
  return {
    principal: {
      kind: 'user',
      userId: null as unknown as string,
      username: username ?? 'anonymous',
      displayName: username ?? 'anonymous',
      roles: [],
      departmentIds: [],
      primaryDepartmentId: null,
      scopes: [],
    },
    meta,
  };
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  /** First entry whose content or link does not match. */
  brokenAt?: number;
  reason?: string;
}

/**
 * Walks the whole chain in pages and recomputes every hash, then compares the end of the chain
 * with the recorded head, so that deleting the newest entries is noticed too. The head is read
 * first: entries appended while the walk runs are checked by their links and do not count as
 * tampering.
 */
export async function verifyAuditChain(sql: Sql, pageSize = 5000): Promise<VerifyResult> {
  const head = await readAuditHead(sql);
  let headHashSeen: string | undefined;
  let prevHash = GENESIS;
  let expectedSeq = 1;
  let checked = 0;
  for (;;) {
    const page = await sql.query<AuditRow>(
      `select seq, at, actor_id, actor_name, action, target_type, target_id, ip, user_agent, request_id, detail, prev_hash, hash
       from audit_log where seq >= $1 order by seq limit $2`,
      [expectedSeq, pageSize],
    );
    for (const row of page.rows) {
      if (row.seq !== expectedSeq) return { ok: false, checked, brokenAt: expectedSeq, reason: `entry ${expectedSeq} is missing` };
      if (row.prev_hash !== prevHash) return { ok: false, checked, brokenAt: row.seq, reason: `entry ${row.seq} does not link to entry ${row.seq - 1}` };
      if (entryHash(prevHash, row) !== row.hash) return { ok: false, checked, brokenAt: row.seq, reason: `entry ${row.seq} was altered` };
      if (head && row.seq === head.seq) headHashSeen = row.hash;
      prevHash = row.hash;
      expectedSeq++;
      checked++;
    }
    if (page.rows.length < pageSize) break;
  }
  // A deleted tail is caught by comparing with the highest sequence ever handed out.
  const lastSeq = expectedSeq - 1;
  if (!head) {
    if (checked === 0) return { ok: true, checked };
    return { ok: false, checked, brokenAt: lastSeq, reason: `the chain head record (system setting ${AUDIT_HEAD_KEY}) is missing` };
  }
  if (lastSeq < head.seq) {
    const gap = lastSeq + 1 === head.seq ? `entry ${head.seq} is missing` : `entries ${lastSeq + 1} to ${head.seq} are missing`;
    return { ok: false, checked, brokenAt: lastSeq + 1, reason: `${gap}: the log ends at entry ${lastSeq} but entry ${head.seq} was written` };
  }
  if (headHashSeen !== head.hash) {
    return { ok: false, checked, brokenAt: head.seq, reason: `entry ${head.seq} does not match the recorded chain head` };
  }
  return { ok: true, checked };
}
