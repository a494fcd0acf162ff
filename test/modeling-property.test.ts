// Property: any definition — sane, odd or hostile — either validates and publishes (the tables
// have exactly the expected columns), or is refused with errors that each carry a path and a
// message. Republishing a random change of a published app answers 200/400/409/422, never a 500.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entityTable, FIELD_TYPES, SYSTEM_COLUMNS, type AppDef, type EntityDef, type FieldDef } from '../src/shared/definition.ts';
import { columnSqlType, validateApp } from '../src/server/modeling/index.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';

let t: TestTrellis;
let admin: TestSession;
beforeAll(async () => {
  t = await createTestTrellis();
  admin = await loginAs(t);
});
afterAll(async () => {
  await t?.destroy();
});

const ident = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/);
const hostileName = fc.constantFrom('status', 'select', 'name; drop table', 'Qty', '', 'x__y', 'order', 'id', '"; drop table users; --', 'a'.repeat(80), '名称');
const lbl = fc.oneof({ weight: 9, arbitrary: fc.constant({ zh: '字段' }) }, { weight: 1, arbitrary: fc.constantFrom({ zh: '' }, { en: 'x' }, 'label', null) });

interface Draft {
  name: string;
  type: string;
  required: boolean;
  unique: boolean;
  filterable: boolean;
  pick: number;
  formula: string;
  scale: number | null;
  label: unknown;
  extra: Record<string, unknown>;
}

const draftArb: fc.Arbitrary<Draft> = fc.record({
  name: fc.oneof({ weight: 8, arbitrary: ident }, { weight: 1, arbitrary: hostileName }),
  type: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...FIELD_TYPES) }, { weight: 1, arbitrary: fc.constantFrom('bogus', 'number', 'TEXT', '') }),
  required: fc.boolean(),
  unique: fc.boolean(),
  filterable: fc.boolean(),
  pick: fc.nat(),
  formula: fc.constantFrom('1 + 2', 'a * 2', '$count(items)', 'qty *', '"x" & "y"', '$now()', 'b + c'),
  scale: fc.option(fc.integer({ min: 0, max: 14 })),
  label: lbl,
  extra: fc.oneof(
    { weight: 6, arbitrary: fc.constant({}) },
    {
      weight: 1,
      arbitrary: fc.record(
        {
          default: fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.boolean(), fc.constant({ $ctx: 'today' }), fc.constant(null)),
          min: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('1.5', 'abc', '2026-01-01')),
          max: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('9', '2025-01-01')),
          pattern: fc.constantFrom('^[A-Z]+$', '([a', '(a+)+', ''),
          maxLength: fc.oneof(fc.integer({ min: -1, max: 100 }), fc.constant('ten')),
          visibleIf: fc.constantFrom({ field: 'a', op: 'eq', value: 1 }, { field: 'nope', op: 'like', value: 'x' }, { and: [] }, { junk: true }),
          colour: fc.constant('red'),
        },
        { requiredKeys: [] },
      ),
    },
  ),
});

const NO_UNIQUE = new Set(['child_table', 'multi_select', 'boolean', 'long_text', 'attachment', 'image', 'signature', 'geolocation']);

