// The calendars page's own strings (zh-CN first, English second), in its lazily loaded chunk.
import { useCallback } from 'react';
import { useI18n, type Locale } from '../i18n/index.tsx';
import type { ProblemField } from '../api.ts';

const S = {
  'title': ['工作日历', 'Business-hours calendars'],
  'intro': [
    '审批时限按“工作时间”计时时使用的日历：工作日、每天的工作时段、节假日和调休上班日。修改后对之后创建的计时生效，无需重新发布应用。',
    'The calendars approval deadlines use when they count business hours: working weekdays, working hours, public holidays and make-up working days (调休). Changes apply to timers created afterwards; no app needs publishing.',
  ],
  'forbidden': ['只有管理员可以管理工作日历。', 'Only administrators can manage business-hours calendars.'],
  'create': ['新建日历', 'New calendar'],
  'edit': ['编辑日历 {name}', 'Edit calendar {name}'],
  'editShort': ['编辑', 'Edit'],
  'empty': ['还没有日历', 'No calendars yet'],
  'builtIn': ['内置默认', 'Built-in default'],
  'plantDefault': ['工厂默认', 'Plant default'],
  'updated': ['更新于 {at}', 'Updated {at}'],
  'name': ['日历标识', 'Calendar name'],
  'nameHelp': ['小写字母开头，可含小写字母、数字、“_”和“-”；审批流程按此标识引用，保存后不能修改。', 'Starts with a lower-case letter; lower-case letters, digits, "_" and "-". Approval flows refer to it; it cannot change later.'],
  'nameInvalid': ['只能用小写字母、数字、“_”和“-”，并以字母开头', 'Lower-case letters, digits, "_" and "-", starting with a letter'],
  'nameTaken': ['已有同名日历，请换一个标识或编辑那个日历', 'A calendar with this name exists: choose another name or edit that one'],
  'labelZh': ['中文名称', 'Chinese name'],
  'labelEn': ['英文名称', 'English name'],
  'labelZhNeeded': ['填写英文名称时也请填写中文名称', 'Give a Chinese name as well when there is an English one'],
  'timeZone': ['时区', 'Time zone'],
  'weekdays': ['工作日', 'Working weekdays'],
  'hours': ['工作时段', 'Working hours'],
  'hoursHelp': ['24 小时制，如 08:30–12:00 和 13:00–17:30（午休不计）。', '24-hour clock, e.g. 08:30–12:00 and 13:00–17:30 (lunch break excluded).'],
  'from': ['开始', 'From'],
  'to': ['结束', 'To'],
  'periodFrom': ['时段 {n} 开始', 'Period {n} from'],
  'periodTo': ['时段 {n} 结束', 'Period {n} to'],
  'addPeriod': ['添加时段', 'Add a period'],
  'removePeriod': ['删除时段 {n}', 'Remove period {n}'],
  'holidays': ['节假日', 'Holidays'],
  'holidaysHelp': ['逢工作日也不上班的日期。输入 2026-10-01 后回车；连续假期可写 2026-10-01~2026-10-07。', 'Days off although their weekday is a working day. Type 2026-10-01 and press Enter; a run of days as 2026-10-01~2026-10-07.'],
  'workdays': ['调休上班日', 'Make-up working days (调休)'],
  'workdaysHelp': ['逢周末也上班的日期，写法同上。', 'Days worked although their weekday is not a working day; written as above.'],
  'dates': ['{n} 天', '{n} days'],
  'noDates': ['无', 'None'],
  'required': ['必填', 'Required'],
  'save': ['保存', 'Save'],
  'saved': ['日历 {name} 已保存', 'Calendar {name} saved'],
  'cancel': ['取消', 'Cancel'],
  'close': ['关闭', 'Close'],
  'delete': ['删除', 'Delete'],
  'deleteConfirm': ['删除日历 {name}？', 'Delete calendar {name}?'],
  'deleteHelp': ['仍引用它的审批节点将改按工厂默认日历计时。', 'Approval nodes that still name it count on the plant default calendar instead.'],
  'deleted': ['日历 {name} 已删除', 'Calendar {name} deleted'],
  'network': ['无法连接服务器，请检查网络后重试。', 'The server cannot be reached; check the network and try again.'],
  'fixFields': ['请按字段旁的提示修改后再保存。', 'Correct the fields as noted beside them, then save again.'],
  'preview': ['试算', 'Try it'],
  'previewTitle': ['试算到期时间：{name}', 'Due time on {name}'],
  'previewHelp': ['从开始时间起按此日历累计工作分钟，得出审批时限的到期时间（时间按日历时区 {tz}）。', 'Counts working minutes on this calendar from the start time to find when a deadline falls due (times in the calendar’s zone, {tz}).'],
  'previewStart': ['开始时间', 'Start time'],
  'previewMinutes': ['工作分钟数', 'Working minutes'],
  'previewRun': ['计算', 'Calculate'],
  'previewDue': ['到期时间', 'Due'],
  'previewWall': ['实际经过 {h}', '{h} on the clock'],
  'hoursMinutes': ['{h} 小时 {m} 分钟', '{h} h {m} min'],
  'minutesUnit': ['分钟', 'min'],
  'savedOnly': ['先保存再试算：试算使用已保存的日历。', 'Save first: the calculation uses the saved calendar.'],
} as const satisfies Record<string, readonly [string, string]>;

