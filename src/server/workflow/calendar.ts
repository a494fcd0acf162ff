// Business-hours calendars for SLA timers: "remind after 2 working hours" counted on the plant's
// working days and hours, skipping nights, weekends and public holidays, and counting make-up
// working days (调休 Saturdays). Pure functions; the store (calendar-store.ts) keeps the
// definitions an administrator edits.
//
// The arithmetic runs on the plant's wall clock: a calendar says "08:30–12:00, 13:00–17:30 in
// Asia/Shanghai", so an instant is turned into (local day number, milliseconds into that local
// day) once, the working time is counted on local days, and the result is turned back into an
// instant once. Whole weeks without holidays or make-up days are skipped in one step, so a
// duration of many weeks costs a handful of steps, not a loop per day or minute.
// In a zone with daylight saving time a working interval that spans the switch (02:00–03:00 at
// night) counts its wall-clock length; business hours do not normally span it.
import { z } from 'zod';
import { Label } from '../../shared/definition.ts';

const DAY = 86_400_000;
const TIME_RE = /^(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** `YYYY-MM-DD` → days since 1970-01-01 (a civil date, no time zone); NaN when not a real date. */
export function dayNumber(date: string): number {
  const m = DATE_RE.exec(date);
  if (!m) return NaN;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return NaN;
  return t / DAY;
}

/** ISO weekday (1 Monday … 7 Sunday) of a day number. 1970-01-01 was a Thursday. */
export function isoWeekday(dn: number): number {
  return ((((dn + 3) % 7) + 7) % 7) + 1;
}

function minutesOf(time: string): number {
  const m = TIME_RE.exec(time)!;
  return m[3] ? 24 * 60 : Number(m[1]) * 60 + Number(m[2]);
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const Time = z.string().regex(TIME_RE, 'a time of day like 08:30 (24-hour clock; 24:00 ends the day)');
const CalendarDate = z.string().refine((s) => Number.isFinite(dayNumber(s)), 'a date like 2026-10-01');

/** What an administrator defines (PUT /api/v1/workflow/calendars/:name). */
export const CalendarDef = z
  .object({
    label: Label.optional(),
    /** IANA zone of the plant (defaults to the server's TRELLIS_TIMEZONE when stored). */
    timeZone: z.string().max(64).refine(isTimeZone, 'an IANA time zone such as Asia/Shanghai or Europe/Berlin').optional(),
    /** Working weekdays, ISO numbering: 1 Monday … 7 Sunday. */
    weekdays: z.array(z.number().int().min(1, '1 is Monday').max(7, '7 is Sunday')).min(1, 'at least one working weekday').max(7).default([1, 2, 3, 4, 5]),
    /** Working hours of a working day, e.g. 08:30–12:00 and 13:00–17:30 (lunch excluded). */
    hours: z.array(z.object({ from: Time, to: Time }).strict()).min(1, 'at least one working period').max(12),
    /** Days off although their weekday is a working day (public holidays). */
    holidays: z.array(CalendarDate).max(3000).default([]),
    /** Working days although their weekday is not one (调休 make-up days). */
    workdays: z.array(CalendarDate).max(3000).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!c.hours.every((h) => TIME_RE.test(h.from) && TIME_RE.test(h.to))) return; // reported by the schema above
    if (new Set(c.weekdays).size !== c.weekdays.length) ctx.addIssue({ code: 'custom', path: ['weekdays'], message: 'a weekday is listed twice' });
    const spans = c.hours.map((h, i) => ({ i, a: minutesOf(h.from), b: minutesOf(h.to) })).sort((x, y) => x.a - y.a);
    for (const s of spans) if (s.b <= s.a) ctx.addIssue({ code: 'custom', path: ['hours', s.i, 'to'], message: `a working period ends after it starts (${c.hours[s.i]!.from}–${c.hours[s.i]!.to})` });
    for (let k = 1; k < spans.length; k++) {
      if (spans[k]!.a < spans[k - 1]!.b) ctx.addIssue({ code: 'custom', path: ['hours', spans[k]!.i, 'from'], message: 'working periods overlap; list them like 08:30–12:00 and 13:00–17:30' });
    }
    const holidays = new Set(c.holidays);
    c.workdays.forEach((d, i) => {
      if (holidays.has(d)) ctx.addIssue({ code: 'custom', path: ['workdays', i], message: `${d} is listed both as a holiday and as a make-up working day` });
    });
  });
export type CalendarDef = z.output<typeof CalendarDef>;
export type CalendarInput = z.input<typeof CalendarDef>;

/** The plant default until an administrator changes it: Monday–Friday, 08:30–12:00 and 13:00–17:30. */
export const BUILTIN_CALENDAR: CalendarDef = {
  label: { zh: '工厂默认工作日历', en: 'Plant default calendar' },
  weekdays: [1, 2, 3, 4, 5],
  hours: [
    { from: '08:30', to: '12:00' },
    { from: '13:00', to: '17:30' },
  ],
  holidays: [],
  workdays: [],
};

/** A calendar ready for arithmetic. */
export interface Calendar {
  timeZone: string;
  weekdays: ReadonlySet<number>;
  /** Working periods of a working day in ms after local midnight, sorted, not overlapping. */
  periods: ReadonlyArray<readonly [number, number]>;
  dayMs: number;
  weekMs: number;
  holidays: ReadonlySet<number>;
  workdays: ReadonlySet<number>;
  /** Holidays and make-up days, sorted: the days a whole-week skip must not jump over. */
  exceptions: readonly number[];
}

export function compileCalendar(def: CalendarDef, fallbackTimeZone: string): Calendar {
  const periods = def.hours.map((h) => [minutesOf(h.from) * 60_000, minutesOf(h.to) * 60_000] as const).sort((a, b) => a[0] - b[0]);
  const dayMs = periods.reduce((s, [a, b]) => s + (b - a), 0);
  const weekdays = new Set(def.weekdays);
  const holidays = new Set(def.holidays.map(dayNumber));
  const workdays = new Set(def.workdays.map(dayNumber));
  return {
    timeZone: def.timeZone ?? fallbackTimeZone,
    weekdays,
    periods,
    dayMs,
    weekMs: dayMs * weekdays.size,
    holidays,
    workdays,
    exceptions: [...new Set([...holidays, ...workdays])].sort((a, b) => a - b),
  };
}

export function isWorkingDay(cal: Calendar, dn: number): boolean {
  if (cal.workdays.has(dn)) return true;
  return cal.weekdays.has(isoWeekday(dn)) && !cal.holidays.has(dn);
}

// ---- time zones -------------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>();
/** Local time minus UTC at instant `t`, in ms. */
function offsetAt(t: number, tz: string): number {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(tz, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(t))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const local = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour! % 24, p.minute!, p.second!);
  return local - (t - (((t % 1000) + 1000) % 1000));
}

