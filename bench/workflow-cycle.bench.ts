// Full approval cycle on real PostgreSQL, in process (the engine's service API, as the HTTP
// handlers call it): create a document and submit it (starts the approval), approve at the team
// lead, approve at the plant manager → the document is submitted (effective) in the final
// decision's transaction. CONCURRENCY chains run at once on the pool; each step is one
// transaction. The headline saves the draft and submits it by a second request; `formOneRequest`
// is the form's 提交 on a new document (created and submitted in one request, one transaction).
// Target: ≥ 400 instances/s.
// Env: BENCH_CYCLES (2000), BENCH_CONCURRENCY (16). Diagnosis (not the figure): BENCH_TRACE=1
// prints one cycle's statements, BENCH_STATS=1 the rows written per table per cycle,
// BENCH_LOG_SQL=1 logs every statement's server time, BENCH_PROFILE=1 the ms per step,
// BENCH_TRACE=form traces the form's one-request path instead. BENCH_EXPERIMENT_SQL runs a script on the bench database before the warm-up (to A/B a schema change).
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import pino from 'pino';
import { loadConfig } from '../src/server/config.ts';
import { createTrellis } from '../src/server/main.ts';
import { publishApp } from '../src/server/modeling/index.ts';
import { loadPrincipalData } from '../src/server/platform/org/index.ts';
import { systemActor, type Actor } from '../src/server/platform/context.ts';
import { createAndSubmitRecord, createRecord, submitRecord } from '../src/server/records/index.ts';
import { workflowService } from '../src/server/workflow/index.ts';
import { freshPgDatabase, round, runBench } from './lib.ts';

