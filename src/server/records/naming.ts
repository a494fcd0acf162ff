// Naming series: document numbers like `ECN-{YYYY}-{####}`, gap-free and unique under concurrency.
//
// A counter row per series key (the pattern with its date parts filled in, so `{YYYY}` restarts
// every year) is incremented with one `insert ... on conflict do update ... returning` in the
// caller's transaction. The row stays locked until that transaction ends, so concurrent creates
// of the same series queue on it and each gets the next number; a transaction that rolls back
// releases its number with it, so the sequence has no gaps. Date parts use the plant time zone.
import type { Tx } from '../db/index.ts';

/** Tokens a pattern may use. `{#…#}` is the counter, zero-padded to the number of `#`. */
const TOKEN_RE = /\{([^{}]*)\}/g;
const DATE_TOKENS = ['YYYY', 'YY', 'MM', 'DD'] as const;

export class NamingPatternError extends Error {}

export interface ParsedPattern {
  pattern: string;
  /** Width of the counter. */
  digits: number;
}

/** Checks a pattern: exactly one counter token `{###…}` (1–12 digits), date tokens otherwise. */
export function parseNamingPattern(pattern: string): ParsedPattern {
  let digits = 0;
  let counters = 0;
  for (const m of pattern.matchAll(TOKEN_RE)) {
    const token = m[1] ?? '';
    if (/^#{1,12}$/.test(token)) {
      counters++;
      digits = token.length;
    } else if (!(DATE_TOKENS as readonly string[]).includes(token)) {
      throw new NamingPatternError(`Unknown token {${token}} in naming pattern "${pattern}": use {YYYY}, {YY}, {MM}, {DD} and one {####}.`);
    }
  }
  if (counters !== 1) throw new NamingPatternError(`The naming pattern "${pattern}" needs exactly one counter like {####}.`);
  if (/[{}]/.test(pattern.replace(TOKEN_RE, ''))) throw new NamingPatternError(`Unbalanced braces in naming pattern "${pattern}".`);
  return { pattern, digits };
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const parsed = new Map<string, ParsedPattern>();

/** `parseNamingPattern`, remembered per pattern (patterns come from published definitions). */
function parsedPattern(pattern: string): ParsedPattern {
  let p = parsed.get(pattern);
  if (!p) {
    p = parseNamingPattern(pattern);
    if (parsed.size > 1000) parsed.clear();
    parsed.set(pattern, p);
  }
  return p;
}

/** Calendar parts of `at` in `timeZone` (the plant's), as zero-padded strings. */
export function dateParts(at: Date, timeZone: string): Record<(typeof DATE_TOKENS)[number], string> {
  // the same minute in the same zone has the same date: formatToParts is kept per minute (every numbered create asks)
  const minute = Math.floor(at.getTime() / 60_000);
  const last = lastParts.get(timeZone);
  if (last && last.minute === minute) return last.parts;
  const parts = computeDateParts(at, timeZone);
  lastParts.set(timeZone, { minute, parts });
  return parts;
}

const lastParts = new Map<string, { minute: number; parts: Readonly<Record<(typeof DATE_TOKENS)[number], string>> }>();

function computeDateParts(at: Date, timeZone: string): Record<(typeof DATE_TOKENS)[number], string> {
  let fmt = formatters.get(timeZone);
  if (!fmt) formatters.set(timeZone, (fmt = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })));
  const parts = fmt.formatToParts(at);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const yyyy = get('year').padStart(4, '0');
  return { YYYY: yyyy, YY: yyyy.slice(-2), MM: get('month'), DD: get('day') };
}

/** The pattern with its date parts filled in and the counter left as `{#}`: the series key's period part. */
export function seriesPrefix(pattern: string, at: Date, timeZone: string): string {
  parsedPattern(pattern);
  const d = dateParts(at, timeZone);
  return pattern.replace(TOKEN_RE, (_all, token: string) => (token.startsWith('#') ? '{#}' : d[token as keyof typeof d]));
}

export function formatName(pattern: string, at: Date, timeZone: string, n: number): string {
  const { digits } = parsedPattern(pattern);
  const d = dateParts(at, timeZone);
  return pattern.replace(TOKEN_RE, (_all, token: string) => (token.startsWith('#') ? String(n).padStart(digits, '0') : d[token as keyof typeof d]));
}

/**
 * Takes the next number of a series in the caller's transaction and returns the formatted name.
 * `scope` keeps separate series apart (e.g. `app/entity/name`); the period comes from the pattern.
 */
export async function nextInSeries(tx: Tx, scope: string, pattern: string, at: Date, timeZone: string): Promise<{ name: string; n: number; key: string }> {
  const key = `${scope}:${seriesPrefix(pattern, at, timeZone)}`;
  const r = await tx.query<{ last: number | string }>(
    `insert into naming_counters (series_key, last) values ($1, 1)
     on conflict (series_key) do update set last = naming_counters.last + 1
     returning last`,
    [key],
  );
  const n = Number(r.rows[0]!.last);
  return { name: formatName(pattern, at, timeZone, n), n, key };
}

/**
 * A series take as SQL, for callers that want the counter taken as late as possible: `counter` is
 * a statement (`insert … on conflict do update … returning last`) to put in a CTE, and `nameSql`
 * formats its `last` into the name exactly as `formatName` does (zero-padded, never truncated).
 * Parameters are `$1` … `$4`; append the caller's after them.
 */
export function seriesSql(scope: string, pattern: string, at: Date, timeZone: string): { counter: string; nameSql: (last: string) => string; params: unknown[] } {
  const { digits } = parsedPattern(pattern);
  const key = `${scope}:${seriesPrefix(pattern, at, timeZone)}`;
  const marker = '\u0000';
  const [before, after] = formatName(pattern, at, timeZone, 0).replace(/0+(?=[^0]*$)/, marker).split(marker) as [string, string];
  return {
    counter: `insert into naming_counters (series_key, last) values ($1, 1)
     on conflict (series_key) do update set last = naming_counters.last + 1
     returning last`,
    nameSql: (last) => `$2::text || lpad(${last}::text, greatest($3::int, length(${last}::text)), '0') || $4::text`,
    params: [key, before, digits, after],
  };
}
