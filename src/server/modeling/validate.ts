// validateApp: the shape check (zod) and every cross-reference check a definition needs before it
// may be published. Problems come back with paths made of NAMES (`entities.ecn.fields.qty.type`),
// never array indexes, and with messages that say what is allowed.
import { checkWorkflow } from '../../shared/workflow-definition.ts';
import { checkDashboards } from '../../shared/dashboard-definition.ts';
import type { z } from 'zod';
import {
  ACTIONS,
  AppDef,
  EntityDef,
  ERP_MASTER_KINDS,
  FieldDef,
  NAMING_PATTERN_RE,
  PermissionDef,
  RESERVED_WORDS,
  SelectOption,
  SYSTEM_COLUMNS,
  type AppDef as AppDefT,
  type EntityDef as EntityDefT,
  type FieldDef as FieldDefT,
} from '../../shared/definition.ts';
import type { ProblemField } from '../platform/errors.ts';
import { checkCondition, defaultProblem, isValidDate, type Push } from './conditions.ts';
import { analyseFormula, findCycle } from './formulas.ts';

export type ValidationResult = { ok: true; app: AppDefT } | { ok: false; errors: ProblemField[] };

/** Role codes: like identifiers, or `*` for every signed-in user. */
export const ROLE_CODE_RE = /^[a-z][a-z0-9_]{0,59}$/;
const MAX_ERRORS = 200;

export function validateApp(input: unknown): ValidationResult {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, errors: [{ path: '(root)', message: 'an app definition must be an object with name, label and entities' }] };
  }
  const parsed = AppDef.safeParse(input);
  if (!parsed.success) return { ok: false, errors: dedupeErrors(translateIssues(input, parsed.error.issues, [])).slice(0, MAX_ERRORS) };
  const errors = [...semanticErrors(parsed.data), ...workflowErrors(parsed.data), ...checkDashboards(parsed.data.dashboards, parsed.data).problems];
  return errors.length ? { ok: false, errors: dedupeErrors(errors).slice(0, MAX_ERRORS) } : { ok: true, app: parsed.data };
}

/** Approval trees travel with the app: a broken tree is refused at publish, not at the first submit. */
function workflowErrors(app: AppDef): ProblemField[] {
  const out: ProblemField[] = [];
  const names = new Set<string>();
  for (const wf of app.workflows ?? []) {
    const target = (wf as { entity?: unknown })?.entity;
    const name = (wf as { name?: unknown })?.name;
    const entity = typeof target === 'string' ? app.entities.find((e) => e.name === target) : undefined;
    if (typeof name === 'string') {
      if (names.has(name)) out.push({ path: `workflows.${name}.name`, message: `workflow name "${name}" is used more than once` });
      names.add(name);
    }
    if (typeof target === 'string' && !entity) {
      out.push({ path: `workflows.${String(name)}.entity`, message: `no entity "${target}" in this app; attach the workflow to one of: ${app.entities.map((e) => e.name).join(', ')}` });
      continue;
    }
    out.push(...checkWorkflow(wf, entity, app.entities).problems);
  }
  return out;
}

