// The modeling HTTP API, the CLI commands and the file formats (YAML/JSON round trip).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/server/config.ts';
import { hashPassword, createUser } from '../src/server/platform/auth/index.ts';
import { systemActor } from '../src/server/platform/index.ts';
import { appCommands, runAppDiff, runAppExport, runAppImport, runAppValidate, type CliIo } from '../src/server/modeling/cli.ts';
import { FIELD_TYPES } from '../src/shared/definition.ts';
import { listApps, modelingEngine, parseDefinition, readCatalog, seedCatalog, serializeDefinition } from '../src/server/modeling/index.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { app, clone, entity, field } from './modeling-helpers.ts';
import { testTarget } from './helpers/db.ts';

let t: TestTrellis;
let admin: TestSession;
let builder: TestSession;
let employee: TestSession;
const PASSWORD = 'Builder-Pass-2026!';

beforeAll(async () => {
  t = await createTestTrellis();
  const hash = await hashPassword(PASSWORD);
  await t.ctx.db.tx(async (tx) => {
    await createUser(tx, systemActor, { username: 'builder1', displayName: 'Builder', passwordHash: hash, roles: ['employee', 'app_builder'] }, new Date());
    await createUser(tx, systemActor, { username: 'worker1', displayName: 'Worker', passwordHash: hash, roles: ['employee'] }, new Date());
  });
  admin = await loginAs(t);
  builder = await loginAs(t, 'builder1', PASSWORD);
  employee = await loginAs(t, 'worker1', PASSWORD);
});
afterAll(async () => {
  await t?.destroy();
});

const sample = () =>
  app('api_demo', [
    entity('ticket', [field('title', 'text', { required: true }), field('qty', 'integer'), field('kind', 'select')], {
      namingSeries: 'TK-{YYYY}-{####}',
      permissions: [{ role: 'employee', actions: ['read', 'create'], scope: 'own' }],
    }),
  ]);

