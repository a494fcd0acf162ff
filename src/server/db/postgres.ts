// Real PostgreSQL through a pg pool. Types are parsed the same way as on PGlite:
// int8 → number, numeric → exact string, date → 'YYYY-MM-DD' string.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { submitQuery } from './pg-driver.ts';
import type { Database, QueryResult } from './types.ts';
import { afterCommit, makeTx, wakeNotifier } from './tx.ts';

const INT8_OID = 20;
const DATE_OID = 1082;
pg.types.setTypeParser(INT8_OID, (v: string) => Number(v));
pg.types.setTypeParser(DATE_OID, (v: string) => v);

/**
 * Prepared statements for the statements Trellis repeats. An unnamed statement is parsed and
 * planned by PostgreSQL on every execution; for the engines' larger statements (a lock with a
 * join, a jsonb_to_recordset insert) that costs more server CPU than executing them (measured
 * ~400 vs ~150 µs). A parameterised statement seen a few times gets a name, so each pooled
 * connection parses it once and PostgreSQL can keep a generic plan.
 *
 * Only statements on the platform's own tables: their shapes change only with migrations (run
 * before serving). Statements on entity tables (`x_…`, altered by every publish) stay unnamed —
 * a prepared `*` whose row type changed fails ("cached plan must not change result type") —
 * unless their text starts with `/* prepare:<tag> *\/`, a tag that changes with the table's shape
 * (records: the published definition the statement was built from). Should a named statement
 * fail like that anyway, its text is never named again. Bounded: at most MAX_NAMED names per
 * process, so a connection holds at most that many prepared statements.
 */
const MAX_NAMED = 256;
const SEEN_BEFORE_NAMING = 3;
const ENTITY_TABLE = /"?\bx_[a-z0-9_]*__/;
const seen = new Map<string, number>();
const named = new Map<string, string>();
const neverName = new Set<string>();