export type CalendarKey = keyof typeof S;
export type CT = (key: CalendarKey, vars?: Record<string, string | number>) => string;

export const WEEKDAY_NAMES: Record<Locale, readonly string[]> = {
  'zh-CN': ['周一', '周二', '周三', '周四', '周五', '周六', '周日'],
  en: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'],
};

export function calendarText(locale: Locale, key: CalendarKey, vars?: Record<string, string | number>): string {
  const text: string = S[key][locale === 'en' ? 1 : 0];
  return vars ? text.replace(/\{(\w+)\}/g, (whole, n: string) => (n in vars ? String(vars[n]) : whole)) : text;
}

// ---- the server's problems in the user's language ------------------------------------------------
// The API words its problems in English only (src/server/workflow/calendar.ts, the name rule in
// src/shared/workflow-definition.ts, zod's own limits, the problem's `detail`); as everywhere in the
// web app, the page owns what a person reads. English users read the server's words as they are;
// for zh-CN each message the calendars API gives is recognised here and said in Chinese. A message
// not recognised stays as the server wrote it. test/calendars-web.test.ts feeds the server's real
// schema and routes through these, so a reworded server message fails there instead of silently
// showing English to a Chinese user. The app designer says the calendar problems of an approval
// flow (a calendar it names that does not exist, at check and publish) with `problemText` too
// (src/web/builder/i18n.ts); test/builder-calendar-messages.test.ts asks the real server for them.

/** One message of the server (the whole message) and its Chinese; `$1` repeats what it captured. */
const PROBLEMS_ZH: ReadonlyArray<readonly [RegExp, string]> = [
  [/^an IANA time zone such as /, '不是有效的时区，请从列表中选择，如 Asia/Shanghai'],
  [/^a time of day like 08:30 /, '请用 24 小时制填写时间，如 08:30（24:00 表示当天结束）'],
  [/^a date like 2026-10-01$/, '不是有效的日期，请写成 2026-10-01 这样的格式'],
  [/^at least one working weekday$/, '请至少选择一个工作日'],
  [/^(?:1 is Monday|7 is Sunday)$/, '工作日只能是周一到周日（1–7）'],
  [/^a weekday is listed twice$/, '同一个工作日出现了两次'],
  [/^at least one working period$/, '请至少填写一个工作时段'],
  [/^a working period ends after it starts \((.+)\)$/, '时段 $1 的结束时间必须晚于开始时间'],
  [/^working periods overlap; /, '工作时段相互重叠，请分开填写，如 08:30–12:00 和 13:00–17:30'],
  [/^(\d{4}-\d{2}-\d{2}) is listed both as a holiday and as a make-up working day$/, '$1 同时填在节假日和调休上班日里，请只保留一处'],
  [/^a calendar name: /, S.nameInvalid[0]],
  [/^a Chinese label is required$/, '请填写中文名称'],
  // an approval flow naming a calendar there is none of (src/server/workflow/calendar-store.ts, calendarProblems)
  [/^unknown calendar "(.+?)": create it first /, '没有名为“$1”的工作日历：请先在“工作日历”页面新建它，或改用工厂默认日历'],
  // zod's own wording for limits and types
  [/^Too big: expected array to have <=(\d+) items?$/, '最多 $1 项'],
  [/^Too big: expected string to have <=(\d+) characters?$/, '最多 $1 个字符'],
  [/^Too small: expected string to have >=1 characters?$/, '必填'],
  [/^Too big: expected number to be <=(\d+)$/, '不能大于 $1'],
  [/^Too small: expected number to be >0$/, '必须大于 0'],
  [/^Invalid input: expected \w+, received undefined$/, '必填'],
  [/^Invalid input: expected int, received number$/, '必须是整数'],
  [/^Invalid input: expected number, received NaN$/, '必须是数字'],
  [/^Invalid input: expected (\w+), received (\w+)$/, '类型不对：应为 $1，收到的是 $2'],
  [/^Unrecognized keys?: (.+)$/, '无法识别的字段：$1'],
  [/^Invalid ISO datetime$/, '不是有效的时间'],
];

