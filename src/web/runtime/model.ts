// What the runtime screens need to know about a definition: labels in the chosen language, who
// may do what, visible-if / required-if on the client (the server decides in the end), defaults,
// how a value reads in a list, and the QR code format.
import type { AppDef, Cond, EntityDef, FieldDef, LabelText, Me, RecordJson } from '../api.ts';
import type { Locale } from '../i18n/index.tsx';

export const label = (l: LabelText | undefined | null, locale: Locale): string => (l ? (locale === 'en' && l.en ? l.en : l.zh) : '');

/** Field types that cannot be typed into (computed by the server). */
export const COMPUTED = new Set(['formula', 'auto_number']);
/** Field types that make poor list columns. */
export const NOT_IN_LIST = new Set(['child_table', 'signature', 'long_text', 'geolocation', 'attachment', 'image']);
/** Field types a list can be filtered on, with the operators offered. */
export const FILTER_OPS: Record<string, string[]> = {
  text: ['like', 'eq', 'ne', 'empty', 'not_empty'],
  long_text: ['like', 'empty', 'not_empty'],
  qr_code: ['eq', 'like'],
  erp_link: ['eq', 'like', 'empty'],
  auto_number: ['eq', 'like'],
  integer: ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'between', 'empty'],
  duration: ['gt', 'lt', 'between'],
  decimal: ['eq', 'gt', 'gte', 'lt', 'lte', 'between', 'empty'],
  money: ['eq', 'gt', 'gte', 'lt', 'lte', 'between', 'empty'],
  percent: ['eq', 'gt', 'lt', 'between'],
  date: ['eq', 'gte', 'lte', 'between', 'empty'],
  datetime: ['gte', 'lte', 'between'],
  boolean: ['eq'],
  select: ['eq', 'ne', 'in', 'empty'],
  multi_select: ['in', 'empty', 'not_empty'],
  user: ['eq', 'ne', 'empty'],
  department: ['eq', 'ne', 'empty'],
  link: ['eq', 'empty'],
};

export function findEntity(app: AppDef, name: string): EntityDef | undefined {
  return app.entities.find((e) => e.name === name);
}

/** Whether the signed-in person may `action` the entity at all (row scopes are the server's). */
export function canDo(entity: EntityDef, me: Me, action: string): boolean {
  if (me.roles.includes('admin')) return true;
  return (entity.permissions ?? []).some((p) => (p.role === '*' || me.roles.includes(p.role)) && p.actions.includes(action));
}

/** Field rights from the permission rows that apply: the most generous wins. */
export function fieldRights(entity: EntityDef, me: Me): Record<string, 'read' | 'write' | 'hidden'> {
  if (me.roles.includes('admin')) return {};
  // The server's rule (records/query/permissions.ts): per matching permission, a field's right is
  // its entry in `fields`, else write when the permission grants create or write, else read; a
  // permission that grants neither never gives write. The most permissive permission wins.
  const rank = { hidden: 0, read: 1, write: 2 } as const;
  const out: Record<string, 'read' | 'write' | 'hidden'> = {};
  const rows = (entity.permissions ?? []).filter((p) => p.role === '*' || me.roles.includes(p.role));
  for (const f of entity.fields) {
    let best: 'read' | 'write' | 'hidden' = 'hidden';
    for (const p of rows) {
      const grantsWrite = p.actions.includes('write') || p.actions.includes('create');
      let r = p.fields?.[f.name] ?? (grantsWrite ? 'write' : 'read');
      if (r === 'write' && !grantsWrite) r = 'read';
      if (rank[r] > rank[best]) best = r;
    }
    if (best !== 'write') out[f.name] = best;
  }
  return out;
}

function todayLocal(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function resolve(v: unknown, me: Me): unknown {
  if (v && typeof v === 'object' && '$ctx' in v) {
    const c = (v as { $ctx: string }).$ctx;
    if (c === 'user') return me.id;
    if (c === 'user_departments') return me.departments.map((d) => d.id);
    if (c === 'today') return todayLocal();
    if (c === 'now') return new Date().toISOString();
  }
  return v;
}

const isEmpty = (v: unknown) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);

