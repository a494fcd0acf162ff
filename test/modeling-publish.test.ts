// Publishing: definitions become tables; republishing evolves them (additive automatically,
// renames keep data, destructive only with confirmation, contradicting data blocks); every
// publish is one transaction; versions are kept and can be rolled back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIELD_TYPES, type AppDef } from '../src/shared/definition.ts';
import { columnSqlType, getAppVersion, getPublishedApp, listApps, publishApp, rollbackApp, STALE_MS } from '../src/server/modeling/index.ts';
import { AppError, systemActor } from '../src/server/platform/index.ts';
import { createTestTrellis, type TestTrellis } from './helpers/trellis.ts';
import { app, clone, entity, field } from './modeling-helpers.ts';

let t: TestTrellis;
beforeAll(async () => {
  t = await createTestTrellis();
});
afterAll(async () => {
  await t?.destroy();
});

const publish = (def: unknown, opts: { confirmDestructive?: boolean; dryRun?: boolean } = {}) => publishApp(t.ctx, systemActor, def, opts);

async function columns(table: string): Promise<Map<string, { data_type: string; udt_name: string; numeric_precision: number | null; numeric_scale: number | null; is_nullable: string }>> {
  const r = await t.ctx.db.query<{ column_name: string; data_type: string; udt_name: string; numeric_precision: number | null; numeric_scale: number | null; is_nullable: string }>(
    `select column_name, data_type, udt_name, numeric_precision, numeric_scale, is_nullable from information_schema.columns
      where table_schema = current_schema() and table_name = $1`,
    [table],
  );
  return new Map(r.rows.map((x) => [x.column_name, x]));
}

async function tableExists(table: string): Promise<boolean> {
  const r = await t.ctx.db.query(`select 1 from information_schema.tables where table_schema = current_schema() and table_name = $1`, [table]);
  return r.rows.length > 0;
}

async function indexes(table: string): Promise<string[]> {
  const r = await t.ctx.db.query<{ indexdef: string }>(`select indexdef from pg_indexes where schemaname = current_schema() and tablename = $1`, [table]);
  return r.rows.map((x) => x.indexdef.replace(/^CREATE (UNIQUE )?INDEX \S+ ON (\S+\.)?\S+ /, '$1'));
}

async function rejection(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected the publish to be refused');
}

const insert = async (table: string, values: Record<string, unknown>) => {
  const keys = Object.keys(values);
  const r = await t.ctx.db.query<{ id: string }>(
    `insert into "${table}" (${keys.map((k) => `"${k}"`).join(', ')}) values (${keys.map((_, i) => `$${i + 1}`).join(', ')}) returning id`,
    Object.values(values),
  );
  return r.rows[0]!.id;
};

