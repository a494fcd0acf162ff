// The plant's business-hours calendars: stored in `wf_calendars`, edited by administrators over
// `/api/v1/workflow/calendars`, named by approval trees (`sla.calendar`, `calendar` on the
// workflow). `default` always exists: until an administrator saves it, it is the built-in
// Monday–Friday 08:30–12:00 / 13:00–17:30 in the server's time zone (TRELLIS_TIMEZONE).
//
// Calendars are plant settings, not app definitions: holidays and 调休 days are announced once a
// year and apply to every app, so they are edited without publishing anything. An SLA timer's
// due time is computed when the timer is created; editing a calendar moves timers created later.
import { z } from 'zod';
import type { Database, Sql, Tx } from '../db/index.ts';
import type { Api } from '../http/app.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { isAdmin, requireActor } from '../platform/auth/index.ts';
import type { Actor, AppContext, Logger } from '../platform/context.ts';
import { conflict, forbidden, notFound, unprocessable } from '../platform/errors.ts';
import type { ProblemField } from '../platform/errors.ts';
import { calendarRefs, CalendarName, slaCalendar, type WorkflowDef, type WorkflowNode } from '../../shared/workflow-definition.ts';
import type { Exec } from './runtime.ts';
import { addWorkingMinutes, BUILTIN_CALENDAR, CalendarDef, compileCalendar, localDate, NoWorkingTimeError, workingMinutesBetween, type Calendar } from './calendar.ts';

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

/** How far ahead a saved calendar must have working time: a year, leap day included. */
export const WORKING_TIME_AHEAD_DAYS = 366;

/**
 * Refuses a calendar with no working time in its next 366 days from `now`: every SLA counted on it
 * would have no due time. The schema already asks for a working weekday and working periods, so
 * what is left is a working weekday in every week that the holidays all cover.
 */
function requireWorkingTime(name: string, definition: CalendarDef & { timeZone: string }, now: Date): void {
  const until = new Date(now.getTime() + WORKING_TIME_AHEAD_DAYS * 86_400_000);
  if (workingMinutesBetween(compileCalendar(definition, definition.timeZone), now, until) > 0) return;
  const span = `${localDate(now, definition.timeZone)} to ${localDate(until, definition.timeZone)}`;
  throw unprocessable(
    `Calendar "${name}" has no working time in the next ${WORKING_TIME_AHEAD_DAYS} days (${span}): every working weekday in that time is a holiday. Remove some holidays, or add working weekdays or make-up working days, then save again.`,
  );
}

/** Creates or replaces a calendar (one transaction with its audit entry). */
export async function putCalendar(ctx: AppContext, actor: Actor, name: string, def: CalendarDef): Promise<StoredCalendar> {
  requireAdmin(actor);
  const definition = { ...def, timeZone: def.timeZone ?? ctx.config.timezone };
  const now = ctx.clock.now();
  requireWorkingTime(name, definition, now);
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

/** A calendar ready for SLA arithmetic, with the name of the one actually counted on. */
interface Loaded {
  cal: Calendar;
  name: string;
}

/** Calendars read in a transaction, so the timers of one action read each calendar once. */
const perTx = new WeakMap<Tx, Map<string, Loaded>>();

async function loadCalendar(tx: Tx, name: string, fallbackTimeZone: string): Promise<Loaded> {
  let memo = perTx.get(tx);
  if (!memo) perTx.set(tx, (memo = new Map()));
  const hit = memo.get(name);
  if (hit) return hit;
  // a calendar deleted after the tree was published: the plant default counts instead
  const r = await tx.query<Row>('select name, definition, updated_at from wf_calendars where name = any($1::text[])', [[name, DEFAULT_CALENDAR]]);
  const row = r.rows.find((x) => x.name === name) ?? r.rows.find((x) => x.name === DEFAULT_CALENDAR);
  const loaded = { cal: compileCalendar(row?.definition ?? BUILTIN_CALENDAR, fallbackTimeZone), name: row?.name ?? DEFAULT_CALENDAR };
  memo.set(name, loaded);
  return loaded;
}

/**
 * The engine's logger per database, for problems found while timers are computed (slaDueAt has a
 * transaction, not the AppContext). Set by the workflow engine's bootstrap, which every Trellis
 * runs before it serves or starts a worker; a transaction of a database without one logs nothing.
 */
const logs = new WeakMap<Database, Logger>();

export function setCalendarLog(db: Database, log: Logger): void {
  logs.set(db, log);
}

/** What `slaDueAt` names in its warnings (the instance and node whose timer it computes). */
export interface SlaSubject {
  instanceId?: string;
  nodeId?: string;
}

/**
 * When an SLA duration of `node` started at `now` is due: wall-clock minutes, or working minutes
 * on the calendar the node (or its workflow) names. A calendar with no working time to count on
 * (stored before saving required a working year, or written around the API) does not fail the
 * approval: the minutes are counted on the wall clock from `now`, with a warning naming the
 * calendar so an administrator can fix its holidays.
 */
export async function slaDueAt(
  tx: Tx,
  now: Date,
  minutes: number,
  wf: WorkflowDef,
  node: WorkflowNode | undefined,
  fallbackTimeZone: string | undefined,
  subject: SlaSubject = {},
): Promise<Date> {
  const name = node ? slaCalendar(wf, node) : null;
  const wall = () => new Date(now.getTime() + minutes * 60_000);
  if (!name) return wall();
  const loaded = await loadCalendar(tx, name, fallbackTimeZone ?? 'Asia/Shanghai');
  try {
    return addWorkingMinutes(loaded.cal, now, minutes);
  } catch (err) {
    if (!(err instanceof NoWorkingTimeError)) throw err;
    const log = tx.database ? logs.get(tx.database) : undefined;
    log?.warn(
      { calendar: loaded.name, named: name, minutes, ...subject, reason: err.message },
      `workflow SLA: calendar "${loaded.name}" has no working time (${err.message}); ${minutes} minutes counted on the wall clock instead. Give the calendar working days that are not all holidays (PUT /api/v1/workflow/calendars/${loaded.name}).`,
    );
    return wall();
  }
}

/** `slaDueAt` for a node of the instance being worked on (what runtime.ts calls). */
export function slaDue(x: Exec, minutes: number, nodeId: string): Promise<Date> {
  return slaDueAt(x.tx, x.now, minutes, x.inst.definition, x.tree.has(nodeId) ? x.tree.node(nodeId) : undefined, x.inst.scope?.timezone, { instanceId: x.inst.id, nodeId });
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
        if (err instanceof NoWorkingTimeError) {
          throw unprocessable(`Calendar "${c.name}" has no working time in the next twenty years: give it working weekdays that are not all holidays.`);
        }
        throw err;
      }
      return { from: from.toISOString(), minutes: request.query.minutes, due: due.toISOString(), wallMinutes: (due.getTime() - from.getTime()) / 60_000 };
    },
  );
}
