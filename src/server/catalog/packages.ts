// Catalog packages: a folder catalog/<package>/ holds an app definition (app.yaml, published by
// modeling like any catalog file) and, optionally,
//   flows.yaml — `flows:` integration flows (the schema of POST /integration/flows), created once
//                when their connector exists;
//   demo.yaml  — `records:` reference rows (e.g. a routing table) and `stories:` documents that
//                move through their approval flow at given times, for the demo plant.
// Everything goes through the public services (integration flows, records, workflow), never into
// app tables directly, so a package can do nothing a citizen developer could not do by hand.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Sql } from '../db/index.ts';
import { flowService } from '../integration/index.ts';
import { getPublishedApp, parseDefinition, readCatalog, type PublishedApp } from '../modeling/index.ts';

type CatalogEntry = ReturnType<typeof readCatalog>[number];
import { systemActor, type Actor, type AppContext, type Clock } from '../platform/context.ts';
import { loadPrincipalData } from '../platform/org/index.ts';
import { createRecord, listRecords, submitRecord } from '../records/index.ts';
import { TimerWorker, workflowService } from '../workflow/index.ts';

// ---- files --------------------------------------------------------------------------------

export const CatalogFlows = z.strictObject({ flows: z.array(z.unknown()).max(100) });

const Values = z.record(z.string(), z.unknown());
/** `-20d 08:35`: days before the day of seeding, at that plant-local time. */
const At = z.string().regex(/^-\d{1,3}d \d{2}:\d{2}$/, 'a time like "-20d 08:35" (days before today, plant time)');
const Step = z.strictObject({
  /** Who acts (username); when the task is held by someone else (escalated), its holder acts. */
  by: z.string().min(1).max(100),
  /** Minutes after the previous step. */
  after: z.number().int().min(0).max(525_600),
  changes: Values.optional(),
  comment: z.string().max(2000).optional(),
});
const Story = z.strictObject({
  entity: z.string().min(1).max(30),
  by: z.string().min(1).max(100),
  at: At,
  values: Values,
  submit: z.boolean().default(true),
  steps: z.array(Step).max(50).default([]),
});
export const CatalogDemo = z.strictObject({
  records: z.array(z.strictObject({ entity: z.string().min(1).max(30), by: z.string().max(100).optional(), values: Values })).max(1000).default([]),
  stories: z.array(Story).max(1000).default([]),
});
export type CatalogDemo = z.infer<typeof CatalogDemo>;

function readYaml(file: string): unknown {
  return parseDefinition(fs.readFileSync(file, 'utf8'), 'yaml');
}

function packageFile(e: CatalogEntry, name: string): string | null {
  if (!e.packageDir) return null;
  const f = path.join(e.packageDir, name);
  return fs.existsSync(f) ? f : null;
}

const problems = (err: z.ZodError) => err.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ');

// ---- flows ------------------------------------------------------------------------------------

/**
 * Creates the package's flows that do not exist yet (by name). A flow whose connector is missing is
 * skipped (reported), so an installation without that ERP still starts. Returns the names created.
 */
export async function installFlows(ctx: AppContext, file: string): Promise<string[]> {
  const parsed = CatalogFlows.safeParse(readYaml(file));
  if (!parsed.success) throw new Error(`${file}: ${problems(parsed.error)}`);
  const created: string[] = [];
  for (const [i, raw] of parsed.data.flows.entries()) {
    const flow = flowService.FlowCreate.safeParse(raw);
    if (!flow.success) throw new Error(`${file}: flows.${i}: ${problems(flow.error)}`);
    const done = await ctx.db.tx(async (tx) => {
      if ((await tx.query('select 1 from integration_flows where name = $1', [flow.data.name])).rows.length) return false;
      const connector = await tx.query('select 1 from integration_connectors where name = $1 or id::text = $1', [flow.data.connector]);
      if (!connector.rows.length) {
        ctx.log.warn({ flow: flow.data.name, connector: flow.data.connector, file }, 'catalog flow skipped: its connector does not exist');
        return false;
      }
      await flowService.createFlow(tx, systemActor, flow.data);
      return true;
    });
    if (done) created.push(flow.data.name);
  }
  return created;
}

// ---- demo data ------------------------------------------------------------------------------------

/** A clock stopped at one instant: the services stamp records, tasks and timers with it. */
const at = (d: Date): Clock => ({ now: () => new Date(d.getTime()) });