/** `sane` builds a field that should validate; otherwise the draft's oddities are kept. */
function buildField(raw: Draft, entities: string[], children: string[], sane = false, index = 0): Record<string, unknown> {
  let d = raw;
  if (sane) {
    const type = (FIELD_TYPES as readonly string[]).includes(d.type) ? d.type : 'text';
    d = {
      ...d,
      name: /^[a-z][a-z0-9]{0,7}$/.test(d.name) ? `${d.name}_${index}` : `f_${index}`,
      type: type === 'child_table' && !children.length ? 'text' : type,
      label: { zh: '字段' },
      extra: {},
      required: d.required && type !== 'link',
      unique: d.unique && !NO_UNIQUE.has(type),
      formula: ['1 + 2', '"x" & "y"', '$now()'][d.pick % 3]!,
    };
  }
  const f: Record<string, unknown> = { name: d.name, type: d.type, label: d.label, ...d.extra };
  if (d.required) f.required = true;
  if (d.unique) f.unique = true;
  if (d.filterable) f.filterable = true;
  const bad = (n: number) => !sane && d.pick % n === 0;
  const pickFrom = (list: string[]) => (list.length ? list[d.pick % list.length] : 'missing');
  switch (d.type) {
    case 'link':
      f.target = pickFrom(bad(7) ? [...entities, 'ghost'] : entities);
      break;
    case 'child_table':
      f.target = pickFrom(bad(5) ? entities : children);
      break;
    case 'erp_link':
      f.target = bad(6) ? 'customer' : 'material';
      break;
    case 'select':
    case 'multi_select':
      f.options = bad(9) ? [] : [{ value: 'a', label: { zh: 'A' } }, { value: 'b', label: { zh: 'B' } }];
      break;
    case 'formula':
      f.formula = d.formula;
      f.resultType = ['text', 'integer', 'decimal', 'boolean', 'date', 'datetime', 'money'][d.pick % 7];
      break;
    case 'auto_number':
      f.autoNumber = bad(4) ? 'bad pattern' : 'AN-{####}';
      break;
    case 'decimal':
    case 'percent':
      if (d.scale !== null) f.scale = d.scale;
      break;
  }
  return f;
}

interface EntityDraft {
  name: string;
  child: boolean;
  fields: Draft[];
}

const entityDraftArb: fc.Arbitrary<EntityDraft> = fc.record({
  name: fc.oneof({ weight: 10, arbitrary: ident }, { weight: 1, arbitrary: hostileName }),
  child: fc.boolean().map((b) => b && Math.random() < 0.5),
  fields: fc.array(draftArb, { minLength: 0, maxLength: 7 }),
});

let counter = 0;
function buildApp(rawDrafts: EntityDraft[], hostileApp: string | null, sane: boolean): unknown {
  const drafts = sane
    ? (rawDrafts.length ? rawDrafts : [{ name: 'e', child: false, fields: [] }]).map((e, i) => ({
        name: `e${i}_${/^[a-z][a-z0-9]{0,7}$/.test(e.name) ? e.name : 'x'}`,
        child: e.child && i > 0,
        fields: e.fields.length ? e.fields : [{ name: 'title', type: 'text', required: false, unique: false, filterable: false, pick: 1, formula: '', scale: null, label: { zh: 'x' }, extra: {} }],
      }))
    : rawDrafts;
  counter++;
  const names = drafts.map((e) => e.name);
  const normal = drafts.filter((e) => !e.child).map((e) => e.name);
  const children = drafts.filter((e) => e.child).map((e) => e.name);
  return {
    name: (!sane && hostileApp) || `prop_${counter}`,
    label: { zh: '随机应用' },
    entities: drafts.map((e) => ({
      name: e.name,
      label: { zh: e.name || '实体' },
      ...(e.child ? { child: true } : {}),
      fields: e.fields.map((d, i) => buildField(d, normal.length ? normal : names, e.child ? [] : children, sane, i)),
    })),
  };
}

const appArb = fc
  .tuple(fc.array(entityDraftArb, { minLength: 0, maxLength: 4 }), fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: hostileName }), fc.boolean())
  .map(([drafts, hostile, sane]) => buildApp(drafts, hostile, sane));

async function columnsOf(table: string): Promise<Set<string>> {
  const r = await t.ctx.db.query<{ column_name: string }>(
    `select column_name from information_schema.columns where table_schema = current_schema() and table_name = $1`,
    [table],
  );
  return new Set(r.rows.map((x) => x.column_name));
}

function expectedColumns(e: EntityDef): Set<string> {
  const cols = new Set<string>(SYSTEM_COLUMNS.filter((c) => e.child || !['parent_id', 'parent_field', 'idx'].includes(c)));
  for (const f of e.fields) if (columnSqlType(f as FieldDef) !== null) cols.add(f.name);
  return cols;
}

async function expectTables(def: AppDef): Promise<void> {
  for (const e of def.entities) {
    expect([...(await columnsOf(entityTable(def.name, e.name)))].sort()).toEqual([...expectedColumns(e)].sort());
  }
}

