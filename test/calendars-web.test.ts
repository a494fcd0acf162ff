// The calendars page's pure parts (src/web/calendars/model.ts): typed runs of days, wall-clock
// times in a calendar's zone, and where the server's problems land on the form — the problems made
// by the server's own CalendarDef schema, with the paths the HTTP layer gives them (body.<path>).
import { describe, expect, it } from 'vitest';
import { CalendarDef } from '../src/server/workflow/calendar.ts';
import { expandDates, formatIn, placeProblems, wallClock, zonedInstant } from '../src/web/calendars/model.ts';

/** The problem+json `errors` the server answers for a body its schema refuses. */
function problemsFor(body: unknown): Array<{ path: string; message: string }> {
  const r = CalendarDef.safeParse(body);
  expect(r.success).toBe(false);
  return r.error!.issues.map((i) => ({ path: ['body', ...i.path].join('.'), message: i.message }));
}

describe('typed dates', () => {
  it('spreads a run into its days, sorted and each once; keeps anything else as typed for the server to point at', () => {
    expect(expandDates(['2026-10-03', '2026-10-01~2026-10-04', ' 2026-10-02 '])).toEqual(['2026-10-01', '2026-10-02', '2026-10-03', '2026-10-04']);
    expect(expandDates(['2026-12-31 至 2027-01-02'])).toEqual(['2026-12-31', '2027-01-01', '2027-01-02']);
    expect(expandDates(['2026-02-28..2026-03-01'])).toEqual(['2026-02-28', '2026-03-01']);
    // backwards, absurdly long (a mistyped year) or not a date: left for the server to refuse
    expect(expandDates(['2026-10-07~2026-10-01'])).toEqual(['2026-10-07~2026-10-01']);
    expect(expandDates(['2026-10-01~2027-10-01'])).toEqual(['2026-10-01~2027-10-01']);
    expect(expandDates(['2026-13-01', '', '  '])).toEqual(['2026-13-01']);
  });
});

describe('wall-clock times in the calendar’s zone', () => {
  it('turns a typed start into the instant it means there, and back', () => {
    expect(zonedInstant('2026-09-30T16:30', 'Asia/Shanghai')!.toISOString()).toBe('2026-09-30T08:30:00.000Z');
    expect(zonedInstant('2026-12-24T16:30', 'Europe/Berlin')!.toISOString()).toBe('2026-12-24T15:30:00.000Z');
    expect(zonedInstant('2026-07-01T08:00', 'Europe/Berlin')!.toISOString()).toBe('2026-07-01T06:00:00.000Z');
    expect(zonedInstant('2026-07-01T08:00', 'America/Chicago')!.toISOString()).toBe('2026-07-01T13:00:00.000Z');
    expect(zonedInstant('not a time', 'Asia/Shanghai')).toBeNull();
    // every seventh hour through a year with two clock changes comes back as typed
    for (let t = Date.UTC(2026, 0, 1); t < Date.UTC(2027, 0, 1); t += 3_600_000 * 7) {
      const wall = wallClock(new Date(t), 'Europe/Berlin');
      expect(zonedInstant(wall, 'Europe/Berlin')!.getTime()).toBe(t);
    }
    expect(formatIn('2026-10-08T01:30:00.000Z', 'Asia/Shanghai', 'zh-CN')).toBe('2026-10-08 周四 09:30');
    expect(formatIn('2026-10-08T01:30:00.000Z', 'Europe/Berlin', 'en')).toBe('2026-10-08 Thu 03:30');
  });
});

describe('the server’s problems on the form', () => {
  it('puts each problem of the real schema beside its field; a date’s problem names the date', () => {
    const shape = problemsFor({ label: { zh: '' }, timeZone: 'Mars/Olympus', weekdays: [], hours: [{ from: '8:30', to: '12:00' }], holidays: ['2026-10-01', '2026-13-01'] });
    const body = { holidays: ['2026-10-01', '2026-13-01'], workdays: [] };
    const placed = placeProblems(shape, body);
    const at = (name: (string | number)[]) => placed.fields.find((f) => JSON.stringify(f.name) === JSON.stringify(name))?.errors.join('; ');
    expect(at(['labelZh'])).toContain('Chinese label');
    expect(at(['timeZone'])).toContain('IANA time zone');
    expect(at(['weekdays'])).toContain('at least one working weekday');
    expect(at(['hours', 0, 'from'])).toContain('a time of day like 08:30');
    expect(at(['holidays'])).toBe('2026-13-01: a date like 2026-10-01');
    expect(placed.rest).toEqual([]);

    // the checks across fields: a period that ends before it starts, overlaps, a day both ways
    const cross = problemsFor({ hours: [{ from: '13:00', to: '12:00' }, { from: '08:30', to: '13:30' }], holidays: ['2026-10-01'], workdays: ['2026-10-01'] });
    const p2 = placeProblems(cross, { holidays: ['2026-10-01'], workdays: ['2026-10-01'] });
    const at2 = (name: (string | number)[]) => p2.fields.find((f) => JSON.stringify(f.name) === JSON.stringify(name))?.errors.join('; ');
    expect(at2(['hours', 0, 'to'])).toContain('a working period ends after it starts (13:00–12:00)');
    expect(at2(['hours', 0, 'from'])).toContain('working periods overlap');
    expect(at2(['workdays'])).toBe('2026-10-01: 2026-10-01 is listed both as a holiday and as a make-up working day');

    // no periods at all belongs under the list; a name the URL refuses, at the name
    const none = placeProblems(problemsFor({ hours: [] }), { holidays: [], workdays: [] });
    expect(none.hours).toEqual(['at least one working period']);
    const named = placeProblems([{ path: 'params.name', message: 'a calendar name: lower-case letters' }, { path: 'body', message: 'odd' }], { holidays: [], workdays: [] });
    expect(named.fields).toEqual([{ name: ['name'], errors: ['a calendar name: lower-case letters'] }]);
    expect(named.rest).toEqual(['body: odd']);
  });
});
