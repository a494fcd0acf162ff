// GET /integration/drivers publishes every driver's config and secret schema as JSON Schema (from
// the driver's zod schema, labels and form hints under x-trellis). The published schema must agree
// with the zod schema the server validates with: checked with a real JSON-Schema validator (Ajv,
// the one Fastify itself compiles route schemas with) on a known-good configuration per driver and
// on wrong values derived from every published property.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { driverKinds, getDriver } from '../src/server/integration/index.ts';
import { UI_KEY, type DriverInfo, type JsonSchema } from '../src/shared/integration-api.ts';
import { fieldsOf } from '../src/web/integration/schemaForm.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { testTarget } from './helpers/db.ts';

// Ajv 8 (draft 2020-12), the validator Fastify compiles route schemas with: a devDependency of ours.
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

/** A smallest valid configuration (and secrets) per driver: a new driver must add its own here. */
const GOOD: Record<string, { config: Record<string, unknown>; secrets?: Record<string, unknown>[] }> = {
  amqp: { config: { url: 'amqp://127.0.0.1:5672/', exchange: 'trellis' }, secrets: [{ username: 'u', password: 'p' }] },
  dingtalk: { config: {}, secrets: [{ accessToken: 't' }, { accessToken: 't', secret: 'SEC1' }] },
  feishu: { config: {}, secrets: [{ hookId: 'h-1' }] },
  file: { config: { folder: '/srv/exchange' } },
  http: { config: { url: 'http://127.0.0.1:9/in' }, secrets: [{}, { token: 't' }, { username: 'u', password: 'p', headers: { 'X-Key': 'k' } }] },
  mqtt: { config: { url: 'mqtt://127.0.0.1:1883' }, secrets: [{ username: 'u', password: 'p' }] },
  nats: { config: { servers: ['nats://127.0.0.1:4222'], stream: 'S', subjectPrefix: 'trellis' }, secrets: [{ user: 'u', pass: 'p' }, { token: 't' }] },
  sample_erp: { config: {} },
  smtp: { config: { host: 'smtp.plant.local', from: 'trellis@plant.local' }, secrets: [{ user: 'u', password: 'p' }] },
  sql: { config: { dialect: 'postgres', host: 'db', database: 'erp', objects: { material: { table: 'product', watermark: 'write_date' } } }, secrets: [{ user: 'u', password: 'p' }] },
  tryton: { config: { url: 'http://erp.plant.local:8000', database: 'erp', username: 'trellis' }, secrets: [{ password: 'p' }] },
  wecom: { config: {}, secrets: [{ key: 'k' }] },
};

const typeOf = (s: JsonSchema) => (Array.isArray(s.type) ? s.type[0] : s.type);

/** Values of the wrong kind for a property, from what its schema says it takes. */
function wrongValues(s: JsonSchema): unknown[] {
  const out: unknown[] = [];
  if (Array.isArray(s.enum)) out.push('__not-a-choice__');
  switch (typeOf(s)) {
    case 'string':
      out.push(123, true);
      if (s.maxLength !== undefined) out.push('x'.repeat(s.maxLength + 1));
      break;
    case 'integer':
    case 'number':
      out.push('12', false);
      if (typeOf(s) === 'integer') out.push(1.5);
      if (s.minimum !== undefined) out.push(s.minimum - 1);
      if (s.maximum !== undefined) out.push(s.maximum + 1);
      break;
    case 'boolean':
      out.push('yes', 1);
      break;
    case 'array':
      out.push('a', { a: 1 });
      if (s.minItems) out.push([]);
      break;
    case 'object':
      out.push('a', 1, []);
      break;
  }
  return out;
}

/** Every property of an object schema, through a union of objects. */
const propertiesOf = (s: JsonSchema): Record<string, JsonSchema> => Object.assign({}, s.properties, ...(s.anyOf ?? []).map((b) => b.properties ?? {}));

