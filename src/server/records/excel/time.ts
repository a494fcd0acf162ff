// Plant-time-zone arithmetic for spreadsheets. A spreadsheet has no time zones: a date-time cell
// is a wall-clock reading, which Trellis takes to be in the plant's zone (default Asia/Shanghai,
// invariant 6) on import and writes in that zone on export.

export interface Wall {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  ms: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formatters.set(tz, f);
  }
  return f;
}

/** The wall clock in `tz` at the instant `t`. */
export function wallAt(t: Date, tz: string): Wall {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(t)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { y: parts.year!, mo: parts.month!, d: parts.day!, h: parts.hour! % 24, mi: parts.minute!, s: parts.second!, ms: t.getUTCMilliseconds() };
}

function offsetMs(t: number, tz: string): number {
  const w = wallAt(new Date(t), tz);
  return Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s, w.ms) - t;
}

/** The instant at which the wall clock in `tz` reads `w`. */
export function instantOf(w: Wall, tz: string): Date {
  const guess = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s, w.ms);
  let t = guess - offsetMs(guess, tz);
  const again = guess - offsetMs(t, tz);
  if (again !== t) t = again; // across a daylight-saving change
  return new Date(t);
}

/** The wall clock kept in the UTC fields of a Date (how exceljs hands out and takes date cells). */
export function wallOfUtcFields(d: Date): Wall {
  return { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds(), ms: d.getUTCMilliseconds() };
}

export function utcFieldsOf(w: Wall): Date {
  return new Date(Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s, w.ms));
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

export function dateText(w: Pick<Wall, 'y' | 'mo' | 'd'>): string {
  return `${pad(w.y, 4)}-${pad(w.mo)}-${pad(w.d)}`;
}

export function dateTimeText(w: Wall): string {
  return `${dateText(w)} ${pad(w.h)}:${pad(w.mi)}:${pad(w.s)}${w.ms ? `.${pad(w.ms, 3)}` : ''}`;
}

/** Excel serial day number (1900 date system, with Lotus's phantom 29 Feb 1900) → wall clock. */
export function wallOfSerial(serial: number): Wall | null {
  if (!Number.isFinite(serial) || serial < 1 || serial >= 2_958_466) return null; // 1900-01-01 … 9999-12-31
  if (serial >= 60 && serial < 61) return null; // 1900-02-29 never existed
  const days = serial < 60 ? serial + 1 : serial; // before it, Excel counts one day short
  const ms = Math.round((days - 25_569) * 86_400_000); // serial 25569 = 1970-01-01
  return wallOfUtcFields(new Date(ms));
}

/** Days in a month (for validating "2026-02-30"). */
export function isRealDate(y: number, mo: number, d: number): boolean {
  if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, mo, 0)).getUTCDate();
}
