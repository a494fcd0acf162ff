// The connector form, generated from the JSON Schema each driver publishes (GET
// /integration/drivers: the driver's zod schema through z.toJSONSchema, labels and hints under
// `x-trellis`). Pure functions: which fields a schema gives, how a stored configuration fills them,
// and how typed values turn back into the `config` / `secrets` objects. The server validates with
// the driver's zod schema and names the offending field; the hints here (required, bounds, length)
// only warn earlier. Settings the form cannot show stay editable as JSON ("other settings").
import { UI_KEY, type FieldUi, type JsonSchema } from '../../shared/integration-api.ts';

/**
 * text / number / bool / select (an enum) / tags (an array of strings) / keyvalue (a map of strings,
 * one `key: value` a line) / json (anything richer: a map of objects, a union, a nested section).
 */
export type FieldKind = 'text' | 'number' | 'bool' | 'select' | 'tags' | 'keyvalue' | 'json';

export interface FormField {
  /** Dotted path inside config or secrets, e.g. `oauth2.tokenUrl`. */
  key: string;
  kind: FieldKind;
  label: { zh: string; en: string };
  help?: { zh: string; en: string };
  placeholder?: string;
  widget?: FieldUi['widget'];
  /** Shown only while these config fields hold one of the listed values. */
  when?: Record<string, string[]>;
  /** The label of the nested section the field belongs to (`oauth2.tokenUrl`: OAuth2 …). */
  section?: { zh: string; en: string };
  /** An early hint; the server decides. */
  required: boolean;
  options?: string[];
  integer?: boolean;
  min?: number;
  max?: number;
  maxLength?: number;
  default?: unknown;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const typeOf = (s: JsonSchema): string | undefined => (Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type);

/** The properties of an object schema; a union of objects (one of several credential sets) gives all of them. */
function objectParts(s: JsonSchema): { properties: Record<string, JsonSchema>; required: Set<string> } | null {
  const branches = s.anyOf ?? s.oneOf;
  if (branches && branches.every((b) => typeOf(b) === 'object' && b.properties)) {
    const properties: Record<string, JsonSchema> = {};
    for (const b of branches) Object.assign(properties, b.properties);
    // Required only when every branch requires it.
    const required = new Set(Object.keys(properties).filter((k) => branches.every((b) => b.required?.includes(k))));
    return { properties, required };
  }
  if (typeOf(s) === 'object' && s.properties) return { properties: s.properties, required: new Set(s.required ?? []) };
  return null;
}

const isStringMap = (s: JsonSchema) =>
  typeOf(s) === 'object' && !s.properties && isObj(s.additionalProperties) && typeOf(s.additionalProperties) === 'string' && !s.additionalProperties.enum;

/** The kind of a leaf, or null when it is an object to open up. */
function leafKind(s: JsonSchema): FieldKind | null {
  if (Array.isArray(s.enum) && s.enum.length > 0 && s.enum.every((v) => typeof v === 'string')) return 'select';
  const t = typeOf(s);
  if (t === 'string') return 'text';
  if (t === 'integer' || t === 'number') return 'number';
  if (t === 'boolean') return 'bool';
  if (t === 'array') return s.items && typeOf(s.items) === 'string' && !s.items.enum ? 'tags' : 'json';
  if (isStringMap(s)) return 'keyvalue';
  if (t === 'object' && s.properties) return null;
  return 'json';
}

/** An object section whose members are all simple becomes fields of its own (`oauth2.tokenUrl`); else one JSON field. */
const opensUp = (s: JsonSchema) => {
  const parts = objectParts(s);
  return parts !== null && Object.values(parts.properties).every((p) => {
    const k = leafKind(p);
    return k !== null && k !== 'json';
  });
};

interface Context {
  when?: Record<string, string[]> | undefined;
  section?: { zh: string; en: string } | undefined;
}

function leaf(key: string, s: JsonSchema, kind: FieldKind, required: boolean, ctx: Context): FormField {
  const hint = s[UI_KEY];
  const f: FormField = { key, kind, label: hint?.label ?? { zh: key, en: key }, required };
  if (ctx.section) f.section = ctx.section;
  const inherited = ctx.when;
  if (hint?.help) f.help = hint.help;
  if (hint?.widget) f.widget = hint.widget;
  const when = hint?.when ?? inherited;
  if (when) f.when = when;
  if (s.default !== undefined) f.default = s.default;
  const placeholder = hint?.placeholder ?? (s.default !== undefined && (kind === 'text' || kind === 'number') ? String(s.default) : undefined);
  if (placeholder !== undefined) f.placeholder = placeholder;
  if (kind === 'select') f.options = (s.enum as string[]).slice();
  if (kind === 'number') {
    f.integer = typeOf(s) === 'integer';
    const min = s.minimum ?? s.exclusiveMinimum;
    const max = s.maximum ?? s.exclusiveMaximum;
    if (min !== undefined) f.min = min;
    if (max !== undefined) f.max = max;
  }
  if (kind === 'text' && s.maxLength !== undefined) f.maxLength = s.maxLength;
  return f;
}

/**
 * The form fields of a driver's config or secret schema, in the schema's order. A nested section
 * is required (as a hint) when its parent is, or when it is tied to a choice (`when`): a section
 * shown for `auth = oauth2` is what that choice needs.
 */
export function fieldsOf(schema: JsonSchema | null | undefined): FormField[] {
  if (!schema) return [];
  const top = objectParts(schema);
  if (!top) return [];
  const out: FormField[] = [];
  const walk = (parts: NonNullable<ReturnType<typeof objectParts>>, prefix: string, parentRequired: boolean, ctx: Context) => {
    for (const [name, s] of Object.entries(parts.properties)) {
      const key = prefix ? `${prefix}.${name}` : name;
      const required = parentRequired && parts.required.has(name);
      const kind = leafKind(s);
      if (kind === null && opensUp(s)) {
        const when = s[UI_KEY]?.when ?? ctx.when;
        walk(objectParts(s)!, key, required || when !== undefined, { when, section: s[UI_KEY]?.label ?? { zh: key, en: key } });
      } else {
        out.push(leaf(key, s, kind ?? 'json', required, ctx));
      }
    }
  };
  walk(top, '', true, {});
  return out;
}

export function getPath(o: unknown, key: string): unknown {
  let cur: unknown = o;
  for (const p of key.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

function setPath(o: Obj, key: string, value: unknown): void {
  const parts = key.split('.');
  let cur = o;
  for (const p of parts.slice(0, -1)) {
    if (!isObj(cur[p])) cur[p] = {};
    cur = cur[p] as Obj;
  }
  cur[parts[parts.length - 1]!] = value;
}

function deletePath(o: Obj, key: string): void {
  const parts = key.split('.');
  const chain: Obj[] = [o];
  for (const p of parts.slice(0, -1)) {
    const next = chain[chain.length - 1]![p];
    if (!isObj(next)) return;
    chain.push(next);
  }
  delete chain[chain.length - 1]![parts[parts.length - 1]!];
  for (let i = chain.length - 1; i > 0; i--) if (Object.keys(chain[i]!).length === 0) delete chain[i - 1]![parts[i - 1]!];
}

export const pairsToText = (h: unknown) => (isObj(h) ? Object.entries(h).map(([k, v]) => `${k}: ${String(v)}`).join('\n') : '');

/** `key: value` lines into an object; throws with the line that has no key. */
export function textToPairs(text: string): Obj {
  const out: Obj = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf(':');
    if (i < 1) throw new Error(`"${line.trim()}"`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** A value a person typed that cannot become what the field holds (bad JSON, a line without a key). */
export class FieldInputError extends Error {
  readonly key: string;
  constructor(key: string, message: string) {
    super(message);
    this.key = key;
  }
}

/**
 * Form values (by dotted key) for a stored configuration, or for a new one (config undefined):
 * choices and switches start at the driver's default, so what is shown is what applies. What the
 * form has no field for comes back as `advanced` JSON.
 */
export function initialValues(fields: FormField[], config: unknown): { values: Obj; advanced: string } {
  const rest: Obj = isObj(config) ? (JSON.parse(JSON.stringify(config)) as Obj) : {};
  const values: Obj = {};
  for (const f of fields) {
    let v = getPath(config, f.key);
    deletePath(rest, f.key);
    if (v === undefined && (f.kind === 'select' || f.kind === 'bool')) v = f.default;
    if (v === undefined) continue;
    values[f.key] = f.kind === 'keyvalue' ? pairsToText(v) : f.kind === 'json' ? JSON.stringify(v, null, 2) : v;
  }
  return { values, advanced: Object.keys(rest).length ? JSON.stringify(rest, null, 2) : '' };
}

/** Whether a field shows, given the config values typed so far (its `when`). */
export function visible(f: FormField, configValues: Obj): boolean {
  if (!f.when) return true;
  return Object.entries(f.when).every(([k, allowed]) => {
    const v = configValues[k];
    return allowed.includes(typeof v === 'string' ? v : String(v));
  });
}

const blank = (v: unknown) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);

function valueOf(f: FormField, v: unknown): unknown {
  switch (f.kind) {
    case 'keyvalue': {
      try {
        const pairs = textToPairs(String(v));
        return Object.keys(pairs).length ? pairs : undefined;
      } catch (e) {
        throw new FieldInputError(f.key, `key: value — ${(e as Error).message}`);
      }
    }
    case 'json':
      try {
        return JSON.parse(String(v)) as unknown;
      } catch (e) {
        throw new FieldInputError(f.key, `JSON: ${(e as Error).message}`);
      }
    case 'text':
      return typeof v === 'string' ? v.trim() || undefined : v;
    default:
      return v;
  }
}

/**
 * The `config` object for the server: the advanced JSON first, the shown fields over it. Empty
 * fields are left out so the driver's defaults apply. Throws FieldInputError for a field's bad
 * value, a plain Error for bad advanced JSON.
 */
export function buildConfig(fields: FormField[], values: Obj, advanced: string): Obj {
  let out: Obj = {};
  if (advanced.trim()) {
    const parsed: unknown = JSON.parse(advanced);
    if (!isObj(parsed)) throw new Error('{…}');
    out = parsed;
  }
  for (const f of fields) {
    if (!visible(f, values) || blank(values[f.key])) continue;
    const v = valueOf(f, values[f.key]);
    if (v !== undefined) setPath(out, f.key, v);
  }
  return out;
}

/** The secrets a person typed (empty fields left out), or undefined when none were typed. */
export function buildSecrets(fields: FormField[], values: Obj, configValues: Obj): Obj | undefined {
  const out: Obj = {};
  for (const f of fields) {
    if (!visible(f, configValues) || blank(values[f.key])) continue;
    const v = valueOf(f, values[f.key]);
    if (v !== undefined) setPath(out, f.key, v);
  }
  return Object.keys(out).length ? out : undefined;
}

/** The field a server error path (`oauth2.tokenUrl`, `headers.X-Key`) belongs to. */
export function fieldAt(fields: FormField[], path: string): FormField | undefined {
  return fields.find((f) => path === f.key || path.startsWith(`${f.key}.`));
}
