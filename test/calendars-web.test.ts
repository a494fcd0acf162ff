// The calendars page's pure parts (src/web/calendars/model.ts, i18n.ts): typed runs of days,
// wall-clock times in a calendar's zone, where the server's problems land on the form — the
// problems made by the server's own CalendarDef schema, with the paths the HTTP layer gives them
// (body.<path>) — and what a zh-CN user reads for them: the API words its problems in English, the
// page says them in Chinese. The last part asks the real routes (in-process Trellis, demo plant), so
// a reworded server message shows up here as English where Chinese is expected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PASSWORD } from '../src/server/platform/org/index.ts';
import { CalendarDef } from '../src/server/workflow/calendar.ts';
import { localProblems, problemSummary, problemText } from '../src/web/calendars/i18n.ts';
import { expandDates, formatIn, placeProblems, wallClock, zonedInstant } from '../src/web/calendars/model.ts';
import { NAV_ITEMS } from '../src/web/layout/nav.tsx';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';

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
    // the message names the date already: not named twice
    expect(at2(['workdays'])).toBe('2026-10-01 is listed both as a holiday and as a make-up working day');

    // no periods at all belongs under the list; a name the URL refuses, at the name
    const none = placeProblems(problemsFor({ hours: [] }), { holidays: [], workdays: [] });
    expect(none.hours).toEqual(['at least one working period']);
    const named = placeProblems([{ path: 'params.name', message: 'a calendar name: lower-case letters' }, { path: 'body', message: 'odd' }], { holidays: [], workdays: [] });
    expect(named.fields).toEqual([{ name: ['name'], errors: ['a calendar name: lower-case letters'] }]);
    expect(named.rest).toEqual(['body: odd']);
  });
});

/** Where each problem landed: field name → its messages. */
function placedAt(placed: ReturnType<typeof placeProblems>): Record<string, string> {
  return Object.fromEntries(placed.fields.map((f) => [f.name.join('.'), f.errors.join('; ')]));
}
const HAN = /[\u4e00-\u9fff]/;

describe('the server’s problems in the user’s language', () => {
  it('zh-CN: each problem of the real schema is Chinese at its field; English users read the server’s words', () => {
    const body = { timeZone: 'Mars/Olympus', weekdays: [], hours: [{ from: '8:30', to: '12:00' }], holidays: ['2026-10-01', '2026-13-01'] };
    const issues = problemsFor(body);
    const values = { holidays: body.holidays, workdays: [] };
    const zh = placedAt(placeProblems(localProblems('zh-CN', issues), values));
    expect(zh).toEqual({
      timeZone: '不是有效的时区，请从列表中选择，如 Asia/Shanghai',
      weekdays: '请至少选择一个工作日',
      'hours.0.from': '请用 24 小时制填写时间，如 08:30（24:00 表示当天结束）',
      holidays: '2026-13-01: 不是有效的日期，请写成 2026-10-01 这样的格式',
    });
    const en = placedAt(placeProblems(localProblems('en', issues), values));
    expect(en.timeZone).toBe('an IANA time zone such as Asia/Shanghai or Europe/Berlin');
    expect(en.holidays).toBe('2026-13-01: a date like 2026-10-01');

    // the checks across fields: reversed period, overlap, a day both off and worked, a weekday twice
    const cross = problemsFor({ weekdays: [1, 1], hours: [{ from: '13:00', to: '12:00' }, { from: '08:30', to: '13:30' }], holidays: ['2026-10-01'], workdays: ['2026-10-01'] });
    const zh2 = placedAt(placeProblems(localProblems('zh-CN', cross), { holidays: ['2026-10-01'], workdays: ['2026-10-01'] }));
    expect(zh2).toEqual({
      weekdays: '同一个工作日出现了两次',
      'hours.0.to': '时段 13:00–12:00 的结束时间必须晚于开始时间',
      'hours.0.from': '工作时段相互重叠，请分开填写，如 08:30–12:00 和 13:00–17:30',
      workdays: '2026-10-01 同时填在节假日和调休上班日里，请只保留一处',
    });

    // no period at all goes under the list; zod's own limits and type messages too
    expect(placeProblems(localProblems('zh-CN', problemsFor({ hours: [] })), values).hours).toEqual(['请至少填写一个工作时段']);
    const limits = localProblems('zh-CN', problemsFor({ timeZone: 'x'.repeat(70), weekdays: [0, 'a'], hours: Array(13).fill({ from: '08:00', to: '09:00' }), extra: 1 }));
    expect(limits.map((p) => `${p.path}: ${p.message}`)).toEqual(
      expect.arrayContaining(['body.timeZone: 最多 64 个字符', 'body.weekdays.0: 工作日只能是周一到周日（1–7）', 'body.weekdays.1: 类型不对：应为 number，收到的是 string', 'body.hours: 最多 12 项', 'body: 无法识别的字段："extra"']),
    );
    // every message the schema gave for these bodies has its Chinese
    for (const p of [...localProblems('zh-CN', issues), ...localProblems('zh-CN', cross), ...limits]) expect(p.message).toMatch(HAN);
    // a message the page does not know is shown as the server wrote it, not dropped
    expect(problemText('zh-CN', 'something new')).toBe('something new');
  });

  it('the administrator’s phone menu has the calendars, within the bottom bar’s four; others do not see it', () => {
    const bottom = (roles: string[]) => NAV_ITEMS.filter((i) => (!i.roles || i.roles.some((r) => roles.includes(r))) && i.mobile !== false).map((i) => i.key);
    expect(bottom(['admin'])).toContain('calendars');
    expect(bottom(['admin', 'it_admin', 'app_builder', 'integration_engineer']).length).toBeLessThanOrEqual(4);
    expect(bottom(['operator'])).not.toContain('calendars');
  });
});

