// A TimerWorker in a process of its own, for workflow-timer-sigkill.test.ts (which SIGKILLs it).
// Runs the product's TimerWorker unchanged against the test database:
//   CHILD_MODE=pass        one pass (claim, then the effect transaction) — PostgreSQL
//   CHILD_MODE=claim-only  the claim, then nothing — PGlite, where only one process may open the
//                          data folder, so the parent cannot hold a lock the effect waits for
// Its clock is fixed at CHILD_NOW so its lease matches the parent's manual clock.
import { openDatabase } from '../../src/server/db/index.ts';
import { TimerWorker } from '../../src/server/workflow/index.ts';

const now = new Date(process.env.CHILD_NOW!);
const db = await openDatabase(process.env.CHILD_DB_URL ? { databaseUrl: process.env.CHILD_DB_URL, poolSize: 2 } : { dataDir: process.env.CHILD_DATA_DIR });
const worker = new TimerWorker(db, { now: () => now }, { workerId: 'doomed-child', leaseMs: Number(process.env.CHILD_LEASE_MS), concurrency: 1 });
worker.onError = (err) => process.stdout.write(`error ${String((err as Error)?.message ?? err)}\n`);
if (process.env.CHILD_MODE === 'claim-only') {
  const claimed = await worker.claim();
  process.stdout.write(`claimed ${claimed.map((t) => t.id).join(',')}\n`);
  await new Promise(() => {}); // killed here
} else {
  process.stdout.write('pass\n');
  const n = await worker.runOnce();
  process.stdout.write(`fired ${n}\n`); // never reached when the parent holds the instance lock
}