function dedupeErrors(list: ProblemField[]): ProblemField[] {
  const seen = new Set<string>();
  return list.filter((e) => {
    const k = `${e.path}\n${e.message}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
}

// ---------------------------------------------------------------------------------------------
// zod issues → named paths

type Issue = z.core.$ZodIssue;

/** Arrays whose elements are named by one of their properties. */
const ELEMENT_KEY: Record<string, string> = { entities: 'name', fields: 'name', options: 'value', permissions: 'role', groups: 'id' };

function get(obj: unknown, key: PropertyKey): unknown {
  if (obj === null || typeof obj !== 'object') return undefined;
  return (obj as Record<PropertyKey, unknown>)[key];
}

/** Turns a zod path into a dotted path that uses names for entities, fields, options and roles. */
export function namedPath(input: unknown, path: ReadonlyArray<PropertyKey>): string {
  const out: string[] = [];
  let here: unknown = input;
  let parentKey: PropertyKey | undefined;
  for (const seg of path) {
    if (typeof seg === 'number' && Array.isArray(here)) {
      const elem = here[seg];
      const nameKey = typeof parentKey === 'string' ? ELEMENT_KEY[parentKey] : undefined;
      const name = nameKey ? get(elem, nameKey) : undefined;
      out.push(typeof name === 'string' && name !== '' ? name : String(seg));
      here = elem;
    } else {
      out.push(String(seg));
      here = get(here, seg);
    }
    parentKey = seg;
  }
  return out.join('.') || '(root)';
}

/** Allowed properties of the object at a path, for "unknown property" messages. */
function allowedKeys(path: ReadonlyArray<PropertyKey>): string[] | null {
  const shapeOf = (s: unknown) => Object.keys((s as { shape?: Record<string, unknown> }).shape ?? {});
  const last = path[path.length - 1];
  const container = typeof last === 'number' ? path[path.length - 2] : last;
  if (path.length === 0) return shapeOf(AppDef);
  if (typeof last === 'number') {
    if (container === 'entities') return shapeOf(EntityDef);
    if (container === 'fields') return shapeOf(FieldDef);
    if (container === 'permissions') return shapeOf(PermissionDef);
    if (container === 'options') return shapeOf(SelectOption);
  }
  if (last === 'label' || last === 'help') return ['zh', 'en'];
  if (last === 'listView') return ['columns', 'sort'];
  if (last === 'sort') return ['field', 'dir'];
  return null;
}

function conditionBranch(value: unknown): number | null {
  if (value === null || typeof value !== 'object') return null;
  if ('and' in value) return 0;
  if ('or' in value) return 1;
  if ('not' in value) return 2;
  if ('field' in value || 'op' in value) return 3;
  return null;
}

function translateIssues(input: unknown, issues: readonly Issue[], prefix: PropertyKey[]): ProblemField[] {
  const out: ProblemField[] = [];
  for (const issue of issues) {
    const full = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeys(full);
      for (const key of issue.keys) {
        out.push({
          path: namedPath(input, [...full, key]),
          message: `unknown property "${key}"${allowed ? `; allowed here: ${allowed.join(', ')}` : ''}`,
        });
      }
      continue;
    }
    if (issue.code === 'invalid_union') {
      const value = full.reduce<unknown>((o, k) => get(o, k), input);
      const branches = issue.errors;
      // Conditions: pick the branch the author meant from the keys present.
      let pick = branches.length === 4 ? conditionBranch(value) : null;
      if (pick === null && branches.length === 4 && value !== null && typeof value === 'object') {
        out.push({ path: namedPath(input, full), message: 'a condition is {"field", "op", "value"}, {"and": [...]}, {"or": [...]} or {"not": {...}}' });
        continue;
      }
      if (pick === null) {
        // Otherwise the branch that got furthest into the value (its issues have the deepest paths).
        let best = -1;
        branches.forEach((b, i) => {
          const depth = Math.max(0, ...b.map((x) => x.path.length));
          if (depth > best) {
            best = depth;
            pick = i;
          }
        });
        if (best === 0) {
          out.push({ path: namedPath(input, full), message: branches.flat().map((x) => x.message).filter((m, i, a) => a.indexOf(m) === i).join(' or ') || 'invalid value' });
          continue;
        }
      }
      out.push(...translateIssues(input, branches[pick!] ?? [], full));
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && get(issue, 'input') === undefined) message = 'is required';
    out.push({ path: namedPath(input, full), message });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// semantic checks

const TEXTISH = new Set(['text', 'long_text', 'qr_code']);
const NUMERIC = new Set(['integer', 'decimal', 'money', 'percent', 'duration']);
const JSON_TYPES = new Set(['attachment', 'image', 'signature', 'geolocation']);
const NO_UNIQUE = new Set(['child_table', 'multi_select', 'boolean', 'long_text', ...JSON_TYPES]);
const NO_DEFAULT = new Set(['child_table', 'formula', 'auto_number', ...JSON_TYPES]);
const SYSTEM_SET: ReadonlySet<string> = new Set(SYSTEM_COLUMNS);
/** A regex that repeats a group that itself repeats (`(a+)+`) can take exponential time. */
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]/;

export function checkNamingPattern(pattern: string): string | null {
  if (!NAMING_PATTERN_RE.test(pattern)) {
    return `"${pattern}" is not a valid pattern: use {YYYY} {YY} {MM} {DD}, one counter {###} with 3 to 10 "#", and the literal characters A-Z 0-9 - _ / (e.g. "VR-{YYYY}-{####}")`;
  }
  const counters = pattern.match(/\{#+\}/g) ?? [];
  if (counters.length !== 1) return `"${pattern}" needs exactly one counter like {####} (it has ${counters.length})`;
  return null;
}

function numOf(v: number | string | undefined): number | null {
  if (v === undefined) return null;
  const n = typeof v === 'number' ? v : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) ? n : NaN;
}

function checkField(app: AppDefT, e: EntityDefT, f: FieldDefT, base: string, push: Push): void {
  const only = (prop: keyof FieldDefT, allowed: string[], what: string) => {
    if (f[prop] !== undefined && !allowed.includes(f.type)) push(`${base}.${prop}`, `"${prop}" is only for ${what} fields, not ${f.type}`);
  };
  if (SYSTEM_SET.has(f.name)) {
    push(`${base}.name`, `"${f.name}" is a system column every entity has (${SYSTEM_COLUMNS.join(', ')}); choose another name`);
  } else if (RESERVED_WORDS.has(f.name)) {
    push(`${base}.name`, `"${f.name}" is a reserved word in SQL or formulas; choose another name, e.g. "${f.name}_no" or "${e.name}_${f.name}"`);
  }
  if (f.renamedFrom === f.name) push(`${base}.renamedFrom`, 'must be the previous name, not the current one');

  only('options', ['select', 'multi_select'], 'select and multi_select');
  only('scale', ['decimal', 'percent', 'formula'], 'decimal and percent');
  only('formula', ['formula'], 'formula');
  only('resultType', ['formula'], 'formula');
  only('autoNumber', ['auto_number'], 'auto_number');
  only('maxLength', [...TEXTISH], 'text, long_text and qr_code');
  only('pattern', [...TEXTISH], 'text, long_text and qr_code');
  only('target', ['link', 'child_table', 'erp_link'], 'link, child_table and erp_link');
  only('min', [...NUMERIC, 'date', 'datetime', 'formula'], 'number and date');
  only('max', [...NUMERIC, 'date', 'datetime', 'formula'], 'number and date');
  if (f.type === 'formula' && f.scale !== undefined && f.resultType !== 'decimal') push(`${base}.scale`, 'a formula has a scale only when its resultType is decimal');

  if (f.type === 'select' || f.type === 'multi_select') {
    if (!f.options || f.options.length === 0) push(`${base}.options`, `a ${f.type} field needs at least one option ({value, label: {zh}})`);
    const seen = new Set<string>();
    for (const o of f.options ?? []) {
      if (seen.has(o.value)) push(`${base}.options.${o.value}`, `duplicate option value "${o.value}"; each option needs its own value`);
      seen.add(o.value);
    }
  }
  if (f.type === 'link') {
    const t = app.entities.find((x) => x.name === f.target);
    if (!f.target) push(`${base}.target`, `a link field needs a target: one of the app's entities (${app.entities.filter((x) => !x.child).map((x) => x.name).join(', ')})`);
    else if (!t) push(`${base}.target`, `"${f.target}" is not an entity of this app; link targets: ${app.entities.filter((x) => !x.child).map((x) => x.name).join(', ')}`);
    else if (t.child) push(`${base}.target`, `"${f.target}" is a child entity: its rows live inside their parent and cannot be linked to`);
  }
  if (f.type === 'child_table') {
    const t = app.entities.find((x) => x.name === f.target);
    const children = app.entities.filter((x) => x.child).map((x) => x.name);
    if (e.child) push(`${base}.type`, 'a child entity cannot hold a child table (line items have one level)');
    if (!f.target) push(`${base}.target`, `a child_table field needs a target: an entity with "child: true" (${children.join(', ') || 'none defined yet'})`);
    else if (!t) push(`${base}.target`, `"${f.target}" is not an entity of this app; child entities: ${children.join(', ') || 'none defined yet'}`);
    else if (!t.child) push(`${base}.target`, `"${f.target}" is not a child entity: set "child: true" on it, or link to it with a link field instead`);
  }
  if (f.type === 'erp_link' && !(ERP_MASTER_KINDS as readonly string[]).includes(f.target ?? '')) {
    push(`${base}.target`, `an ERP link needs a target among: ${ERP_MASTER_KINDS.join(', ')}`);
  }
  if (f.type === 'money' && f.scale !== undefined && f.scale !== 2) push(`${base}.scale`, 'money always has 2 digits after the point; use a decimal field for another scale');
  if (f.type === 'auto_number') {
    if (!f.autoNumber) push(`${base}.autoNumber`, 'an auto_number field needs a pattern, e.g. "EQ-{####}"');
    else {
      const p = checkNamingPattern(f.autoNumber);
      if (p) push(`${base}.autoNumber`, p);
    }
  }
  if (f.type === 'formula' && !f.formula) push(`${base}.formula`, 'a formula field needs a JSONata expression, e.g. "qty * unit_price"');

  if (f.pattern !== undefined) {
    if (f.pattern.length > 200) push(`${base}.pattern`, 'must be at most 200 characters');
    else if (NESTED_QUANTIFIER.test(f.pattern)) push(`${base}.pattern`, 'repeats a group that itself repeats (like "(a+)+"), which can make checking a value take forever; simplify it');
    else {
      try {
        new RegExp(f.pattern, 'u');
      } catch (err) {
        push(`${base}.pattern`, `is not a valid regular expression: ${(err as Error).message}`);
      }
    }
  }

  const lo = f.min;
  const hi = f.max;
  const isDate = f.type === 'date' || f.type === 'datetime' || (f.type === 'formula' && (f.resultType === 'date' || f.resultType === 'datetime'));
  for (const [k, v] of [['min', lo], ['max', hi]] as const) {
    if (v === undefined) continue;
    if (isDate ? !(typeof v === 'string' && (isValidDate(v.slice(0, 10)))) : Number.isNaN(numOf(v))) {
      push(`${base}.${k}`, isDate ? 'must be a date like "2026-01-01"' : 'must be a number');
    }
  }
  if (lo !== undefined && hi !== undefined) {
    const bad = isDate ? String(lo) > String(hi) : (numOf(lo) ?? 0) > (numOf(hi) ?? 0);
    if (bad) push(`${base}.min`, `min (${lo}) is greater than max (${hi})`);
  }

  if (f.unique && NO_UNIQUE.has(f.type)) push(`${base}.unique`, `a ${f.type} field cannot be unique`);
  if (f.default !== undefined) {
    if (NO_DEFAULT.has(f.type)) push(`${base}.default`, `a ${f.type} field cannot have a default`);
    else {
      const p = defaultProblem(f);
      if (p) push(`${base}.default`, p);
      else if (NUMERIC.has(f.type) && typeof f.default !== 'object') {
        const d = numOf(f.default as number | string);
        if (d !== null && !Number.isNaN(d) && ((lo !== undefined && d < (numOf(lo) ?? d)) || (hi !== undefined && d > (numOf(hi) ?? d)))) {
          push(`${base}.default`, `is outside min/max (${lo ?? '…'} to ${hi ?? '…'})`);
        }
      }
    }
  }
  if (f.visibleIf) checkCondition(app, e, f.visibleIf, `${base}.visibleIf`, push);
  if (f.requiredIf) checkCondition(app, e, f.requiredIf, `${base}.requiredIf`, push);
}

function semanticErrors(app: AppDefT): ProblemField[] {
  const errors: ProblemField[] = [];
  const push: Push = (path, message) => {
    if (errors.length < MAX_ERRORS) errors.push({ path, message });
  };

  const entityNames = new Set<string>();
  for (const e of app.entities) {
    if (entityNames.has(e.name)) push(`entities.${e.name}.name`, `duplicate entity name "${e.name}"; each entity needs its own name`);
    entityNames.add(e.name);
  }
  checkRenames(app.entities, 'entities', 'entity', push);

  for (const e of app.entities) {
    const eb = `entities.${e.name}`;
    const fieldNames = new Set<string>();
    for (const f of e.fields) {
      if (fieldNames.has(f.name)) push(`${eb}.fields.${f.name}.name`, `duplicate field name "${f.name}" in entity "${e.name}"; each field needs its own name`);
      fieldNames.add(f.name);
    }
    checkRenames(e.fields, `${eb}.fields`, 'field', push);
    for (const f of e.fields) checkField(app, e, f, `${eb}.fields.${f.name}`, push);

    const known = (n: string) => fieldNames.has(n) || SYSTEM_SET.has(n);
    if (e.titleField !== undefined && !known(e.titleField)) push(`${eb}.titleField`, `"${e.titleField}" is not a field of "${e.name}"; fields: ${[...fieldNames].join(', ')}`);
    e.listView?.columns?.forEach((c, i) => {
      if (!known(c)) push(`${eb}.listView.columns.${i}`, `"${c}" is not a field of "${e.name}"; fields: ${[...fieldNames].join(', ')}`);
    });
    if (e.listView?.sort && !known(e.listView.sort.field)) push(`${eb}.listView.sort.field`, `"${e.listView.sort.field}" is not a field of "${e.name}"`);
    if (e.namingSeries !== undefined) {
      const p = checkNamingPattern(e.namingSeries);
      if (p) push(`${eb}.namingSeries`, p);
    }
    if (e.layout) checkLayout(e, eb, push);
    if (e.child && e.submittable) push(`${eb}.submittable`, 'a child entity is submitted with its parent; remove "submittable"');
    if (e.child && e.permissions?.length) push(`${eb}.permissions`, 'child rows follow the permissions of their parent; remove "permissions" here');

    const roles = new Set<string>();
    for (const p of e.permissions ?? []) {
      const pb = `${eb}.permissions.${p.role}`;
      if (p.role !== '*' && !ROLE_CODE_RE.test(p.role)) {
        push(`${pb}.role`, `"${p.role}" is not a role code: use lower-case letters, digits and "_" (e.g. "quality_engineer"), or "*" for every signed-in user`);
      }
      if (roles.has(p.role)) push(`${pb}.role`, `role "${p.role}" has two permission entries; merge them into one`);
      roles.add(p.role);
      const bad = p.actions.filter((a) => !(ACTIONS as readonly string[]).includes(a));
      if (bad.length) push(`${pb}.actions`, `unknown actions ${bad.join(', ')}; allowed: ${ACTIONS.join(', ')}`);
      if ((p.actions.includes('submit') || p.actions.includes('cancel')) && !e.submittable) {
        push(`${pb}.actions`, `"submit" and "cancel" need a submittable entity; set "submittable: true" on "${e.name}" or remove them`);
      }
      if (p.scope && typeof p.scope === 'object') checkCondition(app, e, p.scope.filter, `${pb}.scope.filter`, push);
      for (const name of Object.keys(p.fields ?? {})) {
        if (!known(name)) push(`${pb}.fields.${name}`, `"${name}" is not a field of "${e.name}"; fields: ${[...fieldNames].join(', ')}`);
      }
    }

    // Formulas: parse, references, cycles.
    const graph = new Map<string, Set<string>>();
    for (const f of e.fields) {
      if (f.type !== 'formula' || !f.formula) continue;
      const a = analyseFormula(app, e, f.formula);
      for (const p of a.problems) push(`${eb}.fields.${f.name}.formula`, p);
      graph.set(f.name, a.deps);
    }
    const cycle = findCycle(graph);
    if (cycle) {
      push(`${eb}.fields.${cycle[0]}.formula`, `formulas depend on each other in a circle: ${cycle.join(' → ')}; one of them must not use the others`);
    }
  }

  // Required links that form a circle: no record of any of these entities could be created first.
  const linkGraph = new Map<string, Set<string>>();
  const linkField = new Map<string, string>();
  for (const e of app.entities) {
    const out = new Set<string>();
    for (const f of e.fields) {
      if (f.type === 'link' && f.required && !f.requiredIf && f.target && entityNames.has(f.target)) {
        out.add(f.target);
        linkField.set(`${e.name}>${f.target}`, f.name);
      }
    }
    linkGraph.set(e.name, out);
  }
  const linkCycle = findCycle(linkGraph);
  if (linkCycle) {
    const [a, b] = linkCycle;
    const field = linkField.get(`${a}>${b}`);
    const steps = linkCycle.slice(0, -1).map((n, i) => `${n}.${linkField.get(`${n}>${linkCycle[i + 1]}`)}`);
    push(`entities.${a}.fields.${field}.required`, `required links form a circle (${steps.join(' → ')} → ${linkCycle[0]}): no record could ever be created first; make one of these links optional`);
  }
  return errors;
}

/** A form layout names each field of its entity at most once, and only fields of that entity. */
function checkLayout(e: EntityDefT, eb: string, push: Push): void {
  const names = new Set(e.fields.map((f) => f.name));
  const placed = new Map<string, string>();
  const groupIds = new Set<string>();
  for (const g of e.layout?.groups ?? []) {
    const gb = `${eb}.layout.groups.${g.id}`;
    if (groupIds.has(g.id)) push(`${gb}.id`, `group id "${g.id}" is used more than once; each group needs its own id`);
    groupIds.add(g.id);
    for (const f of g.fields) {
      if (!names.has(f)) push(`${gb}.fields.${f}`, `"${f}" is not a field of "${e.name}"; remove it from the layout or add the field`);
      else if (placed.has(f)) push(`${gb}.fields.${f}`, `field "${f}" is already placed in group "${placed.get(f)}"; a field appears once in a form`);
      else placed.set(f, g.id);
    }
  }
}

function checkRenames(items: ReadonlyArray<{ name: string; renamedFrom?: string }>, base: string, what: string, push: Push): void {
  const names = new Set(items.map((i) => i.name));
  const from = new Set<string>();
  for (const i of items) {
    if (!i.renamedFrom || i.renamedFrom === i.name) continue;
    if (names.has(i.renamedFrom)) push(`${base}.${i.name}.renamedFrom`, `"${i.renamedFrom}" is still the name of another ${what}; a ${what} can only be renamed from a name that is no longer used`);
    if (from.has(i.renamedFrom)) push(`${base}.${i.name}.renamedFrom`, `two ${what}s say they were renamed from "${i.renamedFrom}"`);
    from.add(i.renamedFrom);
  }
}