const CYCLES = Number(process.env.BENCH_CYCLES ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const TARGET = 400;

runBench('workflow-cycle', async () => {
  const db = await freshPgDatabase();
  if (process.env.BENCH_LOG_SQL) {
    // every statement's server time goes to the PostgreSQL log (for a breakdown, not the figure)
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query(`alter database ${db.name} set log_min_duration_statement = 0`);
    await c.end();
  }
  const config = loadConfig({ DATABASE_URL: db.url, TRELLIS_LOG_LEVEL: 'silent', TRELLIS_ADMIN_PASSWORD: 'Bench-Admin-Pass-2026!', TRELLIS_DATA_DIR: '/nonexistent' });
  const t = await createTrellis(config, { seedDemo: true, announce: () => {}, logger: pino({ level: 'silent' }) });
  try {
    const ctx = t.ctx;
    await publishApp(ctx, systemActor, {
      name: 'finance',
      label: { zh: '财务' },
      entities: [
        {
          name: 'expense',
          label: { zh: '费用报销' },
          submittable: true,
          namingSeries: 'EXP-{#####}',
          fields: [
            { name: 'amount', type: 'money', label: { zh: '金额' }, required: true },
            { name: 'reason', type: 'text', label: { zh: '事由' } },
          ],
          permissions: [{ role: '*', actions: ['read', 'create', 'write', 'submit'] }],
        },
      ],
      workflows: [
        {
          name: 'expense_approval',
          entity: 'expense',
          label: { zh: '费用审批' },
          root: {
            id: 'start',
            type: 'initiator',
            next: {
              id: 'lead',
              type: 'approver',
              approvers: [{ kind: 'department_head', levelsUp: 0 }],
              sla: { remind: { after: 240 } },
              next: {
                id: 'amount',
                type: 'condition',
                branches: [
                  { id: 'big', when: { field: 'amount', op: 'gt', value: '50000' }, next: { id: 'cfo', type: 'approver', approvers: [{ kind: 'role', role: 'cfo' }] } },
                  { id: 'normal', default: true },
                ],
                next: { id: 'plant', type: 'approver', approvers: [{ kind: 'users', users: ['chen.plant'] }] },
              },
            },
          },
        },
      ],
    });
    if (process.env.BENCH_EXPERIMENT_SQL) await ctx.db.exec(process.env.BENCH_EXPERIMENT_SQL);
    const actorOf = async (username: string): Promise<Actor> => {
      const u = (await ctx.db.query<{ id: string; display_name: string }>('select id, display_name from users where username = $1', [username])).rows[0]!;
      const pd = await loadPrincipalData(ctx.db, u.id);
      return { principal: { kind: 'user', userId: u.id, username, displayName: u.display_name, ...pd, scopes: null }, meta: { ip: '127.0.0.1', userAgent: 'bench', requestId: null } };
    };
    const wang = await actorOf('wang.operator');
    const li = await actorOf('li.teamlead');
    const chen = await actorOf('chen.plant');
    // each answer names who has to act next (as the web client shows it): the approver's task
    const taskOf = (pending: Array<{ taskId: string; assigneeId: string }>, userId: string) => {
      const t = pending.find((p) => p.assigneeId === userId);
      if (!t) throw new Error(`no pending task for ${userId} in ${JSON.stringify(pending)}`);
      return t.taskId;
    };

    const timing = { create: 0, submit: 0, approve1: 0, approve2: 0 };
    // `form`: the form's 提交 on a new document — created and submitted in one request (one
    // transaction); `draft`: saved as a draft first, submitted by a second request.
    const cycle = async (i: number, path: 'form' | 'draft') => {
      let t0 = performance.now();
      const values = { amount: `${100 + (i % 900)}.00`, reason: 'bench' };
      let sub;
      if (path === 'form') {
        sub = await createAndSubmitRecord(ctx, wang, 'finance', 'expense', values);
      } else {
        const rec = await createRecord(ctx, wang, 'finance', 'expense', values);
        timing.create += performance.now() - t0; t0 = performance.now();
        sub = await submitRecord(ctx, wang, 'finance', 'expense', rec.id);
      }
      timing.submit += performance.now() - t0; t0 = performance.now();
      const started = (sub.intercepted as { workflow: { pendingTasks: Array<{ taskId: string; assigneeId: string }> } }).workflow;
      const first = await workflowService.actOnTask(ctx, li, taskOf(started.pendingTasks, li.principal.userId), { action: 'approve' });
      timing.approve1 += performance.now() - t0; t0 = performance.now();
      const r = await workflowService.actOnTask(ctx, chen, taskOf(first.pendingTasks, chen.principal.userId), { action: 'approve' });
      timing.approve2 += performance.now() - t0;
      if (r.instanceStatus !== 'approved') throw new Error(`cycle ${i} ended ${r.instanceStatus}`);
    };

    // warm-up
    for (let i = 0; i < 20; i++) await cycle(i, i % 2 ? 'form' : 'draft');
    if (process.env.BENCH_PROFILE) console.error('ms per step (sequential warm-up):', Object.fromEntries(Object.entries(timing).map(([k, v]) => [k, round(v / 20, 2)])));
    if (process.env.BENCH_TRACE) await traceOneCycle(() => cycle(-1, process.env.BENCH_TRACE === 'form' ? 'form' : 'draft'));
    let done = 20 + (process.env.BENCH_TRACE ? 1 : 0);

    /** CYCLES cycles on CONCURRENCY lanes; checks every document became effective. */
    const measure = async (path: 'form' | 'draft', cycles: number) => {
      let next = 0;
      const statsBefore = process.env.BENCH_STATS ? await tableStats(ctx.db) : null;
      // CPU spent per cycle by this process and by the database's backends: a figure that stays
      // comparable when other work on the machine slows the wall clock down
      const cpuBefore = await cpuNow(ctx.db);
      const eluBefore = performance.eventLoopUtilization();
      const started = performance.now();
      const lanes = Array.from({ length: CONCURRENCY }, async () => {
        while (next < cycles) await cycle(next++, path);
      });
      await Promise.all(lanes);
      const seconds = (performance.now() - started) / 1000;
      const elu = performance.eventLoopUtilization(eluBefore);
      const cpuAfter = await cpuNow(ctx.db);
      if (statsBefore) printTableStats(statsBefore, await tableStats(ctx.db), cycles);
      done += cycles;
      const check = await ctx.db.query<{ submitted: number; approved: number }>(
        `select (select count(*)::int from x_finance__expense where status = 'submitted') as submitted,
                (select count(*)::int from wf_instances where status = 'approved') as approved`,
      );
      const { submitted, approved } = check.rows[0]!;
      if (submitted !== done || approved !== done) throw new Error(`expected ${done} effective documents, found ${submitted} submitted / ${approved} approved`);
      return {
        instancesPerSec: round(cycles / seconds, 1),
        cycles,
        seconds: round(seconds, 2),
        transactionsPerCycle: path === 'form' ? 3 : 4,
        cpuMsPerCycle: {
          node: round((cpuAfter.node - cpuBefore.node) / cycles, 2),
          nodeKernel: round((cpuAfter.nodeSys - cpuBefore.nodeSys) / cycles, 2),
          postgres: round((cpuAfter.pg - cpuBefore.pg) / cycles, 2),
        },
        // share of the wall time the event loop was not waiting for I/O (running, or preempted while running)
        eventLoopUtilization: round(elu.utilization, 2),
      };
    };

    // warm the pool's connections too: each prepares a statement on its third sight and plans it
    // generically after five runs, so a few hundred concurrent cycles before the measured ones
    await measure('draft', 10 * CONCURRENCY);
    if (!process.env.BENCH_ONLY_DRAFT) await measure('form', 10 * CONCURRENCY);
    const draft = await measure('draft', CYCLES);
    const form = process.env.BENCH_ONLY_DRAFT ? null : await measure('form', Math.round(CYCLES / 2));
    return {
      ...draft,
      path: 'create draft, submit, approve, approve',
      concurrency: CONCURRENCY,
      // the entity numbers its documents gap-free: created and submitted in one transaction, the
      // series counter stays locked through the approval's start, so concurrent submitters queue longer
      ...(form ? { formOneRequest: { ...form, path: "create+submit in one request (the form's 提交), approve, approve" } } : {}),
      target: { instancesPerSec: `>= ${TARGET}` },
      targetsMet: draft.instancesPerSec >= TARGET,
    };
  } finally {
    await t.close();
  }
});

/** CPU milliseconds used so far by this process and by the bench database's backends (Linux /proc). */
async function cpuNow(db: { query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> }): Promise<{ node: number; nodeSys: number; pg: number }> {
  const u = process.cpuUsage();
  const pids = (await db.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database()')).rows.map((r) => r.pid);
  const tick = 1000 / 100; // USER_HZ
  let pgMs = 0;
  for (const pid of pids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      pgMs += (Number(f[11]) + Number(f[12])) * tick;
    } catch {
      // backend gone, or not on this machine
    }
  }
  return { node: (u.user + u.system) / 1000, nodeSys: u.system / 1000, pg: pgMs };
}

type TableStats = Map<string, { ins: number; upd: number; del: number; hot: number; indexes: number }>;

/** BENCH_STATS=1: rows written per table (PostgreSQL's statistics; they lag up to a second). */
async function tableStats(db: { query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> }): Promise<TableStats> {
  await new Promise((r) => setTimeout(r, 1200));
  const rows = (await db.query<{ relname: string; ins: string; upd: string; del: string; hot: string; indexes: string }>(
    `select s.relname, s.n_tup_ins as ins, s.n_tup_upd as upd, s.n_tup_del as del, s.n_tup_hot_upd as hot,
            (select count(*) from pg_index i where i.indrelid = s.relid) as indexes
       from pg_stat_user_tables s`,
  )).rows;
  return new Map(rows.map((r) => [r.relname, { ins: Number(r.ins), upd: Number(r.upd), del: Number(r.del), hot: Number(r.hot), indexes: Number(r.indexes) }]));
}

function printTableStats(before: TableStats, after: TableStats, cycles: number): void {
  const lines: string[] = [];
  for (const [name, a] of after) {
    const b = before.get(name) ?? { ins: 0, upd: 0, del: 0, hot: 0 };
    const per = (n: number) => round(n / cycles, 2);
    const ins = per(a.ins - b.ins), upd = per(a.upd - b.upd), del = per(a.del - b.del), hot = per(a.hot - b.hot);
    if (ins || upd || del) lines.push(`${name.padEnd(32)} ins ${ins}  upd ${upd} (hot ${hot})  del ${del}  indexes ${a.indexes}`);
  }
  console.error(`rows written per cycle:\n${lines.sort().join('\n')}`);
}

/** BENCH_TRACE=1: prints every statement one cycle sends, marking the ones sent without waiting. */
async function traceOneCycle(run: () => Promise<void>): Promise<void> {
  const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const original = proto.query;
  const lines: string[] = [];
  let inFlight = 0;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const cfg = args[0] as string | { text: string };
    const text = typeof cfg === 'string' ? cfg : cfg.text;
    lines.push(`${inFlight > 0 ? '  +' : '   '} ${text.replace(/\s+/g, ' ').slice(0, 150)}`);
    inFlight++;
    const r = original.apply(this, args);
    const handed = cfg as { callback?: (...a: unknown[]) => void };
    if (typeof (r as { then?: unknown })?.then !== 'function' && typeof handed.callback === 'function') {
      // a Query handed over (db/pg-driver.ts) answers through its callback, not a promise
      const cb = handed.callback;
      handed.callback = (...a: unknown[]) => {
        inFlight--;
        cb(...a);
      };
    } else void Promise.resolve(r).finally(() => inFlight--).catch(() => {});
    return r;
  };
  try {
    await run();
  } finally {
    proto.query = original;
  }
  console.error(`one cycle: ${lines.length} statements (+ = sent while another was in flight)\n${lines.join('\n')}`);
}