describe('the calendars API’s answers as the page shows them (zh-CN / en)', () => {
  let t: TestTrellis;
  let admin: TestSession;
  let operator: TestSession;
  beforeAll(async () => {
    t = await createTestTrellis({ seedDemo: true });
    admin = await loginAs(t);
    operator = await loginAs(t, 'wang.operator', DEMO_PASSWORD);
  }, 120_000);
  afterAll(async () => {
    await t?.destroy();
  });

  /** The answer as the web's ApiError carries it (src/web/api.ts). */
  async function answer(s: TestSession, method: string, url: string, payload?: unknown) {
    const r = await s.inject({ method: method as 'GET', url: `/api/v1/workflow/calendars${url}`, ...(payload !== undefined ? { payload: payload as object } : {}) });
    const b = r.json() as { status: number; title: string; detail?: string; errors?: Array<{ path: string; message: string }> };
    return { status: r.statusCode, title: b.title, detail: b.detail, errors: b.errors ?? [] };
  }
  const hours = [{ from: '08:30', to: '12:00' }];

  it('a refused body: a Chinese summary, Chinese problems at their fields; the English answer unchanged', async () => {
    const err = await answer(admin, 'PUT', '/plant-c', { timeZone: 'Asia/Shanghia', hours: [{ from: '17:30', to: '08:30' }], holidays: ['2026-02-30'] });
    expect(err.status).toBe(400);
    expect(problemSummary('zh-CN', err)).toBe('提交的内容有误。');
    expect(problemSummary('en', err)).toBe(err.detail);
    expect(placedAt(placeProblems(localProblems('zh-CN', err.errors), { holidays: ['2026-02-30'], workdays: [] }))).toEqual({
      timeZone: '不是有效的时区，请从列表中选择，如 Asia/Shanghai',
      'hours.0.to': '时段 17:30–08:30 的结束时间必须晚于开始时间',
      holidays: '2026-02-30: 不是有效的日期，请写成 2026-10-01 这样的格式',
    });
    // a name the URL refuses: beside the name, in Chinese
    const named = await answer(admin, 'PUT', '/Plant_C', { hours });
    expect(named.status).toBe(400);
    expect(placedAt(placeProblems(localProblems('zh-CN', named.errors), { holidays: [], workdays: [] }))).toEqual({ name: '只能用小写字母、数字、“_”和“-”，并以字母开头' });
  });

  it('an unknown calendar, the default that cannot go, a non-administrator, a bad calculation: each said in Chinese', async () => {
    const missing = await answer(admin, 'GET', '/nope');
    expect(missing.status).toBe(404);
    expect(problemSummary('zh-CN', missing)).toBe('没有名为“nope”的日历，可能已被删除；请刷新页面后重试。');
    expect(problemSummary('en', missing)).toContain('There is no calendar "nope"');
    const gone = await answer(admin, 'DELETE', '/nope');
    expect(problemSummary('zh-CN', gone)).toBe('没有名为“nope”的日历，可能已被删除；请刷新页面后重试。');
    const dueMissing = await answer(admin, 'GET', `/nope/due?from=${encodeURIComponent('2026-10-08T09:00:00+08:00')}&minutes=60`);
    expect(problemSummary('zh-CN', dueMissing)).toBe('没有名为“nope”的日历，可能已被删除；请刷新页面后重试。');

    const plant = await answer(admin, 'DELETE', '/default');
    expect(plant.status).toBe(409);
    expect(problemSummary('zh-CN', plant)).toBe('工厂默认日历不能删除；可以修改它的工作时间或节假日。');

    const denied = await answer(operator, 'PUT', '/plant-c', { hours });
    expect(denied.status).toBe(403);
    expect(problemSummary('zh-CN', denied)).toBe('只有管理员可以管理工作日历。');

    const badQuery = await answer(admin, 'GET', '/default/due?from=yesterday&minutes=0');
    expect(badQuery.status).toBe(400);
    expect(localProblems('zh-CN', badQuery.errors)).toEqual(
      expect.arrayContaining([
        { path: 'querystring.from', message: '不是有效的时间' },
        { path: 'querystring.minutes', message: '必须大于 0' },
      ]),
    );

    // Mondays only, and every Monday for twenty years a holiday: saving it is refused (no working
    // time in the next 366 days, counted from the server's clock), a 422 that says why
    const mondays: string[] = [];
    for (let d = Date.UTC(2026, 0, 5); d < Date.UTC(2047, 0, 1); d += 7 * 86_400_000) mondays.push(new Date(d).toISOString().slice(0, 10));
    const day = (t: number) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date(t));
    const before = Date.now();
    const closed = await answer(admin, 'PUT', '/never', { timeZone: 'Asia/Shanghai', weekdays: [1], hours, holidays: mondays });
    const after = Date.now();
    expect(closed.status).toBe(422);
    expect(problemSummary('en', closed)).toMatch(/^Calendar "never" has no working time in the next 366 days \(\d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}\)/);
    const span = /\((\S+) to (\S+)\)/.exec(closed.detail!)!;
    expect([day(before), day(after)]).toContain(span[1]);
    expect([day(before + 366 * 86_400_000), day(after + 366 * 86_400_000)]).toContain(span[2]);
    expect(problemSummary('zh-CN', closed)).toBe(`日历“never”在未来 366 天内（${span[1]} 至 ${span[2]}）没有任何工作时间：这段时间里的工作日都设成了节假日。请删除部分节假日，或增加工作日、调休上班日后再保存。`);
    expect((await answer(admin, 'GET', '/never')).status).toBe(404);

    // one stored around that rule (before it, or straight into the table): no due time, a 422 that says why
    await t.ctx.db.query('insert into wf_calendars (name, definition, updated_at) values ($1, $2, now())', ['never', JSON.stringify({ weekdays: [1], hours, holidays: mondays, workdays: [] })]);
    const never = await answer(admin, 'GET', `/never/due?from=${encodeURIComponent('2026-01-05T09:00:00+08:00')}&minutes=60`);
    expect(never.status).toBe(422);
    expect(problemSummary('en', never)).toContain('no working time in the next twenty years');
    expect(problemSummary('zh-CN', never)).toBe('日历“never”在未来二十年内没有工作时间，无法计算到期时间；请检查工作日和节假日。');
  });
});
