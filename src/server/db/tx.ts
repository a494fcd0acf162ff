// Shared transaction bookkeeping: after-commit hooks and wake-ups, run only when the commit succeeded.
import type { Sql, Statement, Tx } from './types.ts';

export interface MadeTx {
  tx: Tx;
  hooks: Array<() => void | Promise<void>>;
  /** Channels to NOTIFY after commit. */
  channels: Set<string>;
  /** Runs the statements queued with `beforeCommit` (one round trip); call right before commit. */
  flush(): Promise<void>;
  /**
   * Like `flush`, but returns the (last) combined statement instead of running it, for a driver
   * that sends it together with its `commit`; null when nothing is queued.
   */
  takeFinal(): Promise<Statement | null>;
  /** How many statements are queued. */
  queued(): number;
}

export function makeTx(sql: Sql): MadeTx {
  const hooks: Array<() => void | Promise<void>> = [];
  const channels = new Set<string>();
  let queued: Array<Statement | (() => Statement | null)> = [];
  const tx: Tx = {
    query: (text, params) => sql.query(text, params),
    exec: (script) => sql.exec(script),
    afterCommit: (fn) => {
      hooks.push(fn);
    },
    notifyAfterCommit: (channel) => {
      channels.add(channel);
    },
    beforeCommit: (statement) => {
      queued.push(statement);
    },
  };
  const takeFinal = async (): Promise<Statement | null> => {
    // a queued function may queue more (rarely): earlier batches run, the last one is returned
    while (queued.length) {
      const batch = queued;
      queued = [];
      const statements = batch.map((s) => (typeof s === 'function' ? s() : s)).filter((s): s is Statement => s !== null);
      if (!statements.length) continue;
      const all = combineStatements(statements);
      if (!queued.length) return all;
      await sql.query(all.text, all.params);
    }
    return null;
  };
  const flush = async (): Promise<void> => {
    const last = await takeFinal();
    if (last) await sql.query(last.text, last.params);
  };
  return { tx, hooks, channels, flush, takeFinal, queued: () => queued.length };
}

/**
 * Runs a write-only statement before the transaction commits, batched with the others
 * (`Tx.beforeCommit`), or at once when the transaction keeps no queue.
 */
export async function deferWrite(tx: Tx, statement: Statement): Promise<void> {
  if (tx.beforeCommit) tx.beforeCommit(statement);
  else await tx.query(statement.text, statement.params);
}

/**
 * Runs a write whose answer nobody reads, pipelined where the driver can (`Tx.send`): in order
 * with the transaction's other statements, without waiting for its answer.
 */
export async function sendWrite(tx: Tx, statement: Statement): Promise<void> {
  if (tx.send) tx.send(statement);
  else await tx.query(statement.text, statement.params);
}

/** After a commit: wakes the channels, then runs the hooks. */
export async function afterCommit(made: MadeTx, notify: (channel: string) => void, onError: (err: unknown) => void): Promise<void> {
  for (const channel of made.channels) notify(channel);
  await runHooks(made.hooks, onError);
}

export async function runHooks(hooks: Array<() => void | Promise<void>>, onError: (err: unknown) => void): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook();
    } catch (err) {
      onError(err);
    }
  }
}

/**
 * After-commit wake-ups (`Tx.notifyAfterCommit`). This process's listeners are called at once,
 * without a round trip. Other processes hear a NOTIFY, at most one per channel per `intervalMs`:
 * the first at once, every wake-up asked for during the interval folded into ONE sent when it
 * ends. A steady stream of commits thus costs a few NOTIFY a second instead of one per commit
 * (each is a statement, a commit and a signal to every listening backend); a listener in
 * another process learns of a commit at most `intervalMs` (plus a round trip) late, and its
 * slow poll stays the safety net. `send` null: no other process can listen (embedded PGlite).
 * `drain` waits for what is in flight and sends what is still owed (on close).
 */
