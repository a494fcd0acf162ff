// People write names in spreadsheets, Trellis stores ids. Before an import, every distinct text of
// the user, department and link columns is looked up in one query per field: users by username or
// display name, departments by code or name, linked records by their document number (`name`) or
// title field, only among the linked records the importer may read. A name that fits two is an
// error that says which ones, never a guess. A UUID is taken as it is (the records engine checks
// that it exists).
import { ident, type Sql } from '../../db/index.ts';
import type { FieldDef } from '../../../shared/definition.ts';
import type { Actor, AppContext } from '../../platform/index.ts';
import { loadEntity, type EntitySchema } from '../index.ts';
import { Params, resolveAccess } from '../query/index.ts';

export type RefResult = { id: string } | { error: string };

export interface RefLookup {
  lookup(field: FieldDef, text: string): RefResult;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** "王强 (wang.operator)" — a display name with the username in brackets, as people write it. */
const NAME_WITH_KEY = /^(.*?)\s*[(（]\s*([^()（）]+?)\s*[)）]$/;
const TITLE_TYPES = new Set(['text', 'qr_code', 'erp_link', 'auto_number', 'select']);

interface Candidate {
  id: string;
  keys: string[];
  label: string;
}

function norm(s: string): string {
  return s.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

/** Finds `text` in the candidates, trying the key columns in order (first = strongest). */
function pick(candidates: Candidate[], text: string, what: string, keyNames: string[], hint: string): RefResult {
  const t = norm(text);
  const tries = [t];
  const m = NAME_WITH_KEY.exec(text.trim());
  if (m) tries.push(norm(m[2]!), norm(m[1]!)); // the whole text first: a title may hold brackets
  for (const key of tries) {
    for (let k = 0; k < keyNames.length; k++) {
      const hits = candidates.filter((c) => c.keys[k] !== undefined && c.keys[k] !== '' && norm(c.keys[k]!) === key);
      const ids = [...new Set(hits.map((h) => h.id))];
      if (ids.length === 1) return { id: ids[0]! };
      if (ids.length > 1) {
        return { error: `"${text}" fits ${ids.length} ${what}s (${hits.slice(0, 5).map((h) => h.label).join('; ')}): ${hint}` };
      }
    }
  }
  return { error: `there is no ${what} "${text.slice(0, 60)}" (looked up by ${keyNames.join(' or ')})` };
}

export async function prepareRefs(sql: Sql, ctx: AppContext, actor: Actor, schema: EntitySchema, wanted: Map<FieldDef, Set<string>>): Promise<RefLookup> {
  const tables = new Map<FieldDef, Candidate[] | string>();
  for (const [field, texts] of wanted) {
    const names = [...texts].filter((s) => !UUID_RE.test(s.trim()));
    if (!names.length) {
      tables.set(field, []);
      continue;
    }
    const variants = new Set<string>();
    for (const raw of names) {
      for (const s of [raw.trim(), raw.normalize('NFKC').trim()]) {
        variants.add(s);
        const m = NAME_WITH_KEY.exec(s);
        if (m) {
          variants.add(m[1]!.trim());
          variants.add(m[2]!.trim());
        }
      }
    }
    const list = [...variants];
    const lower = list.map((s) => s.toLowerCase());
    if (field.type === 'user') {
      const r = await sql.query<{ id: string; username: string; display_name: string; display_name_en: string | null }>(
        `select id, username, display_name, display_name_en from users
          where kind <> 'system' and (username = any($1::text[]) or display_name = any($2::text[]) or lower(display_name_en) = any($1::text[]))`,
        [lower, list],
      );
      tables.set(field, r.rows.map((u) => ({ id: String(u.id), keys: [u.username, u.display_name, u.display_name_en ?? ''], label: `${u.display_name} = ${u.username}` })));
    } else if (field.type === 'department') {
      const r = await sql.query<{ id: string; code: string; name: string; name_en: string | null }>(
        `select id, code, name, name_en from departments where lower(code) = any($1::text[]) or name = any($2::text[]) or lower(name_en) = any($1::text[])`,
        [lower, list],
      );
      tables.set(field, r.rows.map((d) => ({ id: String(d.id), keys: [d.code, d.name, d.name_en ?? ''], label: `${d.name} = ${d.code}` })));
    } else if (field.type === 'link') {
      tables.set(field, await linkCandidates(sql, ctx, actor, schema, field, list));
    }
  }
  return {
    lookup(field, text) {
      const s = text.trim();
      if (UUID_RE.test(s)) return { id: s.toLowerCase() };
      const table = tables.get(field);
      if (typeof table === 'string') return { error: table };
      const candidates = table ?? [];
      if (field.type === 'user') return pick(candidates, s, 'user', ['username', 'display name', 'English name'], 'write the username instead');
      if (field.type === 'department') return pick(candidates, s, 'department', ['code', 'name', 'English name'], 'write the department code instead');
      return pick(candidates, s, `${field.target} record`, ['number', 'title'], 'write the record number instead');
    },
  };
}

async function linkCandidates(sql: Sql, ctx: AppContext, actor: Actor, schema: EntitySchema, field: FieldDef, list: string[]): Promise<Candidate[] | string> {
  let target: EntitySchema;
  try {
    target = await loadEntity(sql, schema.app.name, field.target ?? '');
  } catch {
    return `links to "${field.target}", which is not an entity of this app`;
  }
  const access = resolveAccess(actor.principal, target.app, target.entity, 'read', { now: () => ctx.clock.now(), timezone: ctx.config.timezone });
  if (!access.allowed) return `you may not read ${target.entity.label.zh} (${target.entity.name}) records, so they cannot be looked up by name: write the record id instead`;
  const titleField = target.entity.titleField ? target.fields.get(target.entity.titleField) : undefined;
  const title = titleField && TITLE_TYPES.has(titleField.type) && access.readable.has(titleField.name) ? titleField.name : null;
  const params = new Params([list]);
  const scope = access.rowFilter(params, 't');
  const match = title ? `(t.name = any($1::text[]) or t.${ident(title)} = any($1::text[]))` : 't.name = any($1::text[])';
  const r = await sql.query<{ id: string; name: string | null; title: string | null }>(
    `select t.id, t.name, ${title ? `t.${ident(title)}::text` : 'null'} as title from ${ident(target.table)} t where ${match}${scope ? ` and (${scope})` : ''} limit 10000`,
    params.values,
  );
  return r.rows.map((x) => ({ id: String(x.id), keys: [x.name ?? '', x.title ?? ''], label: x.name ?? x.title ?? String(x.id) }));
}