describe('modeling API', () => {
  it('serves the JSON Schema of a definition to anyone', async () => {
    const r = await t.app.inject({ url: '/api/v1/schema/app.json' });
    expect(r.statusCode).toBe(200);
    const schema = r.json();
    expect(schema.type).toBe('object');
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'label', 'entities']));
    expect(schema.additionalProperties).toBe(false);
    const text = JSON.stringify(schema);
    for (const tp of FIELD_TYPES) expect(text).toContain(`"${tp}"`);
  });

  it('needs a signed-in user to read apps, and a builder role to publish', async () => {
    expect((await t.app.inject({ url: '/api/v1/apps' })).statusCode).toBe(401);
    const denied = await employee.inject({ method: 'POST', url: '/api/v1/apps/publish', payload: { definition: sample() } });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().detail).toContain('app_builder');
    const ok = await builder.inject({ method: 'POST', url: '/api/v1/apps/publish', payload: { definition: sample() } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ app: 'api_demo', version: 1, applied: true });
    const list = await employee.inject('/api/v1/apps');
    expect(list.json().apps.find((a: { name: string }) => a.name === 'api_demo')).toMatchObject({ currentVersion: 1, entities: 1 });
  });

  it('validates JSON and YAML bodies with named paths', async () => {
    const ok = await admin.inject({ method: 'POST', url: '/api/v1/apps/validate', payload: sample() });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ ok: true, errors: [] });
    const bad = clone(sample()) as any;
    bad.entities[0].fields[1].type = 'float';
    const r = await admin.inject({ method: 'POST', url: '/api/v1/apps/validate', payload: bad });
    expect(r.statusCode).toBe(400);
    expect(r.headers['content-type']).toContain('application/problem+json');
    expect(r.json().errors[0]).toMatchObject({ path: 'entities.ticket.fields.qty.type', message: expect.stringContaining('must be one of') });
    const yaml = await admin.inject({ method: 'POST', url: '/api/v1/apps/validate', payload: YAML.stringify(sample()), headers: { 'content-type': 'application/yaml' } });
    expect(yaml.statusCode).toBe(200);
    const broken = await admin.inject({ method: 'POST', url: '/api/v1/apps/validate', payload: 'name: [unclosed', headers: { 'content-type': 'application/yaml' } });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().detail).toContain('not valid YAML');
  });

  it('diffs, refuses destructive publishes with a 409 listing each change, and publishes YAML', async () => {
    const v2 = clone(sample());
    v2.entities[0]!.fields = v2.entities[0]!.fields.filter((f) => f.name !== 'qty');
    v2.entities[0]!.fields.push(field('due', 'date'));
    const diff = await admin.inject({ method: 'POST', url: '/api/v1/apps/diff', payload: { definition: v2 } });
    expect(diff.statusCode).toBe(200);
    expect(diff.json().applied).toBe(false);
    expect(diff.json().changes.map((c: { kind: string }) => c.kind)).toEqual(expect.arrayContaining(['drop_field', 'add_field']));

    const refused = await admin.inject({ method: 'POST', url: '/api/v1/apps/publish', payload: { definition: v2 } });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ title: 'Destructive change needs confirmation', errors: [{ path: 'entities.ticket.fields.qty' }] });

    const yaml = await admin.inject({
      method: 'POST',
      url: '/api/v1/apps/publish?confirmDestructive=true',
      payload: YAML.stringify(v2),
      headers: { 'content-type': 'application/yaml' },
    });
    expect(yaml.statusCode).toBe(200);
    expect(yaml.json()).toMatchObject({ version: 2, applied: true });
  });

  it('lists versions, returns each, rolls back, and exports YAML/JSON that round-trip', async () => {
    const versions = await admin.inject('/api/v1/apps/api_demo/versions');
    expect(versions.json().versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    const v1 = await admin.inject('/api/v1/apps/api_demo/versions/1');
    expect(v1.json().definition.entities[0].fields.map((f: { name: string }) => f.name)).toEqual(['title', 'qty', 'kind']);
    expect((await admin.inject('/api/v1/apps/api_demo/versions/9')).statusCode).toBe(404);
    expect((await admin.inject('/api/v1/apps/nope')).statusCode).toBe(404);

    const back = await admin.inject({ method: 'POST', url: '/api/v1/apps/api_demo/rollback', payload: { version: 1 } });
    expect(back.statusCode).toBe(409);
    const back2 = await admin.inject({ method: 'POST', url: '/api/v1/apps/api_demo/rollback', payload: { version: 1, confirmDestructive: true } });
    expect(back2.statusCode).toBe(200);
    expect(back2.json().version).toBe(3);
    const current = await admin.inject('/api/v1/apps/api_demo');
    expect(current.json()).toMatchObject({ app: 'api_demo', version: 3 });

    const y = await admin.inject('/api/v1/apps/api_demo/export?format=yaml');
    expect(y.headers['content-type']).toContain('application/yaml');
    expect(y.headers['content-disposition']).toContain('api_demo.yaml');
    // Keys come back in the definition's order, not jsonb's.
    expect(y.body.indexOf('name: api_demo')).toBeLessThan(y.body.indexOf('label:'));
    const fromYaml = parseDefinition(y.body, 'yaml');
    const j = await admin.inject('/api/v1/apps/api_demo/export?format=json');
    const fromJson = parseDefinition(j.body, 'json');
    expect(fromYaml).toEqual(fromJson);
    expect(fromYaml).toEqual(sample());
    // Re-publishing the export changes nothing physical.
    const again = await admin.inject({ method: 'POST', url: '/api/v1/apps/publish', payload: { definition: fromYaml } });
    expect(again.json().changes).toEqual([]);
  });

  it('refuses bad rollback and publish bodies with 4xx', async () => {
    expect((await admin.inject({ method: 'POST', url: '/api/v1/apps/api_demo/rollback', payload: { version: 'one' } })).statusCode).toBe(400);
    expect((await admin.inject({ method: 'POST', url: '/api/v1/apps/api_demo/rollback', payload: { version: 42 } })).statusCode).toBe(404);
    const extra = await admin.inject({ method: 'POST', url: '/api/v1/apps/publish', payload: { definition: sample(), force: true } });
    expect(extra.statusCode).toBe(400);
    const junk = await admin.inject({ method: 'POST', url: '/api/v1/apps/publish', payload: [1, 2, 3] });
    expect(junk.statusCode).toBe(400);
  });
});

describe('catalog', () => {
  it('bootstrap publishes every catalog app once, only when seeding the demo', async () => {
    await modelingEngine.bootstrap!(t.ctx, { seedDemo: false, announce: () => {} });
    expect((await listApps(t.ctx.db)).some((a) => a.name === 'visitor')).toBe(false);
    await modelingEngine.bootstrap!(t.ctx, { seedDemo: true, announce: () => {} });
    const apps = await listApps(t.ctx.db);
    for (const c of readCatalog()) expect(apps.find((a) => a.name === c.name), c.file).toMatchObject({ currentVersion: 1 });
    const tables = await t.ctx.db.query<{ table_name: string }>(`select table_name from information_schema.tables where table_name in ('x_visitor__visit', 'x_training__session', 'x_training__attendee')`);
    expect(tables.rows).toHaveLength(3);
    expect(await seedCatalog(t.ctx)).toEqual([]); // already there: nothing to do
    const visit = await admin.inject('/api/v1/apps/visitor');
    expect(visit.json().definition.entities[0].namingSeries).toBe('VR-{YYYY}-{####}');
  });
});