describe('publish: column types', () => {
  it('gives every field type its column type', async () => {
    const fields = FIELD_TYPES.map((tp) =>
      field(`f_${tp}`, tp, {
        ...(tp === 'link' ? { target: 'doc' } : {}),
        ...(tp === 'child_table' ? { target: 'line' } : {}),
        ...(tp === 'erp_link' ? { target: 'material' } : {}),
        ...(tp === 'formula' ? { formula: 'f_integer * 2', resultType: 'integer' as const } : {}),
        ...(tp === 'auto_number' ? { autoNumber: 'DOC-{#####}' } : {}),
      }),
    );
    fields.push(field('f_decimal_scaled', 'decimal', { scale: 3 }), field('f_formula_decimal', 'formula', { formula: 'f_decimal * 2', resultType: 'decimal', scale: 4 }));
    const def = app('types', [entity('doc', fields), entity('line', [field('qty', 'integer')], { child: true })]);
    const r = await publish(def);
    expect(r).toMatchObject({ app: 'types', version: 1, applied: true });

    const cols = await columns('x_types__doc');
    const expected: Record<string, [string, number | null, number | null] | string> = {
      f_text: 'text',
      f_long_text: 'text',
      f_integer: 'bigint',
      f_decimal: ['numeric', null, null],
      f_decimal_scaled: ['numeric', 30, 3],
      f_money: ['numeric', 20, 2],
      f_percent: ['numeric', null, null],
      f_date: 'date',
      f_datetime: 'timestamp with time zone',
      f_duration: 'bigint',
      f_boolean: 'boolean',
      f_select: 'text',
      f_multi_select: '_text',
      f_user: 'uuid',
      f_department: 'uuid',
      f_link: 'uuid',
      f_erp_link: 'text',
      f_attachment: 'jsonb',
      f_image: 'jsonb',
      f_signature: 'jsonb',
      f_qr_code: 'text',
      f_geolocation: 'jsonb',
      f_formula: 'bigint',
      f_formula_decimal: ['numeric', 30, 4],
      f_auto_number: 'text',
    };
    for (const [name, want] of Object.entries(expected)) {
      const c = cols.get(name);
      expect(c, name).toBeDefined();
      if (typeof want === 'string') expect(want === '_text' ? c!.udt_name : c!.data_type, name).toBe(want);
      else expect([c!.data_type, c!.numeric_precision, c!.numeric_scale], name).toEqual(want);
    }
    expect(cols.has('f_child_table')).toBe(false);
    for (const f of fields) expect(columnSqlType(f) === null, f.name).toBe(f.type === 'child_table');

    // System columns, and the child table's own.
    for (const sys of ['id', 'name', 'status', 'version', 'created_by', 'created_at', 'updated_by', 'updated_at', 'owner_department_id', 'amended_from', 'submitted_at', 'cancelled_at', 'search_text']) {
      expect(cols.has(sys), sys).toBe(true);
    }
    expect(cols.get('status')!.is_nullable).toBe('NO');
    expect(cols.has('parent_id')).toBe(false);
    const lineCols = await columns('x_types__line');
    expect(lineCols.get('parent_id')).toMatchObject({ data_type: 'uuid', is_nullable: 'NO' });
    expect(lineCols.has('parent_field') && lineCols.has('idx')).toBe(true);

    // Indexes: unique name, system btree indexes, link/user/department/erp_link, auto-number unique.
    const ix = await indexes('x_types__doc');
    for (const want of ['UNIQUE USING btree (name)', 'USING btree (owner_department_id)', 'USING btree (created_by)', 'USING btree (created_at, id)', 'USING btree (status)', 'USING btree (f_link)', 'USING btree (f_user)', 'USING btree (f_department)', 'USING btree (f_erp_link)', 'UNIQUE USING btree (f_auto_number)']) {
      expect(ix, want).toContain(want);
    }
    expect(ix.some((i) => i.includes('gin') && i.includes('search_text'))).toBe(true);
    expect(await indexes('x_types__line')).toContain('USING btree (parent_id, idx)');

    // Foreign keys: link → its table (restrict), user → users, department → departments, child → parent (cascade).
    const fks = await t.ctx.db.query<{ def: string; tbl: string }>(
      `select c.conrelid::regclass::text as tbl, pg_get_constraintdef(c.oid) as def from pg_constraint c
        where c.contype = 'f' and c.conrelid::regclass::text in ('x_types__doc', 'x_types__line')`,
    );
    const defs = fks.rows.map((x) => `${x.tbl}: ${x.def}`);
    expect(defs).toContain('x_types__doc: FOREIGN KEY (f_link) REFERENCES x_types__doc(id) ON DELETE RESTRICT');
    expect(defs).toContain('x_types__doc: FOREIGN KEY (f_user) REFERENCES users(id) ON DELETE RESTRICT');
    expect(defs).toContain('x_types__doc: FOREIGN KEY (f_department) REFERENCES departments(id) ON DELETE RESTRICT');
    expect(defs).toContain('x_types__line: FOREIGN KEY (parent_id) REFERENCES x_types__doc(id) ON DELETE CASCADE');

    // The version row, the app row and the audit entry.
    expect((await listApps(t.ctx.db)).find((a) => a.name === 'types')).toMatchObject({ currentVersion: 1, entities: 2 });
    const audit = await t.ctx.db.query(`select action, target_id, detail from audit_log where action = 'app.publish' and target_id = 'types'`);
    expect(audit.rows).toHaveLength(1);
  });

  it('refuses an invalid definition with the validation errors', async () => {
    const err = await rejection(publish({ name: 'bad', label: { zh: 'x' }, entities: [{ name: 'a', label: { zh: 'a' }, fields: [{ name: 'q', type: 'nope', label: { zh: 'q' } }] }] }));
    expect(err.status).toBe(400);
    expect(err.errors![0]!.path).toBe('entities.a.fields.q.type');
    expect(await tableExists('x_bad__a')).toBe(false);
  });
});

