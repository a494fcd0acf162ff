// Business-hours arithmetic for SLA timers (pure): lunch breaks, nights, weekends, holidays,
// make-up working days, a zone with daylight saving time, and durations of many weeks, checked
// against hand-computed instants and against a minute-by-minute reference walk.
import { describe, expect, it } from 'vitest';
import {
  addWorkingMinutes,
  BUILTIN_CALENDAR,
  CalendarDef,
  compileCalendar,
  dayNumber,
  isoWeekday,
  localDate,
  NoWorkingTimeError,
  workingMinutesBetween,
  type CalendarInput,
} from '../src/server/workflow/calendar.ts';

const plant = (extra: Partial<CalendarInput> = {}, tz = 'Asia/Shanghai') =>
  compileCalendar(CalendarDef.parse({ weekdays: [1, 2, 3, 4, 5], hours: [{ from: '08:30', to: '12:00' }, { from: '13:00', to: '17:30' }], ...extra }), tz);
const at = (iso: string) => new Date(iso);
const add = (cal: ReturnType<typeof plant>, iso: string, minutes: number) => addWorkingMinutes(cal, at(iso), minutes).toISOString();

describe('calendar arithmetic (Asia/Shanghai, 08:30–12:00 and 13:00–17:30, Mon–Fri)', () => {
  const cal = plant();

  it('day numbers and ISO weekdays', () => {
    expect(isoWeekday(dayNumber('2026-03-06'))).toBe(5); // Friday
    expect(isoWeekday(dayNumber('2026-03-08'))).toBe(7); // Sunday
    expect(isoWeekday(dayNumber('1969-12-29'))).toBe(1); // Monday before the epoch
    expect(dayNumber('2026-02-30')).toBeNaN();
  });

  it('inside one period', () => {
    // Monday 09:00 +60 → 10:00
    expect(add(cal, '2026-03-09T09:00:00+08:00', 60)).toBe(at('2026-03-09T10:00:00+08:00').toISOString());
  });

  it('crosses lunch', () => {
    // Monday 11:30 +60 → 30 before lunch, 30 after: 13:30
    expect(add(cal, '2026-03-09T11:30:00+08:00', 60)).toBe(at('2026-03-09T13:30:00+08:00').toISOString());
    // started during lunch: counting begins at 13:00
    expect(add(cal, '2026-03-09T12:20:00+08:00', 45)).toBe(at('2026-03-09T13:45:00+08:00').toISOString());
  });

  it('ends exactly at the end of a period: due then, not at the next start', () => {
    expect(add(cal, '2026-03-09T11:00:00+08:00', 60)).toBe(at('2026-03-09T12:00:00+08:00').toISOString());
    expect(add(cal, '2026-03-09T08:30:00+08:00', 480)).toBe(at('2026-03-09T17:30:00+08:00').toISOString());
  });

  it('crosses the night', () => {
    // Tuesday 17:00 +60 → 30 today, 30 tomorrow from 08:30: Wednesday 09:00
    expect(add(cal, '2026-03-10T17:00:00+08:00', 60)).toBe(at('2026-03-11T09:00:00+08:00').toISOString());
    // submitted at night: counting starts next morning
    expect(add(cal, '2026-03-10T22:15:00+08:00', 30)).toBe(at('2026-03-11T09:00:00+08:00').toISOString());
  });

  it('crosses the weekend: Friday 16:30 + 2 working hours is Monday 09:30', () => {
    expect(add(cal, '2026-03-06T16:30:00+08:00', 120)).toBe(at('2026-03-09T09:30:00+08:00').toISOString());
    // submitted on Saturday
    expect(add(cal, '2026-03-07T10:00:00+08:00', 120)).toBe(at('2026-03-09T10:30:00+08:00').toISOString());
  });

  it('skips holidays and works on make-up days (National Day 2026 with 调休 Saturday)', () => {
    // holidays Thu 10-01 … Wed 10-07 (weekdays among them), make-up working day Sat 10-10
    const holidays = ['2026-10-01', '2026-10-02', '2026-10-05', '2026-10-06', '2026-10-07'];
    const golden = plant({ holidays, workdays: ['2026-10-10'] });
    // Wednesday 09-30 16:30 + 2h → 1h on 09-30, then nothing until Thu 10-08 08:30 → 09:30
    expect(add(golden, '2026-09-30T16:30:00+08:00', 120)).toBe(at('2026-10-08T09:30:00+08:00').toISOString());
    // Friday 10-09 16:30 + 2h → 1h Friday, the make-up Saturday 10-10 08:30 → 09:30
    expect(add(golden, '2026-10-09T16:30:00+08:00', 120)).toBe(at('2026-10-10T09:30:00+08:00').toISOString());
    // without the make-up day it would be Monday
    expect(add(plant({ holidays }), '2026-10-09T16:30:00+08:00', 120)).toBe(at('2026-10-12T09:30:00+08:00').toISOString());
  });

  it('custom weekdays: a six-day plant works Saturdays', () => {
    const six = plant({ weekdays: [1, 2, 3, 4, 5, 6] });
    expect(add(six, '2026-03-06T16:30:00+08:00', 120)).toBe(at('2026-03-07T09:30:00+08:00').toISOString());
  });

  it('long durations: 12 weeks of working time with holidays in between, in few steps', () => {
    // 60 working days × 480 min from Monday 2026-03-02 08:30 with Qingming (04-06) and Labour Day (05-01, 05-04, 05-05)
    const cal2 = plant({ holidays: ['2026-04-06', '2026-05-01', '2026-05-04', '2026-05-05'], workdays: ['2026-05-09'] });
    const due = addWorkingMinutes(cal2, at('2026-03-02T08:30:00+08:00'), 60 * 480);
    // 60 working days: Mar 2..27 (20), Mar 30..Apr 24 minus 04-06 (19 → 39), Apr 27..30 (4 → 43), 05-06..08 (3 → 46), Sat 05-09 (47),
    // May 11..29 (15 → 62): the 60th working day is Wed 05-27, its end 17:30
    expect(due.toISOString()).toBe(at('2026-05-27T17:30:00+08:00').toISOString());
    expect(workingMinutesBetween(cal2, at('2026-03-02T08:30:00+08:00'), due)).toBe(60 * 480);
    // a year of working minutes (the schema's maximum) is quick: a few weeks per step
    const t0 = at('2026-01-05T08:30:00+08:00');
    const far = addWorkingMinutes(cal, t0, 525_600);
    expect(workingMinutesBetween(cal, t0, far)).toBe(525_600);
    // 525600 / 480 = 1095 working days = 219 weeks exactly → ends on the Friday 1533 - 3 days later, 17:30
    expect(far.toISOString()).toBe(at('2030-03-15T17:30:00+08:00').toISOString());
  });

  it('agrees with a minute-by-minute walk (random starts and durations)', () => {
    const cal3 = plant({ holidays: ['2026-03-11', '2026-03-20'], workdays: ['2026-03-14'] });
    // Shanghai is UTC+8 all year: local day and minute by plain arithmetic
    const working = (t: number) => {
      const local = t + 8 * 3_600_000;
      const dn = Math.floor(local / 86_400_000);
      const m = Math.floor((local - dn * 86_400_000) / 60_000);
      const dayOk = cal3.workdays.has(dn) || (isoWeekday(dn) <= 5 && !cal3.holidays.has(dn));
      return dayOk && ((m >= 510 && m < 720) || (m >= 780 && m < 1050));
    };
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 200; i++) {
      const start = Date.parse('2026-03-05T00:00:00+08:00') + Math.floor(rnd() * 10 * 1440) * 60_000;
      const n = 1 + Math.floor(rnd() * 3000);
      let t = start;
      let left = n;
      while (left > 0) {
        if (working(t)) left--;
        t += 60_000;
      }
      // the walk ends one minute after the last working minute started
      expect(addWorkingMinutes(cal3, new Date(start), n).getTime(), `start ${new Date(start).toISOString()} +${n}`).toBe(t);
      expect(workingMinutesBetween(cal3, new Date(start), new Date(t))).toBe(n);
    }
  });
});