describe('files and CLI', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-modeling-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    const sink: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l) };
    return { out, err, sink };
  };

  it('round-trips every catalog app through YAML and JSON', () => {
    for (const c of readCatalog()) {
      const def = c.definition as never;
      expect(parseDefinition(serializeDefinition(def, 'yaml'), 'yaml')).toEqual(def);
      expect(parseDefinition(serializeDefinition(def, 'json'), 'json')).toEqual(def);
    }
  });

  it('app validate prints each problem with its path and exits 1', async () => {
    const bad = clone(sample()) as any;
    bad.entities[0].fields.push({ name: 'order', type: 'text', label: { zh: 'x' } });
    const file = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(file, YAML.stringify(bad));
    const o = io();
    expect(await runAppValidate([file], o.sink)).toBe(1);
    expect(o.err.join('\n')).toContain('entities.ticket.fields.order.name: "order" is a reserved word');
    const good = path.join(tmp, 'good.json');
    fs.writeFileSync(good, JSON.stringify(sample()));
    const o2 = io();
    expect(await runAppValidate([good], o2.sink)).toBe(0);
    expect(o2.out[0]).toContain('OK');
    const o3 = io();
    expect(await runAppValidate([], o3.sink)).toBe(2);
    fs.writeFileSync(path.join(tmp, 'broken.json'), '{"name": ');
    const o4 = io();
    expect(await runAppValidate([path.join(tmp, 'broken.json')], o4.sink)).toBe(1);
    expect(o4.err[0]).toContain('not valid JSON');
  });

  it('app import / diff / export work against the database', async () => {
    const def = app('cli_demo', [entity('thing', [field('title', 'text')])]);
    const file = path.join(tmp, 'cli_demo.yaml');
    fs.writeFileSync(file, YAML.stringify(def));
    const o = io();
    expect(await runAppImport(t.ctx.db, t.ctx.config, [file], o.sink)).toBe(0);
    expect(o.out[0]).toContain('Published "cli_demo" version 1');

    const v2 = clone(def);
    v2.entities[0]!.fields = [field('other', 'text')];
    fs.writeFileSync(file, YAML.stringify(v2));
    const d = io();
    expect(await runAppDiff(t.ctx.db, t.ctx.config, [file], d.sink)).toBe(0);
    expect(d.out.join('\n')).toMatch(/! drop_field\s+field "thing.title" is removed/);
    const refused = io();
    expect(await runAppImport(t.ctx.db, t.ctx.config, [file], refused.sink)).toBe(1);
    expect(refused.err.join('\n')).toContain('entities.thing.fields.title');
    expect(await runAppImport(t.ctx.db, t.ctx.config, [file, '--confirm-destructive'], io().sink)).toBe(0);

    const out = path.join(tmp, 'exported.json');
    const e = io();
    expect(await runAppExport(t.ctx.db, ['cli_demo', '--out', out], e.sink)).toBe(0);
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual(v2);
    const e2 = io();
    expect(await runAppExport(t.ctx.db, ['cli_demo', '--format', 'yaml'], e2.sink)).toBe(0);
    expect(YAML.parse(e2.out.join('\n'))).toEqual(v2);
    expect(await runAppExport(t.ctx.db, ['missing_app'], io().sink)).toBe(1);
  });

  it('the registered command opens the configured database and migrates first', async () => {
    const file = path.join(tmp, 'via_command.json');
    fs.writeFileSync(file, JSON.stringify(app('via_cmd', [entity('thing', [field('title', 'text')])])));
    const env: Record<string, string> = { TRELLIS_LOG_LEVEL: 'silent' };
    if (testTarget === 'postgres') env.DATABASE_URL = t.testDb.url!;
    else env.TRELLIS_DATA_DIR = path.join(tmp, 'data');
    const config = loadConfig(env);
    const cmd = appCommands.find((c) => c.name === 'app import')!;
    const logs: string[] = [];
    const orig = console.log;
    console.log = (l: string) => void logs.push(String(l));
    try {
      expect(await cmd.run([file], config)).toBe(0);
    } finally {
      console.log = orig;
    }
    expect(logs[0]).toContain('Published "via_cmd" version 1');
  });
});