describe('publish: schema evolution', () => {
  const v1 = () =>
    app('evo', [
      entity('order_doc', [field('title', 'text'), field('qty', 'integer'), field('note', 'text'), field('code', 'text')]),
    ]);

  it('adds fields and entities automatically and keeps the data', async () => {
    await publish(v1());
    const id = await insert('x_evo__order_doc', { title: 'first', qty: 3, code: 'A' });
    const v2 = v1();
    v2.entities[0]!.fields.push(field('due', 'date'), field('urgent', 'boolean', { default: false }), field('kind', 'select', { filterable: true }));
    v2.entities.push(entity('customer', [field('cname', 'text', { unique: true })]));
    v2.entities[0]!.fields.push(field('customer', 'link', { target: 'customer' }));

    const dry = await publish(v2, { dryRun: true });
    expect(dry.applied).toBe(false);
    expect(dry.version).toBe(2);
    expect(await tableExists('x_evo__customer')).toBe(false);

    const r = await publish(v2);
    expect(r.version).toBe(2);
    const kinds = r.changes.map((c) => `${c.kind}:${c.entity}.${c.field ?? ''}`);
    expect(kinds).toEqual(expect.arrayContaining(['add_field:order_doc.due', 'add_field:order_doc.urgent', 'add_field:order_doc.kind', 'add_entity:customer.', 'add_field:order_doc.customer']));
    expect(r.changes.every((c) => !c.destructive)).toBe(true);
    const row = (await t.ctx.db.query('select title, qty, due, urgent, kind from x_evo__order_doc where id = $1', [id])).rows[0];
    expect(row).toEqual({ title: 'first', qty: 3, due: null, urgent: false, kind: null });
    expect(await indexes('x_evo__order_doc')).toContain('USING btree (kind)');
    expect(await indexes('x_evo__customer')).toContain('UNIQUE USING btree (cname)');
    const published = await getPublishedApp(t.ctx.db, 'evo');
    expect(published?.version).toBe(2);
    expect(published?.entities.get('customer')?.fields[0]?.name).toBe('cname');
  });

  it('renames fields and entities without losing data', async () => {
    const cur = (await getPublishedApp(t.ctx.db, 'evo'))!.def;
    const v3 = clone(cur);
    const od = v3.entities.find((e) => e.name === 'order_doc')!;
    od.name = 'sales_order';
    od.renamedFrom = 'order_doc';
    const title = od.fields.find((f) => f.name === 'title')!;
    title.name = 'subject';
    title.renamedFrom = 'title';
    const r = await publish(v3);
    expect(r.changes.map((c) => c.kind)).toEqual(expect.arrayContaining(['rename_entity', 'rename_field']));
    expect(r.changes.every((c) => !c.destructive)).toBe(true);
    expect(await tableExists('x_evo__order_doc')).toBe(false);
    const rows = (await t.ctx.db.query('select subject, qty from x_evo__sales_order')).rows;
    expect(rows).toEqual([{ subject: 'first', qty: 3 }]);
    // The unchanged definition publishes as a no-op version.
    const again = await publish(v3);
    expect(again.changes.filter((c) => c.kind !== 'change_field' && c.kind !== 'change_entity')).toEqual([]);
  });

  it('widens types automatically and refuses narrowing ones while data would suffer', async () => {
    const cur = clone((await getPublishedApp(t.ctx.db, 'evo'))!.def);
    const so = cur.entities.find((e) => e.name === 'sales_order')!;
    so.fields.find((f) => f.name === 'qty')!.type = 'decimal';
    so.fields.find((f) => f.name === 'note')!.type = 'long_text';
    const r = await publish(cur);
    expect(r.changes.find((c) => c.kind === 'change_type' && c.field === 'qty')).toMatchObject({ destructive: false, from: 'integer (bigint)', to: 'decimal (numeric)' });
    expect((await columns('x_evo__sales_order')).get('qty')!.data_type).toBe('numeric');
    expect((await t.ctx.db.query('select qty from x_evo__sales_order')).rows[0]).toEqual({ qty: '3' });

    // decimal → integer loses fractions: refused while there is data, listed with its path.
    await t.ctx.db.query(`update x_evo__sales_order set qty = 2.5`);
    const narrow = clone(cur);
    narrow.entities.find((e) => e.name === 'sales_order')!.fields.find((f) => f.name === 'qty')!.type = 'integer';
    const err = await rejection(publish(narrow));
    expect(err.status).toBe(409);
    expect(err.errors).toEqual([expect.objectContaining({ path: 'entities.sales_order.fields.qty.type', message: expect.stringContaining('rounded to whole numbers') })]);
    expect((await columns('x_evo__sales_order')).get('qty')!.data_type).toBe('numeric');
    const ok = await publish(narrow, { confirmDestructive: true });
    expect(ok.applied).toBe(true);
    expect((await t.ctx.db.query('select qty from x_evo__sales_order')).rows[0]).toEqual({ qty: 3 });

    // text → integer with values that are not numbers: refused, and even confirmed it fails cleanly.
    const toInt = clone(narrow);
    toInt.entities.find((e) => e.name === 'sales_order')!.fields.find((f) => f.name === 'subject')!.type = 'integer';
    expect((await rejection(publish(toInt))).status).toBe(409);
    const failed = await rejection(publish(toInt, { confirmDestructive: true }));
    expect(failed.status).toBe(422);
    expect(failed.errors![0]!.path).toBe('entities.sales_order.fields.subject.type');
    expect((await columns('x_evo__sales_order')).get('subject')!.data_type).toBe('text');
  });

  it('refuses removing a field unless confirmed, then drops it', async () => {
    const cur = clone((await getPublishedApp(t.ctx.db, 'evo'))!.def);
    const so = cur.entities.find((e) => e.name === 'sales_order')!;
    so.fields = so.fields.filter((f) => f.name !== 'code');
    const before = (await getPublishedApp(t.ctx.db, 'evo'))!.version;
    const err = await rejection(publish(cur));
    expect(err.status).toBe(409);
    expect(err.errors).toEqual([{ path: 'entities.sales_order.fields.code', message: expect.stringContaining('1 record(s) have a value that will be deleted') }]);
    expect(err.extra?.changes).toBeDefined();
    expect((await columns('x_evo__sales_order')).has('code')).toBe(true);
    expect((await getPublishedApp(t.ctx.db, 'evo'))!.version).toBe(before);
    const r = await publish(cur, { confirmDestructive: true });
    expect(r.version).toBe(before + 1);
    expect((await columns('x_evo__sales_order')).has('code')).toBe(false);
  });

  it('refuses making a field required while records have no value', async () => {
    const cur = clone((await getPublishedApp(t.ctx.db, 'evo'))!.def);
    cur.entities.find((e) => e.name === 'sales_order')!.fields.find((f) => f.name === 'note')!.required = true;
    const err = await rejection(publish(cur));
    expect(err.status).toBe(409);
    expect(err.errors![0]).toMatchObject({ path: 'entities.sales_order.fields.note.required', message: expect.stringContaining('1 record(s) have no value') });
    await t.ctx.db.query(`update x_evo__sales_order set note = 'filled'`);
    expect((await publish(cur)).applied).toBe(true);
    // A new required field with a default fills the existing records instead.
    const withDefault = clone(cur);
    withDefault.entities.find((e) => e.name === 'sales_order')!.fields.push(field('priority', 'integer', { required: true, default: 5 }));
    const r = await publish(withDefault);
    expect(r.changes.every((c) => !c.destructive)).toBe(true);
    expect((await t.ctx.db.query('select priority from x_evo__sales_order')).rows).toEqual([{ priority: 5 }]);
  });

  it('refuses unique while values repeat, even when confirmed', async () => {
    await insert('x_evo__sales_order', { subject: 'first', qty: 1, note: 'x', priority: 1 });
    const cur = clone((await getPublishedApp(t.ctx.db, 'evo'))!.def);
    cur.entities.find((e) => e.name === 'sales_order')!.fields.find((f) => f.name === 'subject')!.unique = true;
    for (const confirmDestructive of [false, true]) {
      const err = await rejection(publish(cur, { confirmDestructive }));
      expect(err.status).toBe(422);
      expect(err.errors![0]).toMatchObject({ path: 'entities.sales_order.fields.subject.unique', message: expect.stringContaining('"first" ×2') });
    }
    await t.ctx.db.query(`update x_evo__sales_order set subject = 'second' where priority = 1`);
    expect((await publish(cur)).applied).toBe(true);
    expect(await indexes('x_evo__sales_order')).toContain('UNIQUE USING btree (subject)');
  });

  it('refuses removing an entity unless confirmed', async () => {
    const cur = clone((await getPublishedApp(t.ctx.db, 'evo'))!.def);
    await insert('x_evo__customer', { cname: 'ACME' });
    cur.entities = cur.entities.filter((e) => e.name !== 'customer');
    cur.entities.find((e) => e.name === 'sales_order')!.fields = cur.entities.find((e) => e.name === 'sales_order')!.fields.filter((f) => f.name !== 'customer');
    const err = await rejection(publish(cur));
    expect(err.errors!.map((e) => e.path)).toEqual(expect.arrayContaining(['entities.customer', 'entities.sales_order.fields.customer']));
    expect(await tableExists('x_evo__customer')).toBe(true);
    await publish(cur, { confirmDestructive: true });
    expect(await tableExists('x_evo__customer')).toBe(false);
  });

  it('clears links that would dangle when a link changes target (confirmed only)', async () => {
    const d = app('links', [entity('a', [field('t', 'text')]), entity('b', [field('t', 'text')]), entity('c', [field('ref', 'link', { target: 'a' })])]);
    await publish(d);
    const aId = await insert('x_links__a', { t: 'a1' });
    await insert('x_links__c', { ref: aId });
    const d2 = clone(d);
    d2.entities[2]!.fields[0]!.target = 'b';
    const err = await rejection(publish(d2));
    expect(err.errors![0]!.path).toBe('entities.c.fields.ref.target');
    await publish(d2, { confirmDestructive: true });
    expect((await t.ctx.db.query('select ref from x_links__c')).rows).toEqual([{ ref: null }]);
  });
});