export function wakeNotifier(o: {
  send: ((channel: string) => Promise<unknown>) | null;
  local: (channel: string) => void;
  intervalMs?: number;
  onError: (err: unknown) => void;
}): { notify(channel: string): void; drain(): Promise<void> } {
  const intervalMs = o.intervalMs ?? 50;
  // per channel: a NOTIFY sent within the interval; `owed` = one more is due when it ends
  const state = new Map<string, { owed: boolean; timer: NodeJS.Timeout | null; done: Promise<void> }>();
  const send = o.send;
  const sendNow = (channel: string): void => {
    const entry = { owed: false, timer: null as NodeJS.Timeout | null, done: Promise.resolve() };
    state.set(channel, entry);
    entry.done = send!(channel).then(() => undefined, (err: unknown) => o.onError(err));
    entry.timer = setTimeout(() => {
      entry.timer = null;
      void entry.done.then(() => {
        state.delete(channel);
        if (entry.owed) sendNow(channel);
      });
    }, intervalMs);
    entry.timer.unref?.();
  };
  return {
    notify(channel) {
      try {
        o.local(channel);
      } catch (err) {
        o.onError(err);
      }
      if (!send) return;
      const busy = state.get(channel);
      if (busy) busy.owed = true;
      else sendNow(channel);
    },
    async drain() {
      while (state.size) {
        for (const [channel, entry] of [...state]) {
          if (entry.timer) {
            clearTimeout(entry.timer);
            entry.timer = null;
            await entry.done;
            state.delete(channel);
            if (entry.owed) sendNow(channel);
          } else await entry.done;
        }
      }
    },
  };
}

/**
 * Runs several statements as ONE round trip: each becomes a data-modifying CTE of a single
 * statement (`with s0 as (…), s1 as (…) select 1`), its `$n` placeholders renumbered. PostgreSQL
 * executes every data-modifying CTE exactly once, whether or not it is referenced. Only for
 * statements Trellis builds itself (no `$` inside literals). With `resultOf` the combined
 * statement answers the rows of that statement (its `returning`) instead of `select 1`. All the
 * statements see one snapshot: none may read what another one writes, and no two may change the
 * same row.
 */
export function combineStatements(statements: readonly Statement[], resultOf?: number): Statement {
  if (statements.length === 1) return statements[0]!;
  const params: unknown[] = [];
  for (const s of statements) params.push(...s.params);
  return { text: combinedText(statements, resultOf), params };
}

/**
 * The combined text, kept per sequence of statement texts (a tree of maps, one level per
 * statement): the same few combinations recur on every approval, and the same string object
 * each time also spares hashing a long text again wherever it is a map key (prepared names).
 */
interface CombinedTexts {
  /** By the next statement's text, then its number of parameters (they decide the renumbering). */
  next: Map<string, Map<number, CombinedTexts>>;
  texts: Map<number, string>;
}
let combinedRoot: CombinedTexts = { next: new Map(), texts: new Map() };
let combinedCount = 0;

function combinedText(statements: readonly Statement[], resultOf: number | undefined): string {
  let node = combinedRoot;
  for (const s of statements) {
    let byCount = node.next.get(s.text);
    if (!byCount) node.next.set(s.text, (byCount = new Map()));
    let child = byCount.get(s.params.length);
    if (!child) byCount.set(s.params.length, (child = { next: new Map(), texts: new Map() }));
    node = child;
  }
  const key = resultOf ?? -1;
  let text = node.texts.get(key);
  if (text === undefined) {
    let offset = 0;
    const ctes = statements.map((s, i) => {
      const t = offset ? s.text.replace(/\$(\d+)/g, (_m, n: string) => `$${Number(n) + offset}`) : s.text;
      offset += s.params.length;
      return `s${i} as (${t})`;
    });
    text = `with ${ctes.join(', ')} ${resultOf === undefined ? 'select 1' : `select * from s${resultOf}`}`;
    // bounded: statements built with varying text (rare) must not grow it forever
    if (++combinedCount > 2000) {
      combinedRoot = { next: new Map(), texts: new Map() };
      combinedCount = 0;
    }
    node.texts.set(key, text);
  }
  return text;
}
