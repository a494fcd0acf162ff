// The connector form's pure parts (src/web/integration/schemaForm.ts), driven by the JSON Schemas
// the drivers really publish: which fields a schema gives, and that a stored configuration shown in
// the form and saved unchanged comes back as the same configuration the driver's zod schema takes.
import { describe, expect, it } from 'vitest';
import { driverKinds, getDriver } from '../src/server/integration/index.ts';
import { driverInfo } from '../src/server/integration/drivers/registry.ts';
import { buildConfig, buildSecrets, FieldInputError, fieldAt, fieldsOf, initialValues, visible, type FormField } from '../src/web/integration/schemaForm.ts';

const info = (kind: string) => driverInfo(getDriver(kind)!);
const byKey = (fields: FormField[]) => Object.fromEntries(fields.map((f) => [f.key, f]));

/** Configurations that use every kind of field the drivers have: nested sections, maps, lists, JSON. */
const RICH: Record<string, Record<string, unknown>> = {
  http: {
    url: 'https://erp.plant.local/api/orders',
    method: 'PUT',
    auth: 'oauth2',
    oauth2: { tokenUrl: 'https://erp.plant.local/token', scope: 'orders', clientAuth: 'body' },
    headers: { 'X-Plant': '01', 'X-Line': 'A' },
    timeoutMs: 5000,
    responseMapping: 'body.id',
    lookup: { urlTemplate: 'https://erp.plant.local/api/orders/{idempotencyKey}' },
    rejectUnauthorized: false,
    source: { url: 'https://erp.plant.local/api/materials', items: 'body.items', pagination: { style: 'page', pageSize: 50 } },
  },
  tryton: { url: 'http://erp.plant.local:8000', database: 'erp', username: 'trellis', language: 'zh_CN', idempotencyFields: { production: 'reference' } },
  sql: { dialect: 'mysql', host: 'db', port: 3306, database: 'erp', ssl: true, objects: { material: { table: 'product', watermark: 'write_date', columns: ['code', 'name'] } } },
  nats: { servers: ['nats://a:4222', 'nats://b:4222'], stream: 'S', subjectPrefix: 'trellis', createStream: false },
  file: { folder: '/srv/exchange', format: 'xlsx', columns: ['code', 'qty'], maxBytes: 1000 },
  amqp: { url: 'amqp://127.0.0.1:5672/', exchange: 'trellis', exchangeType: 'fanout', queue: 'q1', heartbeatSeconds: 0 },
  mqtt: { url: 'mqtt://127.0.0.1:1883', topic: 'plant/orders', retain: true },
  smtp: { host: 'smtp.plant.local', port: 465, security: 'tls', from: 'trellis@plant.local', fromName: 'Trellis' },
  wecom: { msgtype: 'text' },
  dingtalk: {},
  feishu: { baseUrl: 'https://open.larksuite.com' },
  sample_erp: {},
};