async function actorOf(sql: Sql, username: string, cache: Map<string, Actor>): Promise<Actor> {
  const hit = cache.get(username);
  if (hit) return hit;
  const r = await sql.query<{ id: string; display_name: string }>('select id, display_name from users where username = $1 and active', [username.toLowerCase()]);
  const row = r.rows[0];
  if (!row) throw new Error(`there is no active user "${username}"`);
  const pd = await loadPrincipalData(sql, row.id);
  const a: Actor = {
    principal: { kind: 'user', userId: row.id, username, displayName: row.display_name, roles: pd.roles, departmentIds: pd.departmentIds, primaryDepartmentId: pd.primaryDepartmentId, scopes: null },
    meta: { ip: null, userAgent: 'trellis-demo', requestId: null },
  };
  cache.set(username, a);
  return a;
}

/**
 * Values as written in a demo file → values the records API takes: usernames of user fields and
 * department codes become ids; a link names its target by the target's title field.
 */
async function resolveValues(ctx: AppContext, app: PublishedApp, entity: string, values: Record<string, unknown>): Promise<Record<string, unknown>> {
  const def = app.entities.get(entity);
  if (!def) throw new Error(`app ${app.name} has no entity "${entity}"`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) {
    const f = def.fields.find((x) => x.name === k);
    if (!f || typeof v !== 'string' || /^[0-9a-f-]{36}$/i.test(v)) {
      out[k] = v;
      continue;
    }
    if (f.type === 'user') {
      const r = await ctx.db.query<{ id: string }>('select id from users where username = $1', [v.toLowerCase()]);
      if (!r.rows[0]) throw new Error(`${entity}.${k}: there is no user "${v}"`);
      out[k] = r.rows[0].id;
    } else if (f.type === 'department') {
      const r = await ctx.db.query<{ id: string }>('select id from departments where code = $1', [v]);
      if (!r.rows[0]) throw new Error(`${entity}.${k}: there is no department "${v}"`);
      out[k] = r.rows[0].id;
    } else if (f.type === 'link' && f.target) {
      const target = app.entities.get(f.target);
      const title = target?.titleField;
      if (!title) throw new Error(`${entity}.${k}: "${f.target}" has no title field to name its records by`);
      const r = await listRecords(ctx, systemActor, app.name, f.target, { filter: { field: title, op: 'eq', value: v }, limit: 2 });
      if (r.items.length !== 1) throw new Error(`${entity}.${k}: ${r.items.length ? 'several' : 'no'} ${f.target} records titled "${v}"`);
      out[k] = r.items[0]!.id;
    } else out[k] = v;
  }
  return out;
}

/** `-20d 08:35` → that instant, counted from the plant-local day of `now`. */
export function demoInstant(spec: string, now: Date, timezone: string): Date {
  const m = /^-(\d+)d (\d{2}):(\d{2})$/.exec(spec)!;
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(now)
      .map((p) => [p.type, p.value]),
  );
  // offset of the zone at `now`: local wall time read as UTC minus the real instant
  const wall = Date.UTC(+parts.year!, +parts.month! - 1, +parts.day!, +parts.hour!, +parts.minute!);
  const offset = wall - Math.floor(now.getTime() / 60_000) * 60_000;
  const localMidnight = Date.UTC(+parts.year!, +parts.month! - 1, +parts.day!);
  return new Date(localMidnight - offset - Number(m[1]) * 86_400_000 + (Number(m[2]) * 60 + Number(m[3])) * 60_000);
}

export interface DemoReport {
  records: number;
  stories: number;
  steps: number;
}

