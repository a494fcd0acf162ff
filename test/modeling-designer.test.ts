// What the visual designer needs from the modeling engine: form layouts (sections, tabs, steps
// of fields in columns) that validate against the entity and survive a publish, and server-side
// drafts of unpublished work with stale-save detection, builders only, audited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword, createUser } from '../src/server/platform/auth/index.ts';
import { systemActor } from '../src/server/platform/index.ts';
import { validateApp } from '../src/server/modeling/index.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { app, clone, entity, field } from './modeling-helpers.ts';

const withLayout = () =>
  app('layout_demo', [
    entity('report', [field('title', 'text', { required: true }), field('qty', 'integer'), field('cause', 'long_text'), field('fix', 'long_text')], {
      layout: {
        kind: 'steps',
        groups: [
          { id: 'describe', title: { zh: '问题描述', en: 'Description' }, columns: 2, fields: ['title', 'qty'] },
          { id: 'root_cause', title: { zh: '根本原因' }, fields: ['cause'] },
        ],
      },
    }),
  ]);

describe('form layout in the definition', () => {
  it('accepts sections, tabs and steps; fields left out of the layout are fine', () => {
    for (const kind of ['sections', 'tabs', 'steps'] as const) {
      const def = withLayout();
      def.entities[0]!.layout!.kind = kind;
      const v = validateApp(def);
      expect(v.ok, JSON.stringify(v)).toBe(true);
    }
  });

  it('refuses unknown fields, a field placed twice, duplicate group ids, bad kinds and columns, with named paths', () => {
    const def = clone(withLayout()) as any;
    def.entities[0].layout.groups[1].fields.push('nope', 'title');
    def.entities[0].layout.groups.push({ id: 'describe', title: { zh: '重复' }, fields: [] });
    const v = validateApp(def);
    expect(v.ok).toBe(false);
    const errors = v.ok ? [] : v.errors;
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: 'entities.report.layout.groups.root_cause.fields.nope', message: expect.stringContaining('not a field of "report"') },
        { path: 'entities.report.layout.groups.root_cause.fields.title', message: expect.stringContaining('already placed in group "describe"') },
        { path: 'entities.report.layout.groups.describe.id', message: expect.stringContaining('used more than once') },
      ]),
    );
    const shape = clone(withLayout()) as any;
    shape.entities[0].layout.kind = 'wizard';
    shape.entities[0].layout.groups[0].columns = 7;
    const s = validateApp(shape);
    expect(s.ok).toBe(false);
    const paths = s.ok ? [] : s.errors.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['entities.report.layout.kind', 'entities.report.layout.groups.describe.columns']));
  });
});

let t: TestTrellis;
let admin: TestSession;
let builder: TestSession;
let employee: TestSession;
const PASSWORD = 'Builder-Pass-2026!';

beforeAll(async () => {
  t = await createTestTrellis();
  const hash = await hashPassword(PASSWORD);
  await t.ctx.db.tx(async (tx) => {
    await createUser(tx, systemActor, { username: 'builder2', displayName: 'Builder', passwordHash: hash, roles: ['employee', 'app_builder'] }, new Date());
    await createUser(tx, systemActor, { username: 'worker2', displayName: 'Worker', passwordHash: hash, roles: ['employee'] }, new Date());
  });
  admin = await loginAs(t);
  builder = await loginAs(t, 'builder2', PASSWORD);
  employee = await loginAs(t, 'worker2', PASSWORD);
});
afterAll(async () => {
  await t?.destroy();
});

describe('layout through publish', () => {
  it('publishes a layout, returns it, and a layout-only change makes a version without table changes', async () => {
    const def = withLayout();
    const first = await admin.inject({ method: 'POST', url: '/api/v1/apps/publish', payload: { definition: def } });
    expect(first.statusCode, first.body).toBe(200);
    const got = await admin.inject('/api/v1/apps/layout_demo');
    expect(got.json().definition.entities[0].layout).toEqual(def.entities[0]!.layout);
    const v2 = clone(def);
    v2.entities[0]!.layout!.kind = 'tabs';
    const diff = await admin.inject({ method: 'POST', url: '/api/v1/apps/diff', payload: { definition: v2 } });
    expect(diff.json().changes.every((c: { destructive: boolean }) => !c.destructive)).toBe(true);
    const second = await admin.inject({ method: 'POST', url: '/api/v1/apps/publish', payload: { definition: v2 } });
    expect(second.json()).toMatchObject({ version: 2, applied: true });
  });
});

