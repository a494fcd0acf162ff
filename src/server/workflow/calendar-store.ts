// The plant's business-hours calendars: stored in `wf_calendars`, edited by administrators over
// `/api/v1/workflow/calendars`, named by approval trees (`sla.calendar`, `calendar` on the
// workflow). `default` always exists: until an administrator saves it, it is the built-in
// Monday–Friday 08:30–12:00 / 13:00–17:30 in the server's time zone (TRELLIS_TIMEZONE).
//
// Calendars are plant settings, not app definitions: holidays and 调休 days are announced once a
// year and apply to every app, so they are edited without publishing anything. An SLA timer's
// due time is computed when the timer is created; editing a calendar moves timers created later.
import { z } from 'zod';
import type { Sql, Tx } from '../db/index.ts';
import type { Api } from '../http/app.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { isAdmin, requireActor } from '../platform/auth/index.ts';
import type { Actor, AppContext } from '../platform/context.ts';
import { conflict, forbidden, notFound, unprocessable } from '../platform/errors.ts';
import type { ProblemField } from '../platform/errors.ts';
import { calendarRefs, CalendarName, slaCalendar, type WorkflowDef, type WorkflowNode } from '../../shared/workflow-definition.ts';
import type { Exec } from './runtime.ts';
import { addWorkingMinutes, BUILTIN_CALENDAR, CalendarDef, compileCalendar, type Calendar } from './calendar.ts';

export const DEFAULT_CALENDAR = 'default';

export interface StoredCalendar {
  name: string;
  definition: CalendarDef & { timeZone: string };
  builtIn: boolean;
  updatedAt: string | null;
}

interface Row {
  name: string;
  definition: CalendarDef;
  updated_at: Date;
}

function stored(row: Row | undefined, name: string, timeZone: string): StoredCalendar | null {
  if (row) return { name: row.name, definition: { ...row.definition, timeZone: row.definition.timeZone ?? timeZone }, builtIn: false, updatedAt: new Date(row.updated_at).toISOString() };
  if (name === DEFAULT_CALENDAR) return { name, definition: { ...BUILTIN_CALENDAR, timeZone }, builtIn: true, updatedAt: null };
  return null;
}

export async function listCalendars(sql: Sql, timeZone: string): Promise<StoredCalendar[]> {
  const r = await sql.query<Row>('select name, definition, updated_at from wf_calendars order by name');
  const out = r.rows.map((row) => stored(row, row.name, timeZone)!);
  if (!out.some((c) => c.name === DEFAULT_CALENDAR)) out.unshift(stored(undefined, DEFAULT_CALENDAR, timeZone)!);
  return out;
}

export async function getCalendar(sql: Sql, name: string, timeZone: string): Promise<StoredCalendar | null> {
  const r = await sql.query<Row>('select name, definition, updated_at from wf_calendars where name = $1', [name]);
  return stored(r.rows[0], name, timeZone);
}

function requireAdmin(actor: Actor): void {
  if (!isAdmin(actor.principal)) throw forbidden('Business-hours calendars are plant settings: only an administrator can change them.');
}

/** Creates or replaces a calendar (one transaction with its audit entry). */
export async function putCalendar(ctx: AppContext, actor: Actor, name: string, def: CalendarDef): Promise<StoredCalendar> {
  requireAdmin(actor);
  const definition = { ...def, timeZone: def.timeZone ?? ctx.config.timezone };
  const now = ctx.clock.now();
  return ctx.db.tx(async (tx) => {
    const r = await tx.query<Row>(
      `insert into wf_calendars (name, definition, updated_at, updated_by) values ($1, $2, $3, $4)
       on conflict (name) do update set definition = excluded.definition, updated_at = excluded.updated_at, updated_by = excluded.updated_by
       returning name, definition, updated_at`,
      [name, JSON.stringify(definition), now, actor.principal.userId ?? null],
    );
    await appendAudit(tx, actor, { action: 'workflow.calendar.save', targetType: 'calendar', targetId: name, detail: { timeZone: definition.timeZone, holidays: definition.holidays.length, workdays: definition.workdays.length } }, now);
    return stored(r.rows[0], name, ctx.config.timezone)!;
  });
}

export async function deleteCalendar(ctx: AppContext, actor: Actor, name: string): Promise<void> {
  requireAdmin(actor);
  if (name === DEFAULT_CALENDAR) throw conflict('The plant default calendar cannot be deleted; save it with other hours or holidays instead.');
  await ctx.db.tx(async (tx) => {
    const r = await tx.query('delete from wf_calendars where name = $1', [name]);
    if (!r.rowCount) throw notFound(`There is no calendar "${name}". GET /api/v1/workflow/calendars lists them.`);
    await appendAudit(tx, actor, { action: 'workflow.calendar.delete', targetType: 'calendar', targetId: name }, ctx.clock.now());
  });
}

/** Problems for calendars a workflow names that do not exist (path by node id). */
export async function calendarProblems(sql: Sql, workflows: readonly WorkflowDef[]): Promise<ProblemField[]> {
  const refs = workflows.flatMap((wf) => calendarRefs(wf));
  const names = [...new Set(refs.map((r) => r.name))].filter((n) => n !== DEFAULT_CALENDAR);
  if (names.length === 0) return [];
  const r = await sql.query<{ name: string }>('select name from wf_calendars where name = any($1::text[])', [names]);
  const known = new Set([DEFAULT_CALENDAR, ...r.rows.map((x) => x.name)]);
  return refs
    .filter((x) => !known.has(x.name))
    .map((x) => ({ path: x.path, message: `unknown calendar "${x.name}": create it first (PUT /api/v1/workflow/calendars/${x.name}) or use "${DEFAULT_CALENDAR}", the plant's` }));
}