describe('connector form from the published JSON Schema', () => {
  it('gives the HTTP driver its fields: kinds, required, defaults, bounds, and sections tied to a choice', () => {
    const f = byKey(fieldsOf(info('http').configSchema));
    expect(f.url).toMatchObject({ kind: 'text', required: true, label: { zh: '目标地址 (URL)', en: 'Destination URL' }, placeholder: 'https://erp.plant.local/api/orders' });
    expect(f.method).toMatchObject({ kind: 'select', options: ['POST', 'PUT', 'PATCH', 'DELETE'], default: 'POST', required: false });
    expect(f.headers!.kind).toBe('keyvalue');
    expect(f.timeoutMs).toMatchObject({ kind: 'number', integer: true, min: 50, max: 300_000, placeholder: '10000' });
    expect(f.rejectUnauthorized).toMatchObject({ kind: 'bool', default: true });
    expect(f.responseMapping).toMatchObject({ kind: 'text', widget: 'code' });
    // oauth2 opens up into its own fields, shown (and needed) only for auth = oauth2.
    expect(f['oauth2.tokenUrl']).toMatchObject({ kind: 'text', required: true, when: { auth: ['oauth2'] }, section: { zh: 'OAuth2 客户端凭据', en: 'OAuth2 client credentials' } });
    expect(f.url!.section).toBeUndefined();
    expect(f['oauth2.clientAuth']).toMatchObject({ kind: 'select', when: { auth: ['oauth2'] } });
    expect(f['lookup.urlTemplate']).toMatchObject({ required: false });
    expect(f.lookup).toBeUndefined();
    // The source section holds a union (pagination styles): one JSON field.
    expect(f.source!.kind).toBe('json');
    expect(f['source.url']).toBeUndefined();
  });

  it('shows only the secrets of the chosen authentication', () => {
    const secrets = fieldsOf(info('http').secretSchema);
    const shown = (auth: string) => secrets.filter((s) => visible(s, { auth })).map((s) => s.key);
    expect(shown('bearer')).toEqual(['token', 'clientCertPem', 'clientKeyPem', 'caPem', 'headers']);
    expect(shown('basic')).toEqual(['username', 'password', 'clientCertPem', 'clientKeyPem', 'caPem', 'headers']);
    expect(byKey(secrets).caPem!.widget).toBe('multiline');
    // Typed but hidden (basic credentials while bearer is chosen) is not sent; empty fields neither.
    expect(buildSecrets(secrets, { username: 'u', password: 'p', token: 'tok', caPem: '' }, { auth: 'bearer' })).toEqual({ token: 'tok' });
    expect(buildSecrets(secrets, { username: '' }, { auth: 'basic' })).toBeUndefined();
    expect(buildSecrets(secrets, { headers: 'X-Api-Key: k1' }, { auth: 'none' })).toEqual({ headers: { 'X-Api-Key': 'k1' } });
  });

  it('offers every field of either credential set when the secrets are a union (NATS: user and password, or a token)', () => {
    const f = fieldsOf(info('nats').secretSchema);
    expect(f.map((x) => [x.key, x.required])).toEqual([
      ['user', false],
      ['pass', false],
      ['token', false],
    ]);
    expect(byKey(fieldsOf(info('nats').configSchema)).servers).toMatchObject({ kind: 'tags', required: true });
  });

  it('a new connector starts at the driver defaults for choices and switches', () => {
    expect(initialValues(fieldsOf(info('http').configSchema), undefined)).toEqual({
      values: { method: 'POST', auth: 'none', 'oauth2.clientAuth': 'basic', rejectUnauthorized: true },
      advanced: '',
    });
    // Saved untouched, the choices equal the defaults and the server's zod check accepts it once a URL is typed.
    const { values } = initialValues(fieldsOf(info('http').configSchema), undefined);
    const cfg = buildConfig(fieldsOf(info('http').configSchema), { ...values, url: ' https://x.example/in ' }, '');
    expect(cfg).toEqual({ url: 'https://x.example/in', method: 'POST', auth: 'none', rejectUnauthorized: true });
    expect(getDriver('http')!.configSchema.safeParse(cfg).success).toBe(true);
  });

  it('round-trips every driver: a stored configuration shown and saved unchanged is the same configuration', () => {
    expect(Object.keys(RICH).sort()).toEqual(driverKinds());
    for (const kind of driverKinds()) {
      const driver = getDriver(kind)!;
      const cfg = RICH[kind]!;
      expect(driver.configSchema.safeParse(cfg).success, `${kind} sample`).toBe(true);
      const fields = fieldsOf(info(kind).configSchema);
      const { values, advanced } = initialValues(fields, cfg);
      expect(advanced, `${kind}: every setting has a field`).toBe('');
      const saved = buildConfig(fields, values, advanced);
      expect(driver.configSchema.parse(saved), kind).toEqual(driver.configSchema.parse(cfg));
    }
  });

  it('keeps settings the form has no field for in the advanced JSON, and writes them back', () => {
    const fields = fieldsOf(info('mqtt').configSchema);
    const { values, advanced } = initialValues(fields, { url: 'mqtt://h:1883', legacyOption: { a: 1 } });
    expect(JSON.parse(advanced)).toEqual({ legacyOption: { a: 1 } });
    expect(buildConfig(fields, values, advanced)).toMatchObject({ url: 'mqtt://h:1883', legacyOption: { a: 1 } });
  });

  it('says which field holds a value that cannot be saved, and where a server error belongs', () => {
    const sql = fieldsOf(info('sql').configSchema);
    expect(() => buildConfig(sql, { objects: '{"material": ' }, '')).toThrow(FieldInputError);
    try {
      buildConfig(sql, { objects: '{"material": ' }, '');
    } catch (e) {
      expect((e as FieldInputError).key).toBe('objects');
    }
    const tryton = fieldsOf(info('tryton').configSchema);
    expect(() => buildConfig(tryton, { idempotencyFields: 'production reference' }, '')).toThrow(/production reference/);
    const http = fieldsOf(info('http').configSchema);
    expect(fieldAt(http, 'oauth2.tokenUrl')?.key).toBe('oauth2.tokenUrl');
    expect(fieldAt(http, 'headers.X-Bad Name')?.key).toBe('headers');
    expect(fieldAt(http, 'source.pagination.style')?.key).toBe('source');
    expect(fieldAt(http, 'colour')).toBeUndefined();
  });
});