describe('publish: indexes follow the definition', () => {
  it('creates and drops indexes as filterable/unique change, through renames', async () => {
    const d = app('idx', [entity('doc', [field('code', 'text', { unique: true }), field('tags', 'multi_select', { filterable: true }), field('qty', 'integer', { filterable: true })])]);
    await publish(d);
    let ix = await indexes('x_idx__doc');
    expect(ix).toEqual(expect.arrayContaining(['UNIQUE USING btree (code)', 'USING gin (tags)', 'USING btree (qty)']));
    const d2 = clone(d);
    d2.entities[0]!.fields[0]!.unique = false;
    d2.entities[0]!.fields[2]!.filterable = false;
    d2.entities[0]!.fields[1]!.name = 'labels';
    d2.entities[0]!.fields[1]!.renamedFrom = 'tags';
    const r = await publish(d2);
    expect(r.changes.filter((c) => c.kind === 'drop_index')).toHaveLength(2);
    expect(r.changes.some((c) => c.kind === 'add_index')).toBe(false); // the renamed column keeps its index
    ix = await indexes('x_idx__doc');
    expect(ix).toContain('USING gin (labels)');
    expect(ix.some((i) => i.includes('(code)') || i.includes('(qty)'))).toBe(false);
  });
});

describe('publish: atomicity', () => {
  it('leaves nothing behind when a publish fails midway', async () => {
    const d = app('atom', [entity('first', [field('t', 'text')]), entity('second', [field('t', 'text')])]);
    // Something else already holds the second table's name: the CREATE fails after the first one ran.
    await t.ctx.db.query('create table x_atom__second (id int)');
    await expect(publish(d)).rejects.toThrow();
    expect(await tableExists('x_atom__first')).toBe(false);
    expect((await t.ctx.db.query(`select 1 from apps where name = 'atom'`)).rows.length).toBe(0);
    expect((await t.ctx.db.query(`select 1 from app_versions where app_name = 'atom'`)).rows.length).toBe(0);
    expect((await t.ctx.db.query(`select 1 from audit_log where target_id = 'atom'`)).rows.length).toBe(0);
    await t.ctx.db.query('drop table x_atom__second');
    expect((await publish(d)).version).toBe(1);

    // A republish that fails on data: the new entity and the new field are not left behind.
    await insert('x_atom__first', { t: 'not a number' });
    const d2 = clone(d);
    d2.entities.push(entity('third', [field('t', 'text')]));
    d2.entities[0]!.fields.push(field('extra', 'integer'));
    d2.entities[0]!.fields[0]!.type = 'integer';
    const err = await rejection(publish(d2, { confirmDestructive: true }));
    expect(err.status).toBe(422);
    expect(await tableExists('x_atom__third')).toBe(false);
    expect((await columns('x_atom__first')).has('extra')).toBe(false);
    expect((await getPublishedApp(t.ctx.db, 'atom'))!.version).toBe(1);
    expect((await t.ctx.db.query(`select count(*)::int as n from app_versions where app_name = 'atom'`)).rows[0]).toEqual({ n: 1 });
  });
});