describe('a zone with daylight saving time (Europe/Berlin)', () => {
  const berlin = plant({}, 'Europe/Berlin');
  it('Friday 16:30 CET + 2 working hours is Monday 09:30 CEST (clocks went forward on Sunday 2026-03-29)', () => {
    expect(add(berlin, '2026-03-27T16:30:00+01:00', 120)).toBe(at('2026-03-30T09:30:00+02:00').toISOString());
  });
  it('and back in autumn (2026-10-25)', () => {
    expect(add(berlin, '2026-10-23T16:30:00+02:00', 120)).toBe(at('2026-10-26T09:30:00+01:00').toISOString());
    expect(workingMinutesBetween(berlin, at('2026-10-23T16:30:00+02:00'), at('2026-10-26T09:30:00+01:00'))).toBe(120);
  });
  it('America/New_York: a week across the switch keeps local hours', () => {
    const ny = plant({}, 'America/New_York');
    // 2026-03-08 clocks forward; Friday 03-06 09:00 EST + 5 working days → Friday 03-13 09:00 EDT
    expect(add(ny, '2026-03-06T09:00:00-05:00', 5 * 480)).toBe(at('2026-03-13T09:00:00-04:00').toISOString());
  });
});

describe('a calendar that never works', () => {
  it('every working day a holiday for twenty years, or no working weekday at all: a NoWorkingTimeError, not a wrong instant', () => {
    const mondays: string[] = [];
    for (let d = Date.UTC(2026, 2, 2); d < Date.UTC(2048, 0, 1); d += 7 * 86_400_000) mondays.push(new Date(d).toISOString().slice(0, 10));
    const shut = compileCalendar({ weekdays: [1], hours: [{ from: '08:30', to: '12:00' }], holidays: mondays, workdays: [] }, 'Asia/Shanghai');
    expect(() => addWorkingMinutes(shut, at('2026-03-02T09:00:00+08:00'), 60)).toThrow(NoWorkingTimeError);
    expect(() => addWorkingMinutes(shut, at('2026-03-02T09:00:00+08:00'), 60)).toThrow('the calendar has no working time in the next twenty years');
    expect(workingMinutesBetween(shut, at('2026-03-02T00:00:00+08:00'), at('2027-03-03T00:00:00+08:00'))).toBe(0);
    // one Monday left off the list: 60 minutes that day
    const once = compileCalendar({ weekdays: [1], hours: [{ from: '08:30', to: '12:00' }], holidays: mondays.filter((d) => d !== '2026-06-01'), workdays: [] }, 'Asia/Shanghai');
    expect(add(once, '2026-03-02T09:00:00+08:00', 60)).toBe(at('2026-06-01T09:30:00+08:00').toISOString());
    // no weekday at all (only possible around the schema)
    const none = compileCalendar({ weekdays: [], hours: [{ from: '08:30', to: '12:00' }], holidays: [], workdays: [] }, 'Asia/Shanghai');
    expect(() => addWorkingMinutes(none, at('2026-03-02T09:00:00+08:00'), 60)).toThrow(NoWorkingTimeError);
  });

  it('local dates in the calendar’s zone', () => {
    expect(localDate(at('2026-03-01T16:30:00Z'), 'Asia/Shanghai')).toBe('2026-03-02');
    expect(localDate(at('2026-03-01T16:30:00Z'), 'Europe/Berlin')).toBe('2026-03-01');
  });
});