function cmp(a: unknown, b: unknown): number {
  const na = Number(a);
  const nb = Number(b);
  if (typeof a !== 'boolean' && a !== '' && b !== '' && !Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  return String(a).localeCompare(String(b));
}

/** Evaluates a condition over the form's values (the condition language of the server, in small). */
export function evalCond(c: Cond | undefined, values: Record<string, unknown>, me: Me): boolean {
  if (!c) return true;
  if ('and' in c) return c.and.every((x) => evalCond(x, values, me));
  if ('or' in c) return c.or.some((x) => evalCond(x, values, me));
  if ('not' in c) return !evalCond(c.not, values, me);
  const v = values[c.field];
  const want = resolve(c.value, me);
  switch (c.op) {
    case 'empty':
      return isEmpty(v);
    case 'not_empty':
      return !isEmpty(v);
    case 'eq':
      return Array.isArray(want) ? want.includes(v) : !isEmpty(v) && cmp(v, want) === 0;
    case 'ne':
      return isEmpty(v) || cmp(v, want) !== 0;
    case 'lt':
      return !isEmpty(v) && cmp(v, want) < 0;
    case 'lte':
      return !isEmpty(v) && cmp(v, want) <= 0;
    case 'gt':
      return !isEmpty(v) && cmp(v, want) > 0;
    case 'gte':
      return !isEmpty(v) && cmp(v, want) >= 0;
    case 'like':
      return typeof v === 'string' && v.toLowerCase().includes(String(want ?? '').toLowerCase());
    case 'in':
      return Array.isArray(want) && (Array.isArray(v) ? v.some((x) => want.includes(x)) : want.includes(v));
    case 'nin':
      return !Array.isArray(want) || !(Array.isArray(v) ? v.some((x) => want.includes(x)) : want.includes(v));
    case 'between':
      return Array.isArray(want) && !isEmpty(v) && cmp(v, want[0]) >= 0 && cmp(v, want[1]) <= 0;
    default:
      return true;
  }
}

/** The value a new record starts with (the server fills the same defaults if we leave them out). */
export function defaultValue(f: FieldDef, me: Me): unknown {
  if (f.default === undefined) return undefined;
  const v = resolve(f.default, me);
  if (f.type === 'department' && Array.isArray(v)) return v[0];
  if (f.type === 'datetime' && typeof v === 'string' && v.length === 10) return undefined;
  return v;
}

/** Whether a field is locked because the document is submitted. */
export function lockedBy(f: FieldDef, rec: RecordJson | undefined, entity: EntityDef): boolean {
  if (!rec) return false;
  if (rec.status === 'cancelled') return true;
  if (rec.status === 'submitted') return Boolean(entity.submittable) || Boolean(f.readOnlyAfterSubmit);
  return false;
}

/** A client-side check mirroring the server's rules, worded for a person. Null when fine. */
export function checkValue(f: FieldDef, v: unknown, required: boolean, t: (k: 'form.required' | 'form.min' | 'form.max' | 'form.pattern' | 'form.maxLength', vars?: Record<string, string | number>) => string): string | null {
  if (isEmpty(v)) return required ? t('form.required') : null;
  if (['integer', 'decimal', 'money', 'percent', 'duration'].includes(f.type)) {
    if (f.min !== undefined && cmp(v, f.min) < 0) return t('form.min', { min: f.min });
    if (f.max !== undefined && cmp(v, f.max) > 0) return t('form.max', { max: f.max });
  }
  if (typeof v === 'string' && ['text', 'long_text', 'qr_code', 'erp_link'].includes(f.type)) {
    if (f.maxLength !== undefined && v.length > f.maxLength) return t('form.maxLength', { max: f.maxLength });
    if (f.pattern) {
      try {
        if (!new RegExp(f.pattern).test(v)) return t('form.pattern');
      } catch {
        /* the server checks patterns the browser cannot compile */
      }
    }
  }
  return null;
}

export function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h}:${String(m).padStart(2, '0')}${s ? `:${String(s).padStart(2, '0')}` : ''}`;
}

/** Parses `h:mm[:ss]` or a plain number of minutes into seconds. */
export function parseDuration(text: string): number | null {
  const t = text.trim();
  if (!t) return null;
  const m = /^(\d+):([0-5]?\d)(?::([0-5]?\d))?$/.exec(t);
  if (m) return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0);
  if (/^\d+$/.test(t)) return Number(t) * 60;
  return NaN;
}

// One formatter per language: toLocaleString builds a new Intl.DateTimeFormat on every call, which
// cost about a millisecond per inbox row (decision 0014).
const dateTimeFormats = new Map<Locale, Intl.DateTimeFormat>();

export function formatDateTime(iso: string, locale: Locale): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  let format = dateTimeFormats.get(locale);
  if (!format) {
    format = new Intl.DateTimeFormat(locale === 'en' ? 'en-GB' : 'zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
    dateTimeFormats.set(locale, format);
  }
  return format.format(d);
}

/**
 * QR content format: the record's own address, `<origin>/a/<app>/<entity>/<id>` (a new form:
 * `/a/<app>/<entity>/new`, optionally `?field=value` to prefill). A phone's own camera app opens
 * it directly; the scan page accepts it from any host, plus the short form `trellis:/a/…`.
 * Returns the path to open in this app, or null for anything else.
 */
export function qrTarget(text: string): string | null {
  const s = text.trim();
  let path: string;
  if (s.startsWith('trellis:')) path = s.slice('trellis:'.length);
  else if (s.startsWith('/')) path = s;
  else {
    try {
      const u = new URL(s);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
      path = u.pathname + u.search;
    } catch {
      return null;
    }
  }
  if (!path.startsWith('/')) path = `/${path}`;
  return /^\/a\/[a-z][a-z0-9_]*\/[a-z][a-z0-9_]*\/(new|[0-9a-fA-F-]{36})(\?[^#]*)?$/.test(path) ? path : null;
}

export function recordLink(app: string, entity: string, id: string): string {
  return `/a/${app}/${entity}/${id}`;
}

/**
 * While a document is a draft its form is the first step of its approval: fields the entity's
 * workflow marks hidden at the initiator node are not shown (an operator reporting on a phone
 * does not scroll past the later stages' empty fields), read-only ones are not editable. The
 * server keeps its own rights; this only narrows what the form offers.
 */
export function initiatorStepRights(app: AppDef, entity: string, rights: Record<string, 'read' | 'write' | 'hidden'>): Record<string, 'read' | 'write' | 'hidden'> {
  type Wf = { entity?: unknown; root?: { fields?: Record<string, string> } };
  const wf = ((app.workflows ?? []) as Wf[]).find((w) => w && typeof w === 'object' && w.entity === entity);
  const fields = wf?.root?.fields;
  if (!fields) return rights;
  const out = { ...rights };
  for (const [name, access] of Object.entries(fields)) {
    if (access === 'hidden') out[name] = 'hidden';
    else if (access === 'read_only' && out[name] !== 'hidden') out[name] = 'read';
  }
  return out;
}