type Mutation = { kind: 'add'; draft: Draft } | { kind: 'drop'; at: number } | { kind: 'rename'; at: number; to: string } | { kind: 'retype'; at: number; type: string } | { kind: 'toggle'; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  draftArb.map((draft) => ({ kind: 'add' as const, draft })),
  fc.nat().map((at) => ({ kind: 'drop' as const, at })),
  fc.tuple(fc.nat(), ident).map(([at, to]) => ({ kind: 'rename' as const, at, to })),
  fc.tuple(fc.nat(), fc.constantFrom(...FIELD_TYPES)).map(([at, type]) => ({ kind: 'retype' as const, at, type })),
  fc.nat().map((at) => ({ kind: 'toggle' as const, at })),
);

function mutate(def: AppDef, muts: Mutation[]): AppDef {
  const d = JSON.parse(JSON.stringify(def)) as AppDef;
  const all = d.entities.filter((e) => !e.child).map((e) => e.name);
  const children = d.entities.filter((e) => e.child).map((e) => e.name);
  for (const m of muts) {
    const e = d.entities[(m as { at?: number }).at ?? 0 % d.entities.length] ?? d.entities[0]!;
    const i = ((m as { at?: number }).at ?? 0) % Math.max(1, e.fields.length);
    const f = e.fields[i];
    if (m.kind === 'add') e.fields.push(buildField(m.draft, all, children) as unknown as FieldDef);
    else if (!f) continue;
    else if (m.kind === 'drop') e.fields.splice(i, 1);
    else if (m.kind === 'rename') e.fields[i] = { ...f, name: m.to, renamedFrom: f.name };
    else if (m.kind === 'retype') e.fields[i] = buildField({ name: f.name, type: m.type, required: false, unique: false, filterable: false, pick: i, formula: '1 + 2', scale: null, label: f.label, extra: {} }, all, children) as unknown as FieldDef;
    else if (m.kind === 'toggle') e.fields[i] = { ...f, required: !f.required, unique: !f.unique && f.type === 'text' };
  }
  return d;
}

describe('property: any definition', () => {
  it('validates and publishes, or is refused with paths and messages — never a 500', async () => {
    let published = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(appArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.boolean(), async (input, muts, confirm) => {
        const v = validateApp(input);
        const r = await admin.inject({ method: 'POST', url: '/api/v1/apps/publish', payload: { definition: input } });
        if (!v.ok) {
          refused++;
          expect(v.errors.length).toBeGreaterThan(0);
          for (const e of v.errors) {
            expect(typeof e.path === 'string' && e.path.length > 0).toBe(true);
            expect(typeof e.message === 'string' && e.message.length > 0).toBe(true);
          }
          expect(r.statusCode, r.body).toBe(400);
          expect(r.json().errors).toEqual(v.errors.slice(0, 200));
          return;
        }
        expect(r.statusCode, r.body).toBe(200);
        published++;
        await expectTables(v.app);
        // Some data, then a random change.
        for (const e of v.app.entities) if (!e.child) await t.ctx.db.query(`insert into "${entityTable(v.app.name, e.name)}" default values`);
        const next = mutate(v.app, muts);
        const r2 = await admin.inject({ method: 'POST', url: '/api/v1/apps/publish', payload: { definition: next, confirmDestructive: confirm } });
        expect([200, 400, 409, 422], r2.body).toContain(r2.statusCode);
        const body = r2.json();
        if (r2.statusCode !== 200) {
          for (const e of body.errors ?? []) expect(e.path && e.message).toBeTruthy();
          await expectTables(v.app); // nothing changed
        } else {
          await expectTables(validateApp(next).ok ? (validateApp(next) as { app: AppDef }).app : v.app);
        }
      }),
      { numRuns: Number(process.env.TRELLIS_PROPERTY_RUNS ?? 60) },
    );
    // The generator must exercise both outcomes.
    expect(published).toBeGreaterThan(5);
    expect(refused).toBeGreaterThan(5);
  }, 240_000);
});
