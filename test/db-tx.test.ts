// The transaction contract every engine relies on, on PGlite and on real PostgreSQL, where the
// driver pipelines (begin sent with the first statement, writes sent without waiting with
// `Tx.send`, the queued writes sent together with commit): whatever fails, nothing is kept;
// statements run in the order they were issued; a value that cannot be sent never lets the
// commit through.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sendWrite, type Database } from '../src/server/db/index.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

let t: TestDatabase;
let db: Database;

const rows = async () => (await db.query<{ k: string; v: number }>('select k, v from tx_probe order by k')).rows;

describe('transactions', () => {
  beforeAll(async () => {
    t = await createTestDatabase();
    db = t.db;
    await db.exec('create table tx_probe (k text primary key, v int not null check (v >= 0))');
  });
  afterAll(async () => {
    await t.drop();
  });
  beforeEach(async () => {
    await db.exec('delete from tx_probe');
  });

  it('keeps everything a committed transaction sent, queued or awaited, in issue order', async () => {
    const seen = await db.tx(async (tx) => {
      await sendWrite(tx, { text: 'insert into tx_probe (k, v) values ($1, $2)', params: ['a', 1] });
      await sendWrite(tx, { text: 'update tx_probe set v = v + 10 where k = $1', params: ['a'] });
      tx.beforeCommit!({ text: 'insert into tx_probe (k, v) values ($1, $2)', params: ['q', 7] });
      // an awaited read sees the writes sent before it without waiting for them
      return (await tx.query<{ v: number }>('select v from tx_probe where k = $1', ['a'])).rows[0]?.v;
    });
    expect(seen).toBe(11);
    expect(await rows()).toEqual([{ k: 'a', v: 11 }, { k: 'q', v: 7 }]);
  });

  it('rolls everything back when a write sent without waiting fails, and reports that failure', async () => {
    await expect(
      db.tx(async (tx) => {
        await tx.query('insert into tx_probe (k, v) values ($1, $2)', ['b', 1]);
        await sendWrite(tx, { text: 'insert into tx_probe (k, v) values ($1, $2)', params: ['c', -1] }); // violates the check
        await sendWrite(tx, { text: 'insert into tx_probe (k, v) values ($1, $2)', params: ['d', 1] });
      }),
    ).rejects.toThrow(/check constraint/);
    expect(await rows()).toEqual([]);
  });

  it('reports the failed earlier write, not the aborted-transaction error of the statement after it', async () => {
    const err = await db
      .tx(async (tx) => {
        await sendWrite(tx, { text: 'insert into tx_probe (k, v) values ($1, $2)', params: ['e', -5] });
        await tx.query('select count(*) from tx_probe');
      })
      .catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/check constraint/);
    expect(await rows()).toEqual([]);
  });

  it('rolls back when the writes queued for commit fail: the commit sent with them keeps nothing', async () => {
    await expect(
      db.tx(async (tx) => {
        await tx.query('insert into tx_probe (k, v) values ($1, $2)', ['f', 1]);
        tx.beforeCommit!({ text: 'insert into tx_probe (k, v) values ($1, $2)', params: ['f', 2] }); // duplicate key
      }),
    ).rejects.toThrow(/duplicate key/);
    expect(await rows()).toEqual([]);
    // the connection is healthy afterwards
    await db.tx(async (tx) => {
      await tx.query('insert into tx_probe (k, v) values ($1, $2)', ['g', 1]);
    });
    expect(await rows()).toEqual([{ k: 'g', v: 1 }]);
  });

  it('never commits past a value the driver cannot send', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(
      db.tx(async (tx) => {
        await tx.query('insert into tx_probe (k, v) values ($1, $2)', ['h', 1]);
        tx.beforeCommit!({ text: 'insert into tx_probe (k, v) values ($1, ($2::jsonb->>0)::int)', params: ['i', circular] });
      }),
    ).rejects.toThrow();
    expect(await rows()).toEqual([]);
  });

  it('rolls back when the function throws after writes were sent without waiting', async () => {
    await expect(
      db.tx(async (tx) => {
        await sendWrite(tx, { text: 'insert into tx_probe (k, v) values ($1, $2)', params: ['j', 1] });
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await rows()).toEqual([]);
  });

  it('keeps concurrent transactions on the pool apart', async () => {
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        db
          .tx(async (tx) => {
            await sendWrite(tx, { text: 'insert into tx_probe (k, v) values ($1, $2)', params: [`p${String(i).padStart(2, '0')}`, i] });
            if (i % 3 === 0) await sendWrite(tx, { text: 'insert into tx_probe (k, v) values ($1, $2)', params: [`n${i}`, -1] });
            tx.beforeCommit!({ text: 'update tx_probe set v = v + 100 where k = $1', params: [`p${String(i).padStart(2, '0')}`] });
          })
          .catch(() => null),
      ),
    );
    const kept = await rows();
    const expected = Array.from({ length: 24 }, (_, i) => i)
      .filter((i) => i % 3 !== 0)
      .map((i) => ({ k: `p${String(i).padStart(2, '0')}`, v: i + 100 }));
    expect(kept).toEqual(expected);
  });
});
