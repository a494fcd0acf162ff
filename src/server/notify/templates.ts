// Message templates: a title and a markdown body per key (a notification kind, or any key an
// automation names) and language. Placeholders are `{{path.to.value}}` looked up in the event
// data — a lookup, never an evaluation: no code runs, a missing value renders as nothing.
// Built-in templates (below) cover the workflow's kinds and a generic message in zh-CN and
// English; a row in notify_templates overrides one (key, language).
import { z } from 'zod';
import type { Sql, Tx } from '../db/index.ts';
import type { Actor } from '../platform/context.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { badRequest, notFound } from '../platform/errors.ts';

export const LANGUAGES = ['zh-CN', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];
export const Language = z.enum(LANGUAGES);

export const TemplateKey = z.string().regex(/^[a-z][a-z0-9_.]{0,59}$/, 'lower-case letters, digits, _ and . (at most 60, starting with a letter), e.g. task or andon.escalated');

export interface Template {
  title: string;
  body: string;
}

export const BUILTIN: Record<string, Record<Language, Template>> = {
  task: {
    'zh-CN': { title: '【待办】{{title}}', body: '您有一项新的待办：**{{title}}**\n发起人：{{initiator}}\n请及时处理：{{link}}' },
    en: { title: '[To do] {{title}}', body: 'You have a new task: **{{title}}**\nStarted by: {{initiator}}\nPlease handle it: {{link}}' },
  },
  reminder: {
    'zh-CN': { title: '【催办】{{title}}', body: '待办 **{{title}}** 尚未处理，请尽快办理：{{link}}' },
    en: { title: '[Reminder] {{title}}', body: 'The task **{{title}}** is still waiting for you: {{link}}' },
  },
  escalation: {
    'zh-CN': { title: '【超时升级】{{title}}', body: '**{{title}}** 未在规定时间内处理，已按升级规则转交上一级处理：{{link}}' },
    en: { title: '[Escalated] {{title}}', body: '**{{title}}** was not handled in time and has been escalated to the next level: {{link}}' },
  },
  outcome: {
    'zh-CN': { title: '【审批结果】{{title}}：{{outcome}}', body: '您发起的 **{{title}}** 审批结果：{{outcome}}\n{{link}}' },
    en: { title: '[Result] {{title}}: {{outcome}}', body: 'The approval **{{title}}** you started was {{outcome}}.\n{{link}}' },
  },
  cc: {
    'zh-CN': { title: '【抄送】{{title}}', body: '**{{title}}** 抄送给您，供知悉：{{link}}' },
    en: { title: '[CC] {{title}}', body: '**{{title}}** was copied to you for information: {{link}}' },
  },
  returned: {
    'zh-CN': { title: '【退回】{{title}}', body: '**{{title}}** 已退回给您修改后重新提交：{{link}}' },
    en: { title: '[Returned] {{title}}', body: '**{{title}}** was returned to you; change it and submit again: {{link}}' },
  },
  message: {
    'zh-CN': { title: '{{title}}', body: '{{body}}' },
    en: { title: '{{title}}', body: '{{body}}' },
  },
  test: {
    'zh-CN': { title: '【测试】Trellis 通知渠道', body: '这是一条来自 Trellis 的测试消息（渠道：{{channel}}）。' },
    en: { title: '[Test] Trellis notification channel', body: 'This is a test message from Trellis (channel: {{channel}}).' },
  },
};

/** Words the workflow puts in notification bodies, shown in the reader's language as `{{outcome}}`. */
export const OUTCOME_WORDS: Record<string, Record<Language, string>> = {
  approved: { 'zh-CN': '已通过', en: 'approved' },
  rejected: { 'zh-CN': '已驳回', en: 'rejected' },
  withdrawn: { 'zh-CN': '已撤回', en: 'withdrawn' },
  cancelled: { 'zh-CN': '已取消', en: 'cancelled' },
};

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/;

/** Problems of a template text: placeholders that are not plain paths, unbalanced braces. */
export function templateProblems(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(PLACEHOLDER)) if (!PATH.test(m[1]!)) out.push(`"{{${m[1]}}}" is not a value path like {{title}} or {{record.line}}`);
  const rest = text.replace(PLACEHOLDER, '');
  if (rest.includes('{{') || rest.includes('}}')) out.push('unbalanced {{ or }}; write placeholders as {{path}}');
  return out;
}

