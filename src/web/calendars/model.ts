// The calendars page's pure parts: typed dates (runs of days), wall-clock times in a calendar's
// zone, and where the server's problems belong on the form. Kept apart from the page so they are
// tested without a browser (test/calendars-web.test.ts).

const RANGE_RE = /^(\d{4}-\d{2}-\d{2})\s*(?:~|～|至|\.\.)\s*(\d{4}-\d{2}-\d{2})$/;
const DAY = 86_400_000;
/** A typed run longer than this is almost surely a typo (a wrong year), not a holiday. */
const MAX_RUN_DAYS = 62;

/** Typed dates: runs (2026-10-01~2026-10-07) become their days; sorted, each once. Anything else is
 * kept as typed, for the server to point at. */
export function expandDates(tokens: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of tokens) {
    const t = raw.trim();
    if (!t) continue;
    const m = RANGE_RE.exec(t);
    const a = m ? Date.parse(`${m[1]}T00:00:00Z`) : NaN;
    const b = m ? Date.parse(`${m[2]}T00:00:00Z`) : NaN;
    if (m && Number.isFinite(a) && Number.isFinite(b) && b >= a && (b - a) / DAY < MAX_RUN_DAYS) {
      for (let d = a; d <= b; d += DAY) out.add(new Date(d).toISOString().slice(0, 10));
    } else out.add(t);
  }
  return [...out].sort();
}

/** Local time minus UTC in `tz` at instant `t`, in ms. */
export function offsetAt(t: number, tz: string): number {
  const parts: Record<string, number> = {};
  const f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
  for (const p of f.formatToParts(new Date(t))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const local = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour! % 24, parts.minute!, parts.second!);
  return local - Math.floor(t / 1000) * 1000;
}

/** A wall-clock time typed for the calendar's zone ("2026-09-30T16:30") as an instant. */
export function zonedInstant(wall: string, tz: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(wall);
  if (!m) return null;
  const asUtc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
  const first = asUtc - offsetAt(asUtc, tz);
  return new Date(asUtc - offsetAt(first, tz));
}

/** An instant as the calendar's wall clock, in the input's format. */
export function wallClock(at: Date, tz: string): string {
  const local = new Date(at.getTime() + offsetAt(at.getTime(), tz));
  return local.toISOString().slice(0, 16);
}

/** "2026-10-08 周四 09:30" on the calendar's wall clock. */
export function formatIn(iso: string, tz: string, locale: string): string {
  const f = new Intl.DateTimeFormat(locale === 'en' ? 'en-GB' : 'zh-CN', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const p = Object.fromEntries(f.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.weekday} ${p.hour}:${p.minute}`;
}

// ---- server problems → fields -------------------------------------------------------------------

export type FieldErrors = Array<{ name: (string | number)[]; errors: string[] }>;

/**
 * Where each problem the server reported belongs on the form (`body.hours.0.to` → that input), and
 * what is left for the notice under the form. A date's problem names the date (unless its message
 * already does), since the dates share one input. Messages are taken as given: the page puts them
 * in the user's language first (localProblems in i18n.ts).
 */
export function placeProblems(errors: ReadonlyArray<{ path: string; message: string }>, v: { holidays: readonly string[]; workdays: readonly string[] }): { fields: FieldErrors; rest: string[]; hours: string[] } {
  const byField = new Map<string, { name: (string | number)[]; errors: string[] }>();
  const rest: string[] = [];
  const hours: string[] = [];
  const add = (name: (string | number)[], msg: string) => {
    const key = JSON.stringify(name);
    const hit = byField.get(key);
    if (hit) hit.errors.push(msg);
    else byField.set(key, { name, errors: [msg] });
  };
  for (const e of errors) {
    const p = e.path.replace(/^body\.?/, '').split('.').filter(Boolean);
    if (e.path === 'params.name') add(['name'], e.message);
    else if (p[0] === 'label') add([p[1] === 'en' ? 'labelEn' : 'labelZh'], e.message);
    else if (p[0] === 'timeZone' || p[0] === 'weekdays') add([p[0]], e.message);
    else if (p[0] === 'hours' && p.length >= 3 && (p[2] === 'from' || p[2] === 'to')) add(['hours', Number(p[1]), p[2]], e.message);
    else if (p[0] === 'hours') hours.push(e.message);
    else if (p[0] === 'holidays' || p[0] === 'workdays') {
      const value = p[1] !== undefined ? v[p[0]][Number(p[1])] : undefined;
      add([p[0]], value && !e.message.includes(value) ? `${value}: ${e.message}` : e.message);
    } else rest.push(`${e.path}: ${e.message}`);
  }
  return { fields: [...byField.values()], rest, hours };
}
