// The one interface every engine uses to talk to the database. Only db/ knows whether
// it is PGlite (embedded, one connection) or PostgreSQL (a pool).

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** Anything that runs parameterised SQL: the database itself or an open transaction. */
export interface Sql {
  query<R = Record<string, any>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Runs a script of several statements without parameters (migrations, DDL). */
  exec(script: string): Promise<void>;
}

/** One parameterised statement, as data (see `combineStatements`). */
export interface Statement {
  text: string;
  params: unknown[];
}

/** An open transaction. `afterCommit` callbacks run once the transaction has committed (never on rollback). */
export interface Tx extends Sql {
  afterCommit(fn: () => void | Promise<void>): void;
  /** The database this transaction runs on: an identity for per-database caches. */
  readonly database?: Database;
  /**
   * Wakes the listeners of `channel` once this transaction has committed (never on rollback):
   * this process's at once, other processes' by a NOTIFY sent after commit, OUTSIDE the
   * transaction, folded to at most one per channel per 50 ms (db/tx.ts wakeNotifier). Never NOTIFY inside a
   * transaction: PostgreSQL takes a database-wide lock at the commit of a transaction that
   * notified and holds it through the commit's WAL flush, so such commits cannot be grouped and
   * every writer is serialised behind one flush each.
   */
  notifyAfterCommit(channel: string): void;
  /**
   * Queues a WRITE-ONLY statement (a row nobody reads again inside this transaction: history,
   * trail events, notifications, outbox events, audit entries). Everything queued is run as ONE
   * combined statement (`combineStatements`) right before commit: one round trip for all of them.
   * A function is called at that moment (for buffers that keep growing until commit) and may
   * return null for nothing. The batch shares one snapshot: a queued statement must not depend on
   * another queued one, nor be read by a later statement of the transaction. Optional, so views
   * of a transaction (a savepoint per row) can leave it out: use `deferWrite`, which runs the
   * statement at once when the transaction has no queue.
   */
  beforeCommit?(statement: Statement | (() => Statement | null)): void;
  /**
   * Runs the transaction's LAST statement: nothing may run or be queued after it. When it is also
   * the first (nothing ran, nothing queued), the driver may run it alone, without begin/commit —
   * one statement is atomic by itself — one round trip instead of three. Optional: fall back to
   * `query`.
   */
  finalQuery?<R = Record<string, any>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /**
   * Sends a write whose answer nobody waits for: it runs in order with the transaction's other
   * statements (later ones see what it wrote), but the caller goes on at once. On a pipelined
   * connection it travels with the next statement instead of costing a round trip of its own;
   * its failure fails the next awaited statement or the commit, and the transaction rolls back.
   * Optional: use `sendWrite`, which awaits the statement where the driver cannot pipeline.
   */
  send?(statement: Statement): void;
}

export type DatabaseKind = 'pglite' | 'postgres';

export interface Database extends Sql {
  readonly kind: DatabaseKind;
  /**
   * Runs `fn` in one transaction: commit when it resolves, rollback when it throws.
   * Never make a network call inside `fn` (invariant 2): use a delivery row instead.
   */
  tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** LISTEN on a channel; returns an unsubscribe function. Used to wake workers on commit. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