describe('calendar definitions (zod)', () => {
  it('the built-in default is valid', () => {
    expect(CalendarDef.safeParse(BUILTIN_CALENDAR).success).toBe(true);
  });
  it('refuses overlapping or reversed periods, bad zones, dates listed twice', () => {
    const bad = CalendarDef.safeParse({
      timeZone: 'Mars/Olympus',
      weekdays: [1, 1, 8],
      hours: [{ from: '08:00', to: '12:00' }, { from: '11:00', to: '13:00' }, { from: '18:00', to: '17:00' }, { from: '8:00', to: '9' }],
      holidays: ['2026-10-01', '2026-02-30'],
      workdays: ['2026-10-01'],
    });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(paths).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^timeZone: an IANA time zone/),
        expect.stringMatching(/^weekdays\.2: 7 is Sunday/),
        expect.stringMatching(/^hours\.3\.from: a time of day like 08:30/),
        expect.stringMatching(/^holidays\.1: a date like/),
      ]),
    );
    const semantic = CalendarDef.safeParse({ weekdays: [1, 1], hours: [{ from: '08:00', to: '12:00' }, { from: '11:00', to: '13:00' }, { from: '18:00', to: '17:00' }], holidays: ['2026-10-01'], workdays: ['2026-10-01'] });
    expect(semantic.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(
      expect.arrayContaining([
        'weekdays: a weekday is listed twice',
        'hours.2.to: a working period ends after it starts (18:00–17:00)',
        'hours.1.from: working periods overlap; list them like 08:30–12:00 and 13:00–17:30',
        'workdays.0: 2026-10-01 is listed both as a holiday and as a make-up working day',
      ]),
    );
  });
});