/** An instant as (local day number, ms into the local day). */
export function toLocal(t: number, tz: string): { dn: number; ms: number } {
  const local = t + offsetAt(t, tz);
  const dn = Math.floor(local / DAY);
  return { dn, ms: local - dn * DAY };
}

/** A local wall-clock time as an instant (a time skipped by a DST switch lands after the switch). */
export function fromLocal(dn: number, ms: number, tz: string): number {
  const wall = dn * DAY + ms;
  const o1 = offsetAt(wall, tz);
  const t = wall - o1;
  const o2 = offsetAt(t, tz);
  return o1 === o2 ? t : wall - o2;
}

// ---- arithmetic -------------------------------------------------------------------------------

/** First exception day ≥ dn (Infinity when none): whole weeks before it may be skipped in one step. */
function nextException(cal: Calendar, dn: number): number {
  const xs = cal.exceptions;
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < dn) lo = mid + 1;
    else hi = mid;
  }
  return lo < xs.length ? xs[lo]! : Infinity;
}

/** Twenty years of days: a calendar that never works again stops here. */
const MAX_DAYS = 366 * 20;

/**
 * A calendar with no working time to count on (every working day a holiday for twenty years, or no
 * working weekday at all): the definition's fault, not the server's. Saving refuses such a calendar
 * (calendar-store.ts requires working time in its next 366 days), but one stored before that rule,
 * or written around the API, still reaches the arithmetic.
 */
export class NoWorkingTimeError extends Error {
  override name = 'NoWorkingTimeError';
}

/** The civil date (`YYYY-MM-DD`) of an instant in a zone. */
export function localDate(t: Date, tz: string): string {
  return new Date(toLocal(t.getTime(), tz).dn * DAY).toISOString().slice(0, 10);
}

/**
 * The instant `minutes` working minutes after `start`. Counting begins at `start` if it is inside
 * working time, else at the next working period. A duration that ends exactly at the end of a
 * period is due at that end (17:30), not at the start of the next one.
 */
export function addWorkingMinutes(cal: Calendar, start: Date, minutes: number): Date {
  let rem = Math.round(minutes * 60_000);
  if (rem <= 0) return new Date(start.getTime());
  if (cal.weekMs <= 0) throw new NoWorkingTimeError('the calendar has no working time');
  let { dn, ms } = toLocal(start.getTime(), cal.timeZone);
  const first = dn;
  for (;;) {
    if (ms === 0 && rem > cal.weekMs) {
      // k whole weeks, none of them touching a holiday or make-up day, each worth weekMs
      const k = Math.min(Math.floor((nextException(cal, dn) - dn) / 7), Math.floor((rem - 1) / cal.weekMs));
      if (k > 0) {
        dn += 7 * k;
        rem -= k * cal.weekMs;
      }
    }
    if (isWorkingDay(cal, dn)) {
      for (const [a, b] of cal.periods) {
        if (ms >= b) continue;
        const s = Math.max(ms, a);
        if (rem <= b - s) return new Date(fromLocal(dn, s + rem, cal.timeZone));
        rem -= b - s;
        ms = b;
      }
    }
    dn++;
    ms = 0;
    if (dn - first > MAX_DAYS) throw new NoWorkingTimeError('the calendar has no working time in the next twenty years');
  }
}

/** Working minutes between two instants (0 when `to` is not after `from`). */
export function workingMinutesBetween(cal: Calendar, from: Date, to: Date): number {
  if (to.getTime() <= from.getTime()) return 0;
  let { dn, ms } = toLocal(from.getTime(), cal.timeZone);
  const end = toLocal(to.getTime(), cal.timeZone);
  let total = 0;
  while (dn < end.dn || (dn === end.dn && ms < end.ms)) {
    if (ms === 0 && dn + 7 <= end.dn) {
      const k = Math.min(Math.floor((nextException(cal, dn) - dn) / 7), Math.floor((end.dn - dn) / 7));
      if (k > 0) {
        dn += 7 * k;
        total += k * cal.weekMs;
        continue;
      }
    }
    const stop = dn === end.dn ? end.ms : DAY;
    if (isWorkingDay(cal, dn)) for (const [a, b] of cal.periods) total += Math.max(0, Math.min(b, stop) - Math.max(a, ms));
    dn++;
    ms = 0;
  }
  return total / 60_000;
}
