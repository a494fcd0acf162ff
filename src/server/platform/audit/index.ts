// Tamper-evident audit log. Entries are appended inside the caller's transaction, so an
// action and its audit entry commit together or not at all. A sealer then links committed
// entries into a hash chain (each hash covers the previous hash and the entry's canonical
// content) and records the chain head; editing, deleting or truncating sealed entries breaks
// the chain, which `verifyAuditChain` reports.
//
// Why seal after commit instead of chaining inside the writer's transaction: chaining in the
// transaction needs one global lock held until commit, which serialises every data-changing
// transaction of the platform (measured: 1,050 vs 1,820 tx/s on this machine). The sealer
// runs right after each commit in-process (at most every 100 ms under a steady flow) and every
// second as a worker, so the window in which an entry is written but not yet chained is a
// fraction of a second. See docs/decisions/0006-audit-chain.md.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Database, Sql, Statement, Tx } from '../../db/index.ts';
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
  prev_hash: string | null;
  hash: string | null;
  /** Position in the hash chain; null until sealed. */
  chain_pos: number | null;
}

const GENESIS = '0'.repeat(64);
// Only one sealer extends the chain at a time (across processes).
const AUDIT_LOCK = 74_201_002;

/** Wakes the sealers of this process after a commit that appended entries. */
const appended = new EventEmitter();
appended.setMaxListeners(0);

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

/**
 * The INSERT of one audit entry, for the caller to run in its transaction (alone, or combined with
 * other writes into one round trip by `combineStatements`). Registers the after-commit wake-up of
 * the sealer. `actor` null = anonymous (e.g. a failed login).
 */
