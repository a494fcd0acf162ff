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
 * A coalescing NOTIFY sender: at most one `select pg_notify(channel, '')` in flight per channel;
 * a wake-up asked for while one is in flight sends exactly one more after it, so every commit is
 * followed by a NOTIFY sent after it. `drain` waits for what is in flight (on close).
 */
export function coalescedNotifier(send: (channel: string) => Promise<unknown>, onError: (err: unknown) => void): { notify(channel: string): void; drain(): Promise<void> } {
  const state = new Map<string, { again: boolean; done: Promise<void> }>();
  const notify = (channel: string): void => {
    const busy = state.get(channel);
    if (busy) {
      busy.again = true;
      return;
    }
    const entry: { again: boolean; done: Promise<void> } = { again: false, done: Promise.resolve() };
    state.set(channel, entry);
    entry.done = send(channel).then(
      () => undefined,
      (err: unknown) => onError(err),
    ).finally(() => {
      state.delete(channel);
      if (entry.again) notify(channel);
    });
  };
  return {
    notify,
    async drain() {
      while (state.size) await Promise.all([...state.values()].map((e) => e.done));
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
  const ctes = statements.map((s, i) => {
    const offset = params.length;
    params.push(...s.params);
    const text = offset ? s.text.replace(/\$(\d+)/g, (_m, n: string) => `$${Number(n) + offset}`) : s.text;
    return `s${i} as (${text})`;
  });
  return { text: `with ${ctes.join(', ')} ${resultOf === undefined ? 'select 1' : `select * from s${resultOf}`}`, params };
}