function lookup(data: unknown, path: string): unknown {
  let cur: unknown = data;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Replaces each {{path}} by the value at that path (strings, numbers, booleans; anything else renders empty). */
export function render(text: string, data: Record<string, unknown>): string {
  return text.replace(PLACEHOLDER, (_m, p: string) => {
    if (!PATH.test(p)) return '';
    const v = lookup(data, p);
    return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
  });
}

/** Markdown → plain text for channels that show text only (email text part, text robots). */
export function plainText(md: string): string {
  return md
    .replace(/\*\*([^*]+)\*\*/g, '$1')
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '$1 ($2)')
    .replace(/^#+\s*/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

export interface TemplateRow {
  key: string;
  locale: Language;
  title: string;
  body: string;
  version: number;
  updated_at: Date;
  updated_by: string | null;
}

/** The template for (key, language): an override row, else the built-in one, else the generic message. */
export function pick(key: string, lang: Language, overrides: ReadonlyArray<Pick<TemplateRow, 'key' | 'locale' | 'title' | 'body'>>): Template {
  const o = overrides.find((t) => t.key === key && t.locale === lang);
  if (o) return { title: o.title, body: o.body };
  return (BUILTIN[key] ?? BUILTIN.message!)[lang];
}

// ---- CRUD ------------------------------------------------------------------------------------------

export const TemplatePut = z.strictObject({
  title: z.string().trim().min(1, 'a title').max(500),
  body: z.string().min(1, 'a body').max(10_000),
});
export type TemplatePut = z.infer<typeof TemplatePut>;

export interface TemplateView {
  key: string;
  locale: Language;
  title: string;
  body: string;
  builtin: boolean;
  overridden: boolean;
  version: number | null;
  updatedAt: string | null;
}

export async function listTemplates(sql: Sql): Promise<TemplateView[]> {
  const rows = (await sql.query<TemplateRow>('select * from notify_templates order by key, locale')).rows;
  const out: TemplateView[] = [];
  const keys = new Set([...Object.keys(BUILTIN), ...rows.map((r) => r.key)]);
  for (const key of [...keys].sort()) {
    for (const locale of LANGUAGES) {
      const row = rows.find((r) => r.key === key && r.locale === locale);
      const b = BUILTIN[key]?.[locale];
      if (!row && !b) continue;
      out.push({
        key,
        locale,
        title: row?.title ?? b!.title,
        body: row?.body ?? b!.body,
        builtin: Boolean(b),
        overridden: Boolean(row),
        version: row?.version ?? null,
        updatedAt: row ? new Date(row.updated_at).toISOString() : null,
      });
    }
  }
  return out;
}

export async function putTemplate(tx: Tx, actor: Actor, key: string, locale: Language, input: TemplatePut): Promise<TemplateView> {
  const problems = [...templateProblems(input.title).map((m) => ({ path: 'body.title', message: m })), ...templateProblems(input.body).map((m) => ({ path: 'body.body', message: m }))];
  if (problems.length) throw badRequest(`The template has placeholder problems: ${problems.map((p) => p.message).join('; ')}.`, problems);
  const r = await tx.query<TemplateRow>(
    `insert into notify_templates (key, locale, title, body, updated_by) values ($1, $2, $3, $4, $5)
     on conflict (key, locale) do update set title = excluded.title, body = excluded.body, version = notify_templates.version + 1,
       updated_at = now(), updated_by = excluded.updated_by
     returning *`,
    [key, locale, input.title, input.body, actor.principal.kind === 'system' ? null : actor.principal.userId],
  );
  const row = r.rows[0]!;
  await appendAudit(tx, actor, { action: 'notify.template.put', targetType: 'notify_template', targetId: `${key}/${locale}`, detail: { key, locale, version: row.version } });
  return { key, locale, title: row.title, body: row.body, builtin: Boolean(BUILTIN[key]), overridden: true, version: row.version, updatedAt: new Date(row.updated_at).toISOString() };
}

export async function deleteTemplate(tx: Tx, actor: Actor, key: string, locale: Language): Promise<void> {
  const r = await tx.query('delete from notify_templates where key = $1 and locale = $2', [key, locale]);
  if (!r.rowCount) throw notFound(`There is no saved template ${key} (${locale})${BUILTIN[key] ? '; the built-in one is in use already' : ''}.`);
  await appendAudit(tx, actor, { action: 'notify.template.delete', targetType: 'notify_template', targetId: `${key}/${locale}`, detail: { key, locale, builtinRestored: Boolean(BUILTIN[key]) } });
}