describe('drafts', () => {
  const draft = () => ({ name: 'draft_demo', label: { zh: '草稿应用' }, entities: [{ name: 'thing', label: { zh: '东西' }, fields: [] }] });

  it('saves an unfinished definition (not yet valid), reads it back, lists it', async () => {
    const put = await builder.inject({ method: 'PUT', url: '/api/v1/app-drafts/draft_demo', payload: { definition: draft() } });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({ app: 'draft_demo', revision: 1, basedOnVersion: null });
    // An entity without fields would not publish; as a draft it is kept as is.
    expect(validateApp(draft()).ok).toBe(false);
    const get = await builder.inject('/api/v1/app-drafts/draft_demo');
    expect(get.json().definition).toEqual(draft());
    const list = await admin.inject('/api/v1/app-drafts');
    expect(list.json().drafts).toEqual([expect.objectContaining({ app: 'draft_demo', revision: 1, label: { zh: '草稿应用' } })]);
    expect(list.json().drafts[0].definition).toBeUndefined();
  });

  it('refuses a stale save, a mismatched name and a non-outline, and non-builders', async () => {
    const next = { ...draft(), description: 'v2' };
    const ok = await builder.inject({ method: 'PUT', url: '/api/v1/app-drafts/draft_demo', payload: { definition: next, baseRevision: 1 } });
    expect(ok.json().revision).toBe(2);
    const stale = await admin.inject({ method: 'PUT', url: '/api/v1/app-drafts/draft_demo', payload: { definition: draft(), baseRevision: 1 } });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().detail).toContain('revision 2');
    const wrongName = await builder.inject({ method: 'PUT', url: '/api/v1/app-drafts/draft_demo', payload: { definition: { ...draft(), name: 'other' } } });
    expect(wrongName.statusCode).toBe(400);
    expect(wrongName.json().errors[0]).toMatchObject({ path: 'name' });
    const junk = await builder.inject({ method: 'PUT', url: '/api/v1/app-drafts/draft_demo', payload: { definition: { name: 'draft_demo' } } });
    expect(junk.statusCode).toBe(400);
    expect(junk.json().errors.map((e: { path: string }) => e.path)).toEqual(expect.arrayContaining(['label', 'entities']));
    expect((await employee.inject('/api/v1/app-drafts')).statusCode).toBe(403);
    expect((await employee.inject({ method: 'PUT', url: '/api/v1/app-drafts/draft_demo', payload: { definition: draft() } })).statusCode).toBe(403);
    expect((await builder.inject('/api/v1/app-drafts/draft_demo')).json().description).toBeUndefined();
    expect((await builder.inject('/api/v1/app-drafts/draft_demo')).json().definition.description).toBe('v2');
  });

  it('remembers which published version a draft started from, audits saves and discards', async () => {
    const put = await builder.inject({ method: 'PUT', url: '/api/v1/app-drafts/layout_demo', payload: { definition: withLayout() } });
    expect(put.json()).toMatchObject({ basedOnVersion: 2, revision: 1 });
    const del = await builder.inject({ method: 'DELETE', url: '/api/v1/app-drafts/layout_demo' });
    expect(del.statusCode).toBe(204);
    expect((await builder.inject('/api/v1/app-drafts/layout_demo')).statusCode).toBe(404);
    expect((await builder.inject({ method: 'DELETE', url: '/api/v1/app-drafts/layout_demo' })).statusCode).toBe(404);
    const audit = await t.ctx.db.query<{ action: string }>(`select action from audit_log where target_type = 'app' and target_id = 'layout_demo' order by seq`);
    expect(audit.rows.map((r) => r.action)).toEqual(['app.publish', 'app.publish', 'app.draft.save', 'app.draft.delete']);
  });
});