describe(`driver JSON Schemas (${testTarget})`, () => {
  let t: TestTrellis;
  let s: TestSession;
  let items: DriverInfo[];

  beforeAll(async () => {
    t = await createTestTrellis({ env: { TRELLIS_SECRET_KEY: 'driver-schema-test-key' } });
    s = await loginAs(t);
    const res = await s.inject({ method: 'GET', url: '/api/v1/integration/drivers' });
    expect(res.statusCode).toBe(200);
    items = (res.json() as { items: DriverInfo[] }).items;
  });
  afterAll(async () => {
    await t?.destroy();
  });

  it('publishes a config JSON Schema for every registered driver, and a secret schema exactly when it takes secrets', () => {
    expect(items.map((d) => d.kind)).toEqual(driverKinds());
    expect(Object.keys(GOOD).sort()).toEqual(driverKinds());
    for (const d of items) {
      const driver = getDriver(d.kind)!;
      expect(d.configSchema.$schema, d.kind).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(d.configSchema.type, d.kind).toBe('object');
      // Strict zod objects: unknown keys are refused on both sides.
      expect(d.configSchema.additionalProperties, d.kind).toBe(false);
      expect(d.secrets).toBe(Boolean(driver.secretSchema));
      expect(d.secretSchema === null).toBe(!driver.secretSchema);
      // The same document as z.toJSONSchema gives for the zod schema the server parses with.
      expect(d.configSchema).toEqual(z.toJSONSchema(driver.configSchema, { io: 'input', unrepresentable: 'any' }));
    }
  });

  it('labels every field in Chinese and English (the form has no labels of its own)', () => {
    for (const d of items) {
      for (const [which, schema] of [['config', d.configSchema], ['secrets', d.secretSchema]] as const) {
        for (const [name, p] of Object.entries(schema ? propertiesOf(schema) : {})) {
          const hint = p[UI_KEY];
          expect(hint?.label.zh, `${d.kind} ${which}.${name}`).toMatch(/\S/);
          expect(hint?.label.en, `${d.kind} ${which}.${name}`).toMatch(/\S/);
          expect(p.title).toBe(hint?.label.en);
        }
        // Nested sections the form opens up (oauth2.tokenUrl) are labelled too.
        for (const f of fieldsOf(schema)) expect(f.label.zh, `${d.kind} ${which} ${f.key}`).not.toBe(f.key);
      }
    }
    const http = items.find((d) => d.kind === 'http')!;
    expect(http.configSchema.properties!.url![UI_KEY]!.label).toEqual({ zh: '目标地址 (URL)', en: 'Destination URL' });
    expect(http.secretSchema!.properties!.token![UI_KEY]!.when).toEqual({ auth: ['bearer'] });
  });

  it('agrees with zod: a good configuration passes both, required keys and defaults are the same', () => {
    for (const d of items) {
      const driver = getDriver(d.kind)!;
      const good = GOOD[d.kind]!;
      const validate = ajv.compile(d.configSchema);
      expect(driver.configSchema.safeParse(good.config).success, d.kind).toBe(true);
      expect(validate(good.config), `${d.kind}: ${JSON.stringify(validate.errors)}`).toBe(true);

      // Required: dropping a key the JSON Schema requires makes zod refuse it, and dropping any other does not.
      const required = new Set(d.configSchema.required ?? []);
      for (const key of Object.keys(good.config)) {
        const without = { ...good.config };
        delete without[key];
        expect(driver.configSchema.safeParse(without).success, `${d.kind} without ${key}`).toBe(!required.has(key));
        expect(validate(without), `${d.kind} without ${key}`).toBe(!required.has(key));
      }
      for (const key of required) expect(Object.keys(good.config), `${d.kind}: the sample holds every required key`).toContain(key);

      // Defaults: what the JSON Schema states is what zod fills in.
      const parsed = driver.configSchema.parse(good.config) as Record<string, unknown>;
      for (const [key, p] of Object.entries(d.configSchema.properties ?? {})) {
        if (p.default !== undefined) expect(parsed[key], `${d.kind}.${key} default`).toEqual(p.default);
      }

      if (driver.secretSchema) {
        const validateSecrets = ajv.compile(d.secretSchema!);
        for (const sec of good.secrets ?? []) {
          expect(driver.secretSchema.safeParse(sec).success, `${d.kind} secrets ${JSON.stringify(sec)}`).toBe(true);
          expect(validateSecrets(sec), `${d.kind} secrets ${JSON.stringify(sec)}`).toBe(true);
        }
      }
    }
  });

  it('agrees with zod on wrong values: every wrong-typed, out-of-range, unknown-choice or unknown key is refused by both', () => {
    let checked = 0;
    for (const d of items) {
      const driver = getDriver(d.kind)!;
      const good = GOOD[d.kind]!;
      const validate = ajv.compile(d.configSchema);
      const extra = { ...good.config, __unknown: 1 };
      expect(driver.configSchema.safeParse(extra).success).toBe(false);
      expect(validate(extra)).toBe(false);
      for (const [key, p] of Object.entries(d.configSchema.properties ?? {})) {
        for (const bad of wrongValues(p)) {
          const cfg = { ...good.config, [key]: bad };
          const label = `${d.kind}.${key} = ${JSON.stringify(bad).slice(0, 40)}`;
          expect(driver.configSchema.safeParse(cfg).success, `zod: ${label}`).toBe(false);
          expect(validate(cfg), `JSON Schema: ${label}`).toBe(false);
          checked++;
        }
      }
      if (driver.secretSchema) {
        const validateSecrets = ajv.compile(d.secretSchema!);
        const base = good.secrets?.[good.secrets.length - 1] ?? {};
        for (const [key, p] of Object.entries(propertiesOf(d.secretSchema!))) {
          for (const bad of wrongValues(p)) {
            const sec = { ...base, [key]: bad };
            expect(driver.secretSchema.safeParse(sec).success, `zod: ${d.kind} secrets.${key}`).toBe(false);
            expect(validateSecrets(sec), `JSON Schema: ${d.kind} secrets.${key}`).toBe(false);
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(150);
  });

  it('leaves checks JSON Schema cannot state to the server: the published schema is looser there, never stricter', () => {
    const file = items.find((d) => d.kind === 'file')!;
    const relative = { folder: 'relative/path' };
    expect(ajv.compile(file.configSchema)(relative)).toBe(true);
    expect(getDriver('file')!.configSchema.safeParse(relative).success).toBe(false);
    const http = items.find((d) => d.kind === 'http')!;
    const badJsonata = { url: 'http://127.0.0.1:9/in', responseMapping: 'body.(' };
    expect(ajv.compile(http.configSchema)(badJsonata)).toBe(true);
    expect(getDriver('http')!.configSchema.safeParse(badJsonata).success).toBe(false);
  });

  it('the server still answers a bad configuration with problem+json naming the field', async () => {
    const res = await s.inject({ method: 'POST', url: '/api/v1/integration/connectors', payload: { name: 'amqp-1', kind: 'amqp', config: { url: 'amqp://127.0.0.1/', exchange: 'x', heartbeatSeconds: 9999 } } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect((res.json() as { errors: { path: string }[] }).errors.map((e) => e.path)).toContain('body.config.heartbeatSeconds');
  });
});