function statementName(text: string, params: readonly unknown[] | undefined): string | undefined {
  if (!params || params.length === 0) return undefined;
  const known = named.get(text);
  if (known) return known;
  if (named.size >= MAX_NAMED || neverName.has(text) || (ENTITY_TABLE.test(text) && !text.startsWith('/* prepare:'))) return undefined;
  const n = (seen.get(text) ?? 0) + 1;
  if (n < SEEN_BEFORE_NAMING) {
    if (seen.size > 10_000) seen.clear();
    seen.set(text, n);
    return undefined;
  }
  seen.delete(text);
  const name = `trellis_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
  named.set(text, name);
  return name;
}

const { prepareValue } = (pg as unknown as { utils: { prepareValue(v: unknown): unknown } }).utils ?? {};

/**
 * Runs one parameterised statement, prepared when it is one Trellis repeats. Not async on
 * purpose: the statement is handed to the connection before this returns, so statements issued
 * one after another leave in that order, and a value the driver cannot serialise throws HERE,
 * before anything is sent — on a pipelined connection a `commit` issued right after must never
 * go out behind a statement that silently was not sent.
 */
function run(client: pg.Pool | pg.PoolClient, text: string, params?: readonly unknown[]): Promise<pg.QueryResult> {
  const values = params && prepareValue ? params.map((v) => prepareValue(v)) : (params as unknown[] | undefined);
  const name = statementName(text, values);
  if (client instanceof pg.Pool) {
    if (!name) return client.query(text, values);
  } else if (!name) {
    return submitQuery(client, text, values, undefined);
  }
  const answer = client instanceof pg.Pool ? client.query({ name, text, values }) : submitQuery(client, text, values, name);
  return answer.catch((err: unknown) => {
    if ((err as { code?: string }).code === '0A000' && /cached plan/.test(String((err as Error).message))) {
      named.delete(text);
      neverName.add(text);
    }
    throw err;
  });
}

export async function openPostgres(url: string, onHookError: (e: unknown) => void, poolSize = 16): Promise<Database> {
  // Pipelined connections: a statement is sent without waiting for the answer to the one before
  // it (each still gets its own Sync, so errors stay per statement). Transactions use it to send
  // `begin` with their first statement and `commit` with their last batch — two round trips
  // fewer per transaction (see tx below). Trellis never keeps a portal open across round trips.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, pipeline: true } as pg.PoolConfig);
  pool.on('error', onHookError); // an idle client lost its connection: the pool replaces it
  await pool.query('select 1');
  const query = async <R,>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> => {
    const r = await run(pool, text, params);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
  };
  let listener: pg.Client | undefined;
  const handlers = new Map<string, Set<(payload: string) => void>>();
  const wakeLocal = (channel: string, payload = ''): void => {
    for (const h of handlers.get(channel) ?? []) h(payload);
  };
  // this process's listeners at once; other processes by a NOTIFY, at most one per channel per 50 ms
  const notifier = wakeNotifier({ send: (channel) => pool.query(`select pg_notify($1, '')`, [channel]), local: wakeLocal, onError: onHookError });
  const database: Database = {
    kind: 'postgres',
    query,
    async exec(script) {
      await pool.query(script);
    },
    async tx(fn) {
      const client = await pool.connect();
      // `begin` is sent with the first statement (a transaction that fails its checks before
      // touching the database costs nothing); a transaction whose only statement is its final
      // one (`finalQuery`) runs it alone: one statement is atomic by itself.
      let begun = false;
      let finished = false;
      // Statements sent without waiting (`begin`, `send`): the first failure among them is the
      // transaction's error; `settle` waits for all of them.
      const sent: Array<Promise<unknown>> = [];
      let sentError: unknown;
      const track = (p: Promise<unknown>) => {
        sent.push(p.catch((err: unknown) => {
          sentError ??= err;
        }));
      };
      const settle = async () => {
        if (sent.length) await Promise.all(sent.splice(0));
        if (sentError !== undefined) throw sentError;
      };
      // Statements issued in one tick (`begin` and the first statement, writes sent without
      // waiting and the read after them, the queued writes and `commit`) leave in ONE socket
      // write: the pipelined client writes each at once, so the stream is corked until the tick ends.
      const stream = (client as unknown as { connection: { stream: { cork(): void; uncork(): void } } }).connection.stream;
      let corked = false;
      const together = <T,>(issue: () => T): T => {
        if (!corked) {
          corked = true;
          stream.cork();
          process.nextTick(() => {
            corked = false;
            stream.uncork();
          });
        }
        return issue();
      };
      const issue = (text: string, params?: readonly unknown[]): Promise<pg.QueryResult> => {
        if (finished) throw new Error('This transaction already ran its final statement (finalQuery); nothing may follow it.');
        return together(() => {
          if (!begun) {
            begun = true;
            track(client.query('begin'));
          }
          return run(client, text, params);
        });
      };
      const inTx = async (text: string, params?: readonly unknown[]) => {
        try {
          const r = await issue(text, params);
          await settle();
          return r;
        } catch (err) {
          // a statement sent earlier failed first: that is the cause, this one only met the aborted transaction
          await settle();
          throw err;
        }
      };
      const made = makeTx({
        query: async <R,>(text: string, params?: readonly unknown[]) => {
          const r = await inTx(text, params);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
        },
        exec: async (script: string) => {
          await inTx(script);
        },
      });
      (made.tx as { database?: Database }).database = database;
      made.tx.send = (statement) => {
        track(issue(statement.text, statement.params));
      };
      const queue = made.tx.beforeCommit!;
      made.tx.beforeCommit = (statement) => {
        if (finished) throw new Error('This transaction already ran its final statement (finalQuery); queue writes before it.');
        queue(statement);
      };
      made.tx.finalQuery = async <R,>(text: string, params?: readonly unknown[]) => {
        if (begun || made.queued() > 0) return made.tx.query<R>(text, params);
        finished = true;
        const r = await run(client, text, params);
        return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
      };
      let result;
      try {
        result = await fn(made.tx);
        if (!finished) {
          const batch = await made.takeFinal();
          if (batch && !begun) {
            // nothing ran yet: the queued writes are the whole transaction, one statement
            await run(client, batch.text, batch.params);
          } else if (begun) {
            // the queued writes and `commit` leave in one write. Should anything sent fail,
            // PostgreSQL answers the commit with a rollback (the transaction is aborted): nothing is kept.
            const [writing, committing] = together(() => [batch ? run(client, batch.text, batch.params) : null, client.query('commit')] as const);
            if (writing) track(writing);
            track(committing);
            begun = false;
            await settle();
          }
        }
      } catch (err) {
        if (begun) await client.query('rollback').catch(() => {});
        client.release();
        throw err;
      }
      client.release();
      await afterCommit(made, notifier.notify, onHookError);
      return result;
    },
    async listen(channel, onNotify) {
      if (!listener) {
        listener = new pg.Client({ connectionString: url });
        await listener.connect();
        listener.on('notification', (n) => wakeLocal(n.channel, n.payload ?? ''));
        listener.on('error', onHookError);
      }
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await listener.query(`listen "${channel.replaceAll('"', '""')}"`);
      }
      set.add(onNotify);
      return async () => {
        set.delete(onNotify);
      };
    },
    async close() {
      await notifier.drain();
      await listener?.end().catch(() => {});
      await pool.end();
    },
  };
  return database;
}
