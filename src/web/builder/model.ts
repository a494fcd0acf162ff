// Pure helpers over an app definition, used by the designers: field type catalog, new names,
// layout upkeep, and the mapping from server problem paths to the field or node they concern.
import {
  NAMING_PATTERN_RE,
  type AppDef,
  type EntityDef,
  type FieldDef,
  type FieldType,
  type FormLayout,
  type Label,
} from '../../shared/definition.ts';
import type { WorkflowDef } from '../../shared/workflow-definition.ts';

export interface FieldTypeInfo {
  type: FieldType;
  zh: string;
  en: string;
  group: 'basic' | 'number' | 'choice' | 'relation' | 'media' | 'computed';
}

export const FIELD_TYPE_INFO: FieldTypeInfo[] = [
  { type: 'text', zh: '单行文本', en: 'Text', group: 'basic' },
  { type: 'long_text', zh: '多行文本', en: 'Long text', group: 'basic' },
  { type: 'integer', zh: '整数', en: 'Integer', group: 'number' },
  { type: 'decimal', zh: '小数', en: 'Decimal', group: 'number' },
  { type: 'money', zh: '金额', en: 'Money', group: 'number' },
  { type: 'percent', zh: '百分比', en: 'Percent', group: 'number' },
  { type: 'date', zh: '日期', en: 'Date', group: 'basic' },
  { type: 'datetime', zh: '日期时间', en: 'Date & time', group: 'basic' },
  { type: 'duration', zh: '时长 (分钟)', en: 'Duration', group: 'number' },
  { type: 'boolean', zh: '是/否', en: 'Yes/No', group: 'choice' },
  { type: 'select', zh: '单选', en: 'Select', group: 'choice' },
  { type: 'multi_select', zh: '多选', en: 'Multi-select', group: 'choice' },
  { type: 'user', zh: '人员', en: 'Person', group: 'relation' },
  { type: 'department', zh: '部门', en: 'Department', group: 'relation' },
  { type: 'link', zh: '关联单据', en: 'Link', group: 'relation' },
  { type: 'erp_link', zh: 'ERP 主数据', en: 'ERP master data', group: 'relation' },
  { type: 'child_table', zh: '明细子表', en: 'Child table', group: 'relation' },
  { type: 'attachment', zh: '附件', en: 'Attachment', group: 'media' },
  { type: 'image', zh: '图片/拍照', en: 'Image / photo', group: 'media' },
  { type: 'signature', zh: '手写签名', en: 'Signature', group: 'media' },
  { type: 'qr_code', zh: '二维码', en: 'QR code', group: 'media' },
  { type: 'geolocation', zh: '定位', en: 'Location', group: 'media' },
  { type: 'formula', zh: '公式', en: 'Formula', group: 'computed' },
  { type: 'auto_number', zh: '自动编号', en: 'Auto number', group: 'computed' },
];
export const typeInfo = (t: FieldType): FieldTypeInfo => FIELD_TYPE_INFO.find((i) => i.type === t)!;

export const NUMERIC_TYPES: ReadonlySet<string> = new Set(['integer', 'decimal', 'money', 'percent', 'duration']);
export const TEXT_TYPES: ReadonlySet<string> = new Set(['text', 'long_text', 'qr_code']);
const NO_DEFAULT: ReadonlySet<string> = new Set(['child_table', 'formula', 'auto_number', 'attachment', 'image', 'signature', 'geolocation']);
const NO_UNIQUE: ReadonlySet<string> = new Set(['child_table', 'multi_select', 'boolean', 'long_text', 'attachment', 'image', 'signature', 'geolocation']);

/** Which properties the panel offers for a type (mirrors the server's checks). */
export function fieldCaps(t: FieldType) {
  return {
    unique: !NO_UNIQUE.has(t),
    default: !NO_DEFAULT.has(t),
    minMax: NUMERIC_TYPES.has(t) || t === 'date' || t === 'datetime',
    text: TEXT_TYPES.has(t),
    scale: t === 'decimal' || t === 'percent',
    options: t === 'select' || t === 'multi_select',
    target: t === 'link' || t === 'child_table' || t === 'erp_link',
    formula: t === 'formula',
    autoNumber: t === 'auto_number',
  };
}

export const IDENT = /^[a-z](?:[a-z0-9]|_(?!_))*$/;
export const isIdent = (s: string) => IDENT.test(s) && !s.endsWith('_');

export function uniqueName(base: string, taken: Iterable<string>): string {
  const set = new Set(taken);
  for (let i = 1; ; i++) {
    const n = `${base}_${i}`;
    if (!set.has(n)) return n;
  }
}