// ---- SLA due times ------------------------------------------------------------------------------

/** Calendars read in a transaction, so the timers of one action read each calendar once. */
const perTx = new WeakMap<Tx, Map<string, Calendar>>();

async function loadCalendar(tx: Tx, name: string, fallbackTimeZone: string): Promise<Calendar> {
  let memo = perTx.get(tx);
  if (!memo) perTx.set(tx, (memo = new Map()));
  const hit = memo.get(name);
  if (hit) return hit;
  // a calendar deleted after the tree was published: the plant default counts instead
  const r = await tx.query<Row>('select name, definition, updated_at from wf_calendars where name = any($1::text[])', [[name, DEFAULT_CALENDAR]]);
  const row = r.rows.find((x) => x.name === name) ?? r.rows.find((x) => x.name === DEFAULT_CALENDAR);
  const cal = compileCalendar(row?.definition ?? BUILTIN_CALENDAR, fallbackTimeZone);
  memo.set(name, cal);
  return cal;
}

/**
 * When an SLA duration of `node` started at `now` is due: wall-clock minutes, or working minutes
 * on the calendar the node (or its workflow) names.
 */
export async function slaDueAt(tx: Tx, now: Date, minutes: number, wf: WorkflowDef, node: WorkflowNode | undefined, fallbackTimeZone: string | undefined): Promise<Date> {
  const name = node ? slaCalendar(wf, node) : null;
  if (!name) return new Date(now.getTime() + minutes * 60_000);
  return addWorkingMinutes(await loadCalendar(tx, name, fallbackTimeZone ?? 'Asia/Shanghai'), now, minutes);
}

/** `slaDueAt` for a node of the instance being worked on (what runtime.ts calls). */
export function slaDue(x: Exec, minutes: number, nodeId: string): Promise<Date> {
  return slaDueAt(x.tx, x.now, minutes, x.inst.definition, x.tree.has(nodeId) ? x.tree.node(nodeId) : undefined, x.inst.scope?.timezone);
}

// ---- HTTP ---------------------------------------------------------------------------------------

const tags = ['workflow'];
const NameParams = z.object({ name: CalendarName }).strict();

export function calendarRoutes(api: Api, ctx: AppContext): void {
  api.get('/workflow/calendars', { schema: { tags, summary: 'Business-hours calendars for SLA timers (default is the plant’s)' } }, async (request) => {
    requireActor(request, { scope: 'workflow:read' });
    return { items: await listCalendars(ctx.db, ctx.config.timezone) };
  });
  api.get('/workflow/calendars/:name', { schema: { tags, summary: 'A business-hours calendar', params: NameParams } }, async (request) => {
    requireActor(request, { scope: 'workflow:read' });
    const c = await getCalendar(ctx.db, request.params.name, ctx.config.timezone);
    if (!c) throw notFound(`There is no calendar "${request.params.name}". GET /api/v1/workflow/calendars lists them.`);
    return c;
  });
  api.put(
    '/workflow/calendars/:name',
    { schema: { tags, summary: 'Create or replace a business-hours calendar (administrators)', params: NameParams, body: CalendarDef } },
    async (request) => {
      const actor = requireActor(request, { scope: 'workflow:write' });
      return putCalendar(ctx, actor, request.params.name, request.body);
    },
  );
  api.delete('/workflow/calendars/:name', { schema: { tags, summary: 'Delete a business-hours calendar (administrators)', params: NameParams } }, async (request, reply) => {
    const actor = requireActor(request, { scope: 'workflow:write' });
    await deleteCalendar(ctx, actor, request.params.name);
    return reply.code(204).send();
  });
  api.get(
    '/workflow/calendars/:name/due',
    {
      schema: {
        tags,
        summary: 'When N working minutes after a moment end on this calendar (to check a calendar before relying on it)',
        params: NameParams,
        querystring: z.object({ from: z.string().datetime({ offset: true }), minutes: z.coerce.number().int().positive().max(525_600) }).strict(),
      },
    },
    async (request) => {
      requireActor(request, { scope: 'workflow:read' });
      const c = await getCalendar(ctx.db, request.params.name, ctx.config.timezone);
      if (!c) throw notFound(`There is no calendar "${request.params.name}". GET /api/v1/workflow/calendars lists them.`);
      const cal = compileCalendar(c.definition, ctx.config.timezone);
      const from = new Date(request.query.from);
      let due: Date;
      try {
        due = addWorkingMinutes(cal, from, request.query.minutes);
      } catch (err) {
        // every working day for twenty years is a holiday: the calendar's fault, not the server's
        if (err instanceof Error && err.message.startsWith('the calendar has no working time')) {
          throw unprocessable(`Calendar "${c.name}" has no working time in the next twenty years: give it working weekdays that are not all holidays.`);
        }
        throw err;
      }
      return { from: from.toISOString(), minutes: request.query.minutes, due: due.toISOString(), wallMinutes: (due.getTime() - from.getTime()) / 60_000 };
    },
  );
}
