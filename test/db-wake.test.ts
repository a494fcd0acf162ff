// After-commit wake-ups: this process's listeners hear every commit at once, other processes
// hear a NOTIFY that is folded to at most one per channel per interval (a steady stream of
// commits must not cost a NOTIFY each), and none is ever lost: the last commit of a burst is
// always followed by a NOTIFY sent after it.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wakeNotifier } from '../src/server/db/tx.ts';
import { createTestDatabase, testTarget, type TestDatabase } from './helpers/db.ts';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('wakeNotifier', () => {
  it('wakes local listeners on every call and folds a burst into one NOTIFY at once and one after the interval', async () => {
    const sent: Array<{ channel: string; at: number }> = [];
    const local: string[] = [];
    const n = wakeNotifier({
      send: async (channel) => void sent.push({ channel, at: Date.now() }),
      local: (channel) => void local.push(channel),
      intervalMs: 40,
      onError: (err) => {
        throw err;
      },
    });
    const start = Date.now();
    for (let i = 0; i < 100; i++) n.notify('a');
    n.notify('b');
    expect(local).toHaveLength(101);
    expect(sent.map((s) => s.channel)).toEqual(['a', 'b']);
    await wait(120);
    // the 99 wake-ups asked for during a's interval became exactly one more NOTIFY, sent when it ended
    expect(sent.map((s) => s.channel)).toEqual(['a', 'b', 'a']);
    expect(sent[2]!.at - start).toBeGreaterThanOrEqual(38);
    // a quiet channel sends again at once
    await wait(60);
    n.notify('a');
    expect(sent).toHaveLength(4);
    await n.drain();
  });

  it('sends what is owed on drain instead of dropping it', async () => {
    const sent: string[] = [];
    const n = wakeNotifier({ send: async (c) => void sent.push(c), local: () => {}, intervalMs: 10_000, onError: () => {} });
    n.notify('x');
    n.notify('x');
    await n.drain();
    expect(sent).toEqual(['x', 'x']);
  });

  it('calls only local listeners when no other process can listen, and survives a failing listener', async () => {
    const errors: unknown[] = [];
    let heard = 0;
    const n = wakeNotifier({
      send: null,
      local: () => {
        heard++;
        if (heard === 1) throw new Error('listener broke');
      },
      onError: (e) => void errors.push(e),
    });
    n.notify('c');
    n.notify('c');
    expect(heard).toBe(2);
    expect(errors).toHaveLength(1);
    await n.drain();
  });
});

describe(`wake-ups after commit (${testTarget})`, () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('wakes a listener of this process at once after a commit, and none for a rollback', async () => {
    const heard: number[] = [];
    const stop = await t.db.listen('probe_local', () => void heard.push(Date.now()));
    try {
      await t.db.tx(async (tx) => {
        tx.notifyAfterCommit('probe_local');
        await tx.query('select 1');
      });
      // in-process: heard before tx() returned, no round trip through the database
      expect(heard.length).toBeGreaterThanOrEqual(1);
      await wait(150); // on PostgreSQL the NOTIFY sent for other processes comes back too
      const before = heard.length;
      await expect(
        t.db.tx(async (tx) => {
          tx.notifyAfterCommit('probe_local');
          await tx.query('select 1');
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      await wait(150);
      expect(heard.length).toBe(before);
    } finally {
      await stop();
    }
  });

  // PostgreSQL only: nothing outside this process can connect to the embedded database (the PostgreSQL phase runs it)
  const onPostgres = testTarget === 'postgres' ? it : () => {};
  onPostgres('wakes a listener in another process after the last commit of a burst', async () => {
    const other = new pg.Client({ connectionString: t.url });
    await other.connect();
    const heard: number[] = [];
    other.on('notification', (m) => {
      if (m.channel === 'probe_remote') heard.push(Date.now());
    });
    await other.query('listen probe_remote');
    try {
      let lastCommit = 0;
      for (let i = 0; i < 30; i++) {
        await t.db.tx(async (tx) => {
          tx.notifyAfterCommit('probe_remote');
          await tx.query('select 1');
        });
        lastCommit = Date.now();
      }
      for (let i = 0; i < 50 && !(heard.length && heard.at(-1)! >= lastCommit); i++) await wait(20);
      // folded: far fewer NOTIFY than commits, and one arrived after the last commit
      expect(heard.length).toBeGreaterThanOrEqual(1);
      expect(heard.length).toBeLessThan(30);
      expect(heard.at(-1)!).toBeGreaterThanOrEqual(lastCommit);
    } finally {
      await other.end();
    }
  });
});