/** A new field of a type with what the server requires of it already filled in. */
export function newField(type: FieldType, entity: EntityDef, app: AppDef): FieldDef {
  const info = typeInfo(type);
  const name = uniqueName(type === 'auto_number' ? 'number' : type, entity.fields.map((f) => f.name));
  const f: FieldDef = { name, type, label: { zh: info.zh, en: info.en } };
  if (type === 'select' || type === 'multi_select') f.options = [{ value: 'a', label: { zh: '选项一', en: 'Option 1' } }, { value: 'b', label: { zh: '选项二', en: 'Option 2' } }];
  if (type === 'link') f.target = app.entities.find((e) => !e.child && e.name !== entity.name)?.name ?? app.entities.find((e) => !e.child)?.name ?? entity.name;
  if (type === 'child_table') f.target = app.entities.find((e) => e.child)?.name ?? '';
  if (type === 'erp_link') f.target = 'material';
  if (type === 'formula') f.formula = '1 + 1';
  if (type === 'auto_number') f.autoNumber = 'NO-{####}';
  return f;
}

export function defaultLayout(entity: EntityDef): FormLayout {
  return { kind: 'sections', groups: [{ id: 'main', title: { zh: '基本信息', en: 'General' }, columns: 2, fields: entity.fields.map((f) => f.name) }] };
}

/** Fields of the entity that no group places (shown after the groups). */
export function unplaced(entity: EntityDef): string[] {
  const placed = new Set((entity.layout?.groups ?? []).flatMap((g) => g.fields));
  return entity.fields.map((f) => f.name).filter((n) => !placed.has(n));
}

/** Drops names of fields that no longer exist (a deleted field leaves no hole in the layout). */
export function pruneLayout(entity: EntityDef): EntityDef {
  if (!entity.layout) return entity;
  const names = new Set(entity.fields.map((f) => f.name));
  return { ...entity, layout: { ...entity.layout, groups: entity.layout.groups.map((g) => ({ ...g, fields: g.fields.filter((n) => names.has(n)) })) } };
}

export function renameInLayout(layout: FormLayout | undefined, from: string, to: string): FormLayout | undefined {
  if (!layout) return layout;
  return { ...layout, groups: layout.groups.map((g) => ({ ...g, fields: g.fields.map((n) => (n === from ? to : n)) })) };
}

/** Removes empty optional values so the definition stays what a person would write by hand. */
export function clean<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === '' || v === null) continue;
    if (Array.isArray(v) && v.length === 0 && k !== 'fields' && k !== 'entities' && k !== 'approvers' && k !== 'groups') continue;
    out[k] = v;
  }
  return out as T;
}

export function cleanLabel(l: Label | undefined): Label | undefined {
  if (!l || !l.zh) return undefined;
  return l.en ? { zh: l.zh, en: l.en } : { zh: l.zh };
}

export function namingExample(pattern: string, now = new Date()): string | null {
  if (!NAMING_PATTERN_RE.test(pattern) || (pattern.match(/\{#+\}/g) ?? []).length !== 1) return null;
  const y = String(now.getFullYear());
  const m = String(now.getMonth() + 1).padStart(2, '0');
  const d = String(now.getDate()).padStart(2, '0');
  return pattern
    .replace('{YYYY}', y)
    .replace('{YY}', y.slice(2))
    .replace('{MM}', m)
    .replace('{DD}', d)
    .replace(/\{(#+)\}/, (_w, h: string) => '1'.padStart(h.length, '0'));
}

// ---------------------------------------------------------------------------------------------
// Problems from the server: `entities.<e>.fields.<f>.<prop>` and `workflows.<w>.nodes.<id>.<detail>`

export interface Problem {
  path: string;
  message: string;
}

export interface ProblemIndex {
  all: Problem[];
  /** `entity/field` → problems */
  fields: Map<string, Problem[]>;
  /** entity → problems on the entity itself (settings, permissions, layout, list view) */
  entities: Map<string, Problem[]>;
  /** `workflow/nodeId` → problems (branch problems are filed under their container and the branch id) */
  nodes: Map<string, Problem[]>;
  /** problems that fit no field or node */
  other: Problem[];
}

function push<K>(m: Map<K, Problem[]>, k: K, p: Problem) {
  const list = m.get(k);
  if (list) list.push(p);
  else m.set(k, [p]);
}

export function indexProblems(list: Problem[]): ProblemIndex {
  const idx: ProblemIndex = { all: list, fields: new Map(), entities: new Map(), nodes: new Map(), other: [] };
  for (const p of list) {
    const seg = p.path.split('.');
    if (seg[0] === 'entities' && seg[1]) {
      if (seg[2] === 'fields' && seg[3]) push(idx.fields, `${seg[1]}/${seg[3]}`, p);
      else push(idx.entities, seg[1], p);
    } else if (seg[0] === 'workflows' && seg[1]) {
      if (seg[2] === 'nodes' && seg[3]) {
        push(idx.nodes, `${seg[1]}/${seg[3]}`, p);
        if (seg[4] === 'branches' && seg[5]) push(idx.nodes, `${seg[1]}/${seg[5]}`, p);
      } else push(idx.nodes, `${seg[1]}/`, p);
    } else idx.other.push(p);
  }
  return idx;
}

export const workflowsOf = (app: AppDef): WorkflowDef[] => (app.workflows ?? []) as WorkflowDef[];
