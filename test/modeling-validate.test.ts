// validateApp: every semantic rule, with paths made of names and messages that say what is allowed.
import { describe, expect, it } from 'vitest';
import { FIELD_TYPES } from '../src/shared/definition.ts';
import { namedPath, readCatalog, validateApp } from '../src/server/modeling/index.ts';
import { app, clone, entity, field } from './modeling-helpers.ts';

function errorsOf(input: unknown) {
  const r = validateApp(input);
  if (r.ok) throw new Error('expected the definition to be refused');
  return r.errors;
}

function expectError(input: unknown, path: string, message: RegExp | string) {
  const errors = errorsOf(input);
  const hit = errors.find((e) => e.path === path && (typeof message === 'string' ? e.message.includes(message) : message.test(e.message)));
  if (!hit) throw new Error(`no error at ${path} matching ${String(message)}; got:\n${errors.map((e) => `  ${e.path}: ${e.message}`).join('\n')}`);
}

const base = () => app('shop', [entity('order_doc', [field('title', 'text'), field('qty', 'integer')])]);

describe('validateApp', () => {
  it('accepts every catalog app', () => {
    const catalog = readCatalog();
    expect(catalog.length).toBeGreaterThanOrEqual(2);
    for (const c of catalog) {
      const r = validateApp(c.definition);
      expect(r.ok ? [] : r.errors, c.file).toEqual([]);
    }
  });

  it('accepts a definition with every field type', () => {
    const r = validateApp(
      app('all', [
        entity(
          'doc',
          FIELD_TYPES.map((t) =>
            field(`f_${t}`, t, {
              ...(t === 'link' ? { target: 'doc' } : {}),
              ...(t === 'child_table' ? { target: 'line' } : {}),
              ...(t === 'erp_link' ? { target: 'material' } : {}),
              ...(t === 'formula' ? { formula: 'f_integer * 2', resultType: 'integer' as const } : {}),
              ...(t === 'auto_number' ? { autoNumber: 'DOC-{#####}' } : {}),
            }),
          ),
        ),
        entity('line', [field('qty', 'decimal', { scale: 3 })], { child: true }),
      ]),
    );
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  it('names the path of an unknown field type and lists the allowed types', () => {
    const d = base() as any;
    d.entities[0].fields[1].type = 'number';
    const errors = errorsOf(d);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toBe('entities.order_doc.fields.qty.type');
    expect(errors[0]!.message).toContain('must be one of');
    for (const t of ['text', 'long_text', 'decimal', 'child_table', 'auto_number']) expect(errors[0]!.message).toContain(t);
  });

  it('refuses unknown properties, naming them and what is allowed', () => {
    const d = base() as any;
    d.entities[0].fields[0].colour = 'red';
    expectError(d, 'entities.order_doc.fields.title.colour', /unknown property "colour".*allowed here: name, type, label/);
    const d2 = base() as any;
    d2.version = 3;
    expectError(d2, 'version', /unknown property "version"/);
  });

  it('uses indexes only when an element has no usable name', () => {
    expect(namedPath({ entities: [{ name: 'a', fields: [{}, { name: 'b' }] }] }, ['entities', 0, 'fields', 0, 'type'])).toBe('entities.a.fields.0.type');
    expect(namedPath({ entities: [{ name: 'a', fields: [{}, { name: 'b' }] }] }, ['entities', 0, 'fields', 1, 'type'])).toBe('entities.a.fields.b.type');
    const d = base() as any;
    delete d.entities[0].fields[0].name;
    expectError(d, 'entities.order_doc.fields.0.name', 'is required');
  });

  it('refuses duplicate entity and field names', () => {
    const d = base();
    d.entities.push(clone(d.entities[0]!));
    expectError(d, 'entities.order_doc.name', 'duplicate entity name "order_doc"');
    const d2 = base();
    d2.entities[0]!.fields.push(field('qty', 'decimal'));
    expectError(d2, 'entities.order_doc.fields.qty.name', 'duplicate field name "qty"');
  });

  it('refuses system columns and SQL reserved words as field names', () => {
    for (const name of ['status', 'id', 'created_at', 'parent_id', 'search_text']) {
      const d = base();
      d.entities[0]!.fields.push(field(name, 'text'));
      expectError(d, `entities.order_doc.fields.${name}.name`, 'system column');
    }
    for (const name of ['select', 'from', 'where', 'table', 'user', 'order', 'group', 'limit', 'offset', 'and', 'or', 'not', 'null', 'true', 'false']) {
      const d = base();
      d.entities[0]!.fields.push(field(name, 'text'));
      expectError(d, `entities.order_doc.fields.${name}.name`, 'reserved word');
    }
  });

  it('refuses SQL-looking identifiers', () => {
    for (const bad of ['name; drop table', 'x"; drop table users; --', 'Qty', 'a b', '1abc', 'double__underscore', 'trailing_', 'ä']) {
      const d = base() as any;
      d.entities[0].fields[0].name = bad;
      const errors = errorsOf(d);
      expect(errors.some((e) => e.path.startsWith('entities.order_doc.fields.') && e.path.endsWith('.name') && /lower-case letters|must not end/.test(e.message))).toBe(true);
    }
    const d = base() as any;
    d.name = 'shop; drop table apps';
    expectError(d, 'name', 'lower-case letters');
    const d2 = base() as any;
    d2.entities[0].name = 'x__y';
    expectError(d2, 'entities.x__y.name', 'single underscores');
  });

  it('checks link, child table and ERP link targets', () => {
    const d = base();
    d.entities[0]!.fields.push(field('supplier', 'link', { target: 'supplier' }));
    expectError(d, 'entities.order_doc.fields.supplier.target', '"supplier" is not an entity of this app');
    const d2 = base();
    d2.entities.push(entity('line', [field('qty', 'integer')]));
    d2.entities[0]!.fields.push(field('lines', 'child_table', { target: 'line' }));
    expectError(d2, 'entities.order_doc.fields.lines.target', 'not a child entity');
    const d3 = base();
    d3.entities.push(entity('line', [field('qty', 'integer')], { child: true }));
    d3.entities[0]!.fields.push(field('first_line', 'link', { target: 'line' }));
    expectError(d3, 'entities.order_doc.fields.first_line.target', 'child entity');
    const d4 = base();
    d4.entities[0]!.fields.push(field('mat', 'erp_link', { target: 'customer' }));
    expectError(d4, 'entities.order_doc.fields.mat.target', 'material, bom, work_order, purchase_order, supplier, equipment');
    const d5 = base();
    d5.entities[0]!.fields.push(field('lines', 'child_table'));
    expectError(d5, 'entities.order_doc.fields.lines.target', 'needs a target');
    const d6 = base();
    d6.entities[0]!.fields[0]!.target = 'order_doc';
    expectError(d6, 'entities.order_doc.fields.title.target', 'only for link, child_table and erp_link');
  });

  it('checks select options', () => {
    const d = base();
    d.entities[0]!.fields.push(field('kind', 'select', { options: [] }));
    expectError(d, 'entities.order_doc.fields.kind.options', 'at least one option');
    const d2 = base();
    d2.entities[0]!.fields.push(field('kind', 'select', { options: [{ value: 'x', label: { zh: 'X' } }, { value: 'x', label: { zh: 'Y' } }] }));
    expectError(d2, 'entities.order_doc.fields.kind.options.x', 'duplicate option value "x"');
    const d3 = base();
    d3.entities[0]!.fields[0]!.options = [{ value: 'x', label: { zh: 'X' } }];
    expectError(d3, 'entities.order_doc.fields.title.options', 'only for select and multi_select');
  });

  it('checks min/max, pattern, scale and defaults', () => {
    const d = base();
    d.entities[0]!.fields[1]!.min = 10;
    d.entities[0]!.fields[1]!.max = 5;
    expectError(d, 'entities.order_doc.fields.qty.min', 'min (10) is greater than max (5)');
    const d2 = base();
    d2.entities[0]!.fields[0]!.pattern = '([a-z]+';
    expectError(d2, 'entities.order_doc.fields.title.pattern', 'not a valid regular expression');
    const d3 = base();
    d3.entities[0]!.fields[0]!.pattern = '^(a+)+$';
    expectError(d3, 'entities.order_doc.fields.title.pattern', 'repeats a group');
    const d4 = base();
    d4.entities[0]!.fields[0]!.scale = 2;
    expectError(d4, 'entities.order_doc.fields.title.scale', 'only for decimal and percent');
    const d5 = base();
    d5.entities[0]!.fields.push(field('amount', 'money', { scale: 4 }));
    expectError(d5, 'entities.order_doc.fields.amount.scale', 'money always has 2 digits');
    const d6 = base();
    d6.entities[0]!.fields[1]!.default = 'many';
    expectError(d6, 'entities.order_doc.fields.qty.default', 'whole number');
    const d7 = base();
    d7.entities[0]!.fields.push(field('kind', 'select', { default: 'c' }));
    expectError(d7, 'entities.order_doc.fields.kind.default', 'one of the options: a, b');
    const d8 = base();
    d8.entities[0]!.fields.push(field('day', 'date', { default: { $ctx: 'now' } }));
    expectError(d8, 'entities.order_doc.fields.day.default', '{"$ctx": "today"}');
    const d9 = base();
    d9.entities[0]!.fields.push(field('day', 'date', { default: '2026-02-30' }));
    expectError(d9, 'entities.order_doc.fields.day.default', 'must be a date');
    const ok = base();
    ok.entities[0]!.fields.push(field('day', 'date', { default: { $ctx: 'today' }, min: '2020-01-01', max: '2030-12-31' }), field('flag', 'boolean', { default: true }));
    expect(validateApp(ok).ok).toBe(true);
  });

  it('checks formulas: syntax, references and cycles', () => {
    const d = base();
    d.entities[0]!.fields.push(field('total', 'formula', { formula: 'qty *', resultType: 'integer' }));
    expectError(d, 'entities.order_doc.fields.total.formula', 'not a valid JSONata expression');
    const d2 = base();
    d2.entities[0]!.fields.push(field('total', 'formula', { formula: 'qty * unit_price', resultType: 'decimal' }));
    expectError(d2, 'entities.order_doc.fields.total.formula', 'refers to "unit_price", which is not a field of entity "order_doc"');
    const d3 = base();
    d3.entities[0]!.fields.push(field('a', 'formula', { formula: 'b + 1', resultType: 'integer' }), field('b', 'formula', { formula: 'c + qty', resultType: 'integer' }), field('c', 'formula', { formula: 'a * 2', resultType: 'integer' }));
    expectError(d3, 'entities.order_doc.fields.a.formula', /circle: a → b → c → a/);
    const d4 = base();
    d4.entities[0]!.fields.push(field('selfish', 'formula', { formula: 'selfish + 1', resultType: 'integer' }));
    expectError(d4, 'entities.order_doc.fields.selfish.formula', 'circle');
    const d5 = base();
    d5.entities[0]!.fields.push(field('total', 'formula', { formula: 'qty' }));
    d5.entities[0]!.fields[0]!.formula = 'qty';
    expectError(d5, 'entities.order_doc.fields.title.formula', 'only for formula');
    // Child rows inside a path and a predicate resolve against the child entity.
    const ok = app('shop', [
      entity('order_doc', [field('lines', 'child_table', { target: 'line' }), field('total', 'formula', { formula: '$sum(lines.(qty * price)) + $count(lines[qty > 1])', resultType: 'decimal' })]),
      entity('line', [field('qty', 'integer'), field('price', 'money')], { child: true }),
    ]);
    expect(validateApp(ok).ok ? [] : (validateApp(ok) as any).errors).toEqual([]);
    const bad = clone(ok);
    bad.entities[0]!.fields[1]!.formula = '$sum(lines.(qty * cost))';
    expectError(bad, 'entities.order_doc.fields.total.formula', 'refers to "cost", which is not a field of entity "line"');
  });

  it('refuses required links that form a circle', () => {
    const d = app('plant', [
      entity('machine', [field('line_ref', 'link', { target: 'line', required: true })]),
      entity('line', [field('cell', 'link', { target: 'cell', required: true })]),
      entity('cell', [field('machine', 'link', { target: 'machine', required: true })]),
    ]);
    expectError(d, 'entities.machine.fields.line_ref.required', /required links form a circle \(machine\.line_ref → line\.cell → cell\.machine → machine\)/);
    const self = app('plant', [entity('part', [field('parent_part', 'link', { target: 'part', required: true })])]);
    expectError(self, 'entities.part.fields.parent_part.required', 'circle');
    // One optional link breaks the circle.
    const ok = clone(d);
    ok.entities[2]!.fields[0]!.required = false;
    expect(validateApp(ok).ok).toBe(true);
  });

  it('checks naming series and auto-number patterns', () => {
    for (const good of ['VR-{YYYY}-{####}', 'TR-{YY}{MM}{DD}-{###}', 'EQ/{##########}', 'A_{###}']) {
      const d = base();
      d.entities[0]!.namingSeries = good;
      expect(validateApp(d).ok, good).toBe(true);
    }
    for (const bad of ['VR-{YYYY}', 'VR-{##}', 'VR-{###########}', 'vr-{####}', 'VR {####}', 'VR-{HH}-{####}', 'A{###}B{###}']) {
      const d = base();
      d.entities[0]!.namingSeries = bad;
      expectError(d, 'entities.order_doc.namingSeries', /not a valid pattern|exactly one counter/);
    }
    const d = base();
    d.entities[0]!.fields.push(field('code', 'auto_number'));
    expectError(d, 'entities.order_doc.fields.code.autoNumber', 'needs a pattern');
  });

  it('checks titleField, list view and permission fields', () => {
    const d = base();
    d.entities[0]!.titleField = 'heading';
    d.entities[0]!.listView = { columns: ['title', 'nope'], sort: { field: 'zzz', dir: 'asc' } };
    expectError(d, 'entities.order_doc.titleField', '"heading" is not a field');
    expectError(d, 'entities.order_doc.listView.columns.1', '"nope" is not a field');
    expectError(d, 'entities.order_doc.listView.sort.field', '"zzz" is not a field');
    const d2 = base();
    d2.entities[0]!.permissions = [{ role: 'employee', actions: ['read'], fields: { secret: 'hidden' } }];
    expectError(d2, 'entities.order_doc.permissions.employee.fields.secret', '"secret" is not a field');
  });

  it('checks role codes and actions', () => {
    const d = base();
    d.entities[0]!.permissions = [{ role: 'Quality Engineer', actions: ['read'] }];
    expectError(d, 'entities.order_doc.permissions.Quality Engineer.role', 'not a role code');
    const d2 = base();
    d2.entities[0]!.permissions = [{ role: 'employee', actions: ['read', 'submit'] }];
    expectError(d2, 'entities.order_doc.permissions.employee.actions', 'submittable');
    const d3 = base() as any;
    d3.entities[0].permissions = [{ role: 'employee', actions: ['fly'] }];
    const errors = errorsOf(d3);
    expect(errors[0]!.path).toBe('entities.order_doc.permissions.employee.actions.0');
    const ok = base();
    ok.entities[0]!.permissions = [{ role: '*', actions: ['read'] }, { role: 'quality_engineer', actions: ['read', 'write'], scope: 'own_department' }];
    expect(validateApp(ok).ok).toBe(true);
  });

  it('checks conditions: fields exist and operators fit the type', () => {
    const d = base();
    d.entities[0]!.fields.push(field('kind', 'select'), field('note', 'text', { visibleIf: { field: 'nope', op: 'eq', value: 1 } }));
    expectError(d, 'entities.order_doc.fields.note.visibleIf.field', '"nope" is not a field of entity "order_doc"');
    const d2 = base();
    d2.entities[0]!.fields.push(field('note', 'text', { requiredIf: { and: [{ field: 'qty', op: 'like', value: '1' }] } }));
    expectError(d2, 'entities.order_doc.fields.note.requiredIf.and.0.op', /"like" does not apply to "qty" \(a integer field\); use one of: eq, ne, lt/);
    const d3 = base();
    d3.entities[0]!.fields.push(field('kind', 'select'), field('note', 'text', { visibleIf: { field: 'kind', op: 'in', value: ['a', 'zz'] } }));
    expectError(d3, 'entities.order_doc.fields.note.visibleIf.value.1', '"zz" is not one of the options: a, b');
    const d4 = base();
    d4.entities[0]!.permissions = [{ role: 'employee', actions: ['read'], scope: { filter: { field: 'qty', op: 'between', value: [1] } } }];
    expectError(d4, 'entities.order_doc.permissions.employee.scope.filter.value', 'between');
    const d5 = base() as any;
    d5.entities[0].fields[0].visibleIf = { field: 'qty', op: 'bigger', value: 1 };
    expectError(d5, 'entities.order_doc.fields.title.visibleIf.op', /Invalid option|expected one of/);
    const d6 = base() as any;
    d6.entities[0].fields[0].visibleIf = { when: 'qty' };
    expectError(d6, 'entities.order_doc.fields.title.visibleIf', 'a condition is');
    const ok = base();
    ok.entities[0]!.fields.push(
      field('owner', 'user'),
      field('note', 'text', { visibleIf: { or: [{ field: 'qty', op: 'gt', value: 5 }, { field: 'owner', op: 'eq', value: { $ctx: 'user' } }, { field: 'owner.display_name', op: 'like', value: '王' }] } }),
    );
    ok.entities[0]!.permissions = [{ role: 'employee', actions: ['read'], scope: { filter: { field: 'created_by', op: 'eq', value: { $ctx: 'user' } } } }];
    expect(validateApp(ok).ok ? [] : (validateApp(ok) as any).errors).toEqual([]);
  });

  it('checks renames', () => {
    const d = base();
    d.entities[0]!.fields[1]!.renamedFrom = 'title';
    expectError(d, 'entities.order_doc.fields.qty.renamedFrom', 'still the name of another field');
  });

  it('refuses things that are not definitions at all', () => {
    for (const junk of [null, 42, 'app', [], { name: 'x' }]) {
      const r = validateApp(junk);
      expect(r.ok).toBe(false);
      if (!r.ok) for (const e of r.errors) expect(e.path && e.message).toBeTruthy();
    }
  });
});