describe('versions and rollback', () => {
  it('keeps every version and rolls back through the same diff', async () => {
    const v1: AppDef = app('roll', [entity('item', [field('label_text', 'text'), field('qty', 'integer')])]);
    await publish(v1);
    await insert('x_roll__item', { label_text: 'bolt', qty: 7 });
    const v2 = clone(v1);
    v2.entities[0]!.fields[0]!.name = 'caption';
    v2.entities[0]!.fields[0]!.renamedFrom = 'label_text';
    v2.entities[0]!.fields.push(field('color', 'text'));
    await publish(v2);
    const v3 = clone(v2);
    v3.entities[0]!.fields.push(field('weight', 'decimal'));
    await publish(v3);

    const versions = await t.ctx.db.query<{ version: number }>(`select version from app_versions where app_name = 'roll' order by version`);
    expect(versions.rows.map((r) => r.version)).toEqual([1, 2, 3]);
    expect((await getAppVersion(t.ctx.db, 'roll', 1))!.definition!.entities[0]!.fields[0]!.name).toBe('label_text');

    // Back to v2: drops "weight" (no data, but a removal) → needs confirmation.
    const err = await rejection(rollbackApp(t.ctx, systemActor, 'roll', 2));
    expect(err.status).toBe(409);
    const r = await rollbackApp(t.ctx, systemActor, 'roll', 2, { confirmDestructive: true });
    expect(r.version).toBe(4);
    // Back to v1: the rename is replayed backwards, the data follows.
    const r1 = await rollbackApp(t.ctx, systemActor, 'roll', 1, { confirmDestructive: true });
    expect(r1.version).toBe(5);
    expect(r1.changes.find((c) => c.kind === 'rename_field')).toMatchObject({ from: 'caption', to: 'label_text' });
    expect((await t.ctx.db.query('select label_text, qty from x_roll__item')).rows).toEqual([{ label_text: 'bolt', qty: 7 }]);
    expect((await rejection(rollbackApp(t.ctx, systemActor, 'roll', 99))).status).toBe(404);
    const audit = await t.ctx.db.query<{ detail: { rollbackTo?: number } }>(`select detail from audit_log where action = 'app.publish' and target_id = 'roll' order by seq`);
    expect(audit.rows.map((a) => a.detail.rollbackTo ?? null)).toEqual([null, null, null, 2, 1]);
  });

  it('notices a publish by another process within the staleness window', async () => {
    const d = app('stale', [entity('e', [field('t', 'text')])]);
    await publish(d);
    expect((await getPublishedApp(t.ctx.db, 'stale'))!.version).toBe(1);
    // Another process publishes: simulate by writing version 2 behind this process's back.
    const d2 = clone(d);
    d2.entities[0]!.fields.push(field('u', 'text'));
    await t.ctx.db.query(`insert into app_versions (app_name, version, definition) values ('stale', 2, $1)`, [JSON.stringify(d2)]);
    await t.ctx.db.query(`update apps set current_version = 2 where name = 'stale'`);
    expect((await getPublishedApp(t.ctx.db, 'stale'))!.version).toBe(1); // cached
    await new Promise((r) => setTimeout(r, STALE_MS + 100));
    const fresh = await getPublishedApp(t.ctx.db, 'stale');
    expect(fresh!.version).toBe(2);
    expect(fresh!.entities.get('e')!.fields.map((f) => f.name)).toEqual(['t', 'u']);
    expect(await getPublishedApp(t.ctx.db, 'no_such_app')).toBeNull();
  });
});