/** The whole answer's message (`detail`), by status; the fields' own problems come separately. */
const SUMMARIES_ZH: ReadonlyArray<readonly [number, RegExp, string]> = [
  [400, /^The request (?:body|params|querystring) is not valid/, '提交的内容有误。'],
  [401, /./, '登录已失效，请重新登录。'],
  [403, /only an administrator can change them/, S.forbidden[0]],
  [404, /^There is no calendar "(.+?)"\./, '没有名为“$1”的日历，可能已被删除；请刷新页面后重试。'],
  [409, /^The plant default calendar cannot be deleted/, '工厂默认日历不能删除；可以修改它的工作时间或节假日。'],
  [422, /^Calendar "(.+?)" has no working time in the next twenty years/, '日历“$1”在未来二十年内没有工作时间，无法计算到期时间；请检查工作日和节假日。'],
  [
    422,
    /^Calendar "(.+?)" has no working time in the next 366 days \((\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})\)/,
    '日历“$1”在未来 366 天内（$2 至 $3）没有任何工作时间：这段时间里的工作日都设成了节假日。请删除部分节假日，或增加工作日、调休上班日后再保存。',
  ],
];

const fill = (zh: string, m: RegExpExecArray) => zh.replace(/\$(\d)/g, (_w, n: string) => m[Number(n)] ?? '');

/** One of the server's field messages in the user's language. */
export function problemText(locale: Locale, message: string): string {
  if (locale === 'en') return message;
  for (const [re, zh] of PROBLEMS_ZH) {
    const m = re.exec(message);
    if (m) return fill(zh, m);
  }
  return message;
}

/** The server's problems with their messages in the user's language (paths unchanged). */
export function localProblems(locale: Locale, errors: readonly ProblemField[]): ProblemField[] {
  return errors.map((e) => ({ path: e.path, message: problemText(locale, e.message) }));
}

/** What a failed answer says as a whole (its `detail`, else its `title`), in the user's language. */
export function problemSummary(locale: Locale, err: { status: number; title: string; detail?: string | undefined }): string {
  const server = err.detail ?? err.title;
  if (locale === 'en') return server;
  for (const [status, re, zh] of SUMMARIES_ZH) {
    const m = err.status === status ? re.exec(server) : null;
    if (m) return fill(zh, m);
  }
  return `服务器返回错误（HTTP ${err.status}）：${server}`;
}

export function useCalendarI18n(): { ct: CT; locale: Locale; weekday: (iso: number) => string } {
  const { locale } = useI18n();
  const ct = useCallback<CT>((key, vars) => calendarText(locale, key, vars), [locale]);
  const weekday = useCallback((iso: number) => WEEKDAY_NAMES[locale === 'en' ? 'en' : 'zh-CN'][iso - 1] ?? String(iso), [locale]);
  return { ct, locale, weekday };
}