/** Loads a package's demo file through the records and workflow services. */
export async function loadDemo(ctx: AppContext, app: PublishedApp, demo: CatalogDemo): Promise<DemoReport> {
  const now = ctx.clock.now();
  const actors = new Map<string, Actor>();
  const report: DemoReport = { records: 0, stories: 0, steps: 0 };
  for (const r of demo.records) {
    const actor = r.by ? await actorOf(ctx.db, r.by, actors) : systemActor;
    await createRecord(ctx, actor, app.name, r.entity, await resolveValues(ctx, app, r.entity, r.values));
    report.records++;
  }
  const stories = [...demo.stories].sort((a, b) => demoInstant(a.at, now, ctx.config.timezone).getTime() - demoInstant(b.at, now, ctx.config.timezone).getTime());
  for (const s of stories) {
    let t = demoInstant(s.at, now, ctx.config.timezone);
    if (t > now) continue;
    const c = (d: Date): AppContext => ({ ...ctx, clock: at(d) });
    // timers (reminders, escalations) of earlier stories fire at their own time, as they would have
    await new TimerWorker(ctx.db, at(t), { workerId: 'demo' }).runOnce();
    const created = await createRecord(c(t), await actorOf(ctx.db, s.by, actors), app.name, s.entity, await resolveValues(ctx, app, s.entity, s.values));
    report.stories++;
    if (!s.submit) continue;
    const sub = await submitRecord(c(t), await actorOf(ctx.db, s.by, actors), app.name, s.entity, created.id);
    const instanceId = (sub.intercepted as { workflow?: { instanceId: string } } | undefined)?.workflow?.instanceId;
    if (!instanceId) continue;
    for (const step of s.steps) {
      t = new Date(t.getTime() + step.after * 60_000);
      if (t > now) break; // the rest of the story has not happened yet
      await new TimerWorker(ctx.db, at(t), { workerId: 'demo' }).runOnce();
      const who = await actorOf(ctx.db, step.by, actors);
      const tasks = await ctx.db.query<{ id: string; username: string }>(
        `select t.id, u.username from wf_tasks t join users u on u.id = t.assignee_id where t.instance_id = $1 and t.status = 'pending' order by t.created_at, t.seq`,
        [instanceId],
      );
      const task = tasks.rows.find((x) => x.id && x.username === step.by) ?? tasks.rows[0];
      if (!task) break;
      const actor = task.username === step.by ? who : await actorOf(ctx.db, task.username, actors);
      const changes = step.changes ? await resolveValues(ctx, app, s.entity, step.changes) : undefined;
      await workflowService.actOnTask(c(t), actor, task.id, { action: 'approve', ...(changes ? { changes } : {}), comment: step.comment ?? null });
      report.steps++;
    }
  }
  // what has fallen due since the last story (open exceptions past their time limit escalate)
  await new TimerWorker(ctx.db, at(now), { workerId: 'demo' }).runOnce();
  return report;
}

// ---- installation -------------------------------------------------------------------------------

const demoKey = (app: string) => `catalog.demo.${app}`;

/**
 * After the catalog apps are published (demo plant): creates each package's flows, and marks its
 * demo data to be loaded when the workers start (`loadPendingDemos`), so tests that only seed the
 * demo organisation do not pay for weeks of demo documents. Idempotent.
 */
export async function installPackages(ctx: AppContext, dir?: string): Promise<void> {
  for (const e of readCatalog(dir)) {
    if (!e.packageDir || !e.name) continue;
    const app = await getPublishedApp(ctx.db, e.name);
    if (!app) continue;
    const flows = packageFile(e, 'flows.yaml');
    try {
      if (flows) {
        const made = await installFlows(ctx, flows);
        if (made.length) ctx.log.info({ app: e.name, flows: made }, 'catalog flows created');
      }
      if (packageFile(e, 'demo.yaml')) {
        await ctx.db.query(`insert into system_settings (key, value, updated_at) values ($1, $2, now()) on conflict (key) do nothing`, [
          demoKey(e.name),
          JSON.stringify({ state: 'pending' }),
        ]);
      }
    } catch (err) {
      ctx.log.error({ err, package: e.packageDir }, 'catalog package could not be installed');
    }
  }
}

/** Loads the demo data of packages marked pending (once; the mark is taken under a row lock). */
export async function loadPendingDemos(ctx: AppContext, dir?: string): Promise<Record<string, DemoReport>> {
  const out: Record<string, DemoReport> = {};
  for (const e of readCatalog(dir)) {
    const file = e.name ? packageFile(e, 'demo.yaml') : null;
    if (!file || !e.name) continue;
    const claimed = await ctx.db.query(
      `update system_settings set value = $2, updated_at = now() where key = $1 and value->>'state' = 'pending' returning key`,
      [demoKey(e.name), JSON.stringify({ state: 'loading', at: new Date().toISOString() })],
    );
    if (!claimed.rows.length) continue;
    const app = await getPublishedApp(ctx.db, e.name);
    try {
      const demo = CatalogDemo.safeParse(readYaml(file));
      if (!demo.success) throw new Error(`${file}: ${problems(demo.error)}`);
      if (!app) throw new Error(`app ${e.name} is not published`);
      out[e.name] = await loadDemo(ctx, app, demo.data);
      await ctx.db.query(`update system_settings set value = $2, updated_at = now() where key = $1`, [demoKey(e.name), JSON.stringify({ state: 'done', ...out[e.name] })]);
      ctx.log.info({ app: e.name, ...out[e.name] }, 'catalog demo data loaded');
    } catch (err) {
      await ctx.db.query(`update system_settings set value = $2, updated_at = now() where key = $1`, [demoKey(e.name), JSON.stringify({ state: 'failed', error: String((err as Error).message ?? err).slice(0, 1000) })]);
      ctx.log.error({ err, file }, 'catalog demo data could not be loaded');
    }
  }
  return out;
}