export function auditStatement(tx: Tx, actor: Actor | null, event: AuditEvent, at: Date = new Date()): Statement {
  // Millisecond precision: what is hashed must survive the round trip through timestamptz.
  const when = new Date(Math.floor(at.getTime()));
  tx.afterCommit(wakeSealers);
  return {
    text: `insert into audit_log (at, actor_id, actor_name, action, target_type, target_id, ip, user_agent, request_id, detail)
     values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
    params: [
      when,
      actor?.principal.userId ?? null,
      actor?.principal.username ?? null,
      event.action,
      event.targetType ?? null,
      event.targetId ?? null,
      actor?.meta.ip ?? null,
      actor?.meta.userAgent ?? null,
      actor?.meta.requestId ?? null,
      JSON.stringify(event.detail ?? {}),
    ],
  };
}

function wakeSealers(): void {
  appended.emit('appended');
}

/** Appends one entry in the caller's transaction. `actor` null = anonymous (e.g. a failed login). */
export async function appendAudit(tx: Tx, actor: Actor | null, event: AuditEvent, at: Date = new Date()): Promise<number> {
  const s = auditStatement(tx, actor, event, at);
  const r = await tx.query<{ seq: number }>(`${s.text} returning seq`, s.params);
  return r.rows[0]!.seq;
}

/** `system_settings` key holding `{pos, hash}` of the newest sealed entry. */
export const AUDIT_HEAD_KEY = 'audit.head';

export interface AuditHead {
  /** Chain position of the newest sealed entry. */
  pos: number;
  hash: string;
}

export async function readAuditHead(sql: Sql): Promise<AuditHead | null> {
  const r = await sql.query<{ value: unknown }>('select value from system_settings where key = $1', [AUDIT_HEAD_KEY]);
  const v = r.rows[0]?.value as { pos?: unknown; seq?: unknown; hash?: unknown } | string | undefined;
  const head = typeof v === 'string' ? (JSON.parse(v) as { pos?: unknown; seq?: unknown; hash?: unknown }) : v;
  const pos = head?.pos ?? head?.seq; // heads written before sealing used seq (= position then)
  if (!head || typeof pos !== 'number' || typeof head.hash !== 'string') return null;
  return { pos, hash: head.hash };
}

/**
 * Links every committed, unsealed entry into the chain, in batches, and moves the head.
 * Safe to call from any number of processes at once. Returns how many entries it sealed.
 */
export async function sealAudit(db: Database, batchSize = 2000): Promise<number> {
  let total = 0;
  for (;;) {
    const sealed = await db.tx(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
      const rows = (
        await tx.query<AuditRow>(
          `select seq, at, actor_id, actor_name, action, target_type, target_id, ip, user_agent, request_id, detail
           from audit_log where chain_pos is null order by seq limit $1`,
          [batchSize],
        )
      ).rows;
      if (rows.length === 0) return 0;
      const head = await readAuditHead(tx);
      const last = (await tx.query<{ pos: number; hash: string }>('select chain_pos as pos, hash from audit_log where chain_pos is not null order by chain_pos desc limit 1')).rows[0];
      // Continue from the recorded head, not merely the last sealed row: after a deleted tail
      // the next entry still links to the vanished one, so the gap stays visible.
      const start = head && (!last || head.pos >= last.pos) ? head : last;
      let prevHash = start?.hash ?? GENESIS;
      let pos = start?.pos ?? 0;
      const seqs: number[] = [];
      const poss: number[] = [];
      const prevs: string[] = [];
      const hashes: string[] = [];
      for (const row of rows) {
        pos++;
        const hash = entryHash(prevHash, row);
        seqs.push(row.seq);
        poss.push(pos);
        prevs.push(prevHash);
        hashes.push(hash);
        prevHash = hash;
      }
      await tx.query(
        `update audit_log a set chain_pos = u.pos, prev_hash = u.prev, hash = u.hash
         from unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) as u(seq, pos, prev, hash)
         where a.seq = u.seq`,
        [seqs, poss, prevs, hashes],
      );
      await tx.query(
        `insert into system_settings (key, value, updated_at) values ($1, $2, now())
         on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at`,
        [AUDIT_HEAD_KEY, JSON.stringify({ pos, hash: prevHash })],
      );
      return rows.length;
    });
    total += sealed;
    if (sealed < batchSize) return total;
  }
}

/**
 * Background sealer: right after each local commit that appended entries, and every `intervalMs`.
 * Under a steady flow of writes, rounds start at most every `paceMs`: a wake-up sooner than that
 * after a round that sealed something waits for the rest, so one round (lock, head, update,
 * commit flush) seals the entries of many commits instead of a few (decision 0006).
 */
export function startAuditSealer(db: Database, onError: (err: unknown) => void, intervalMs = 1000, paceMs = 100): () => Promise<void> {
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let lastStart = 0;
  let lastSealed = 0;
  let paused: ReturnType<typeof setTimeout> | null = null;
  const run = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    if (paused) return;
    const rest = lastSealed > 0 ? lastStart + paceMs - Date.now() : 0;
    if (rest > 0) {
      paused = setTimeout(() => {
        paused = null;
        run();
      }, rest);
      return;
    }
    lastStart = Date.now();
    running = sealAudit(db)
      .then(
        (n) => {
          lastSealed = n;
        },
        (err: unknown) => {
          lastSealed = 0;
          onError(err);
        },
      )
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          run();
        }
      });
  };
  appended.on('appended', run);
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    appended.off('appended', run);
    clearInterval(timer);
    if (paused) clearTimeout(paused);
    await running;
  };
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
  /** Chain position of the first entry whose content or link does not match. */
  brokenAt?: number;
  reason?: string;
}

/**
 * Seals what is pending, then walks the whole chain in pages and recomputes every hash, then
 * compares the end of the chain with the recorded head, so that deleting the newest entries is
 * noticed too.
 */
export async function verifyAuditChain(db: Database, pageSize = 5000): Promise<VerifyResult> {
  await sealAudit(db);
  const head = await readAuditHead(db);
  let headHashSeen: string | undefined;
  let prevHash = GENESIS;
  let expected = 1;
  let checked = 0;
  for (;;) {
    const page = await db.query<AuditRow & { chain_pos: number; prev_hash: string; hash: string }>(
      `select seq, at, actor_id, actor_name, action, target_type, target_id, ip, user_agent, request_id, detail, prev_hash, hash, chain_pos
       from audit_log where chain_pos >= $1 order by chain_pos limit $2`,
      [expected, pageSize],
    );
    for (const row of page.rows) {
      if (row.chain_pos !== expected) return { ok: false, checked, brokenAt: expected, reason: `entry ${expected} is missing` };
      if (row.prev_hash !== prevHash) return { ok: false, checked, brokenAt: expected, reason: `entry ${expected} does not link to entry ${expected - 1}` };
      if (entryHash(prevHash, row) !== row.hash) return { ok: false, checked, brokenAt: expected, reason: `entry ${expected} was altered` };
      if (head && expected === head.pos) headHashSeen = row.hash;
      prevHash = row.hash;
      expected++;
      checked++;
    }
    if (page.rows.length < pageSize) break;
  }
  const last = expected - 1;
  if (!head) {
    if (checked === 0) return { ok: true, checked };
    return { ok: false, checked, brokenAt: last, reason: `the chain head record (system setting ${AUDIT_HEAD_KEY}) is missing` };
  }
  if (last < head.pos) {
    const gap = last + 1 === head.pos ? `entry ${head.pos} is missing` : `entries ${last + 1} to ${head.pos} are missing`;
    return { ok: false, checked, brokenAt: last + 1, reason: `${gap}: the log ends at entry ${last} but entry ${head.pos} was written` };
  }
  if (headHashSeen !== head.hash) {
    return { ok: false, checked, brokenAt: head.pos, reason: `entry ${head.pos} does not match the recorded chain head` };
  }
  return { ok: true, checked };
}
