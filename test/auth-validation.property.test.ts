// Property-based: whatever a client sends to the auth endpoints, the answer is a 4xx
// problem+json (never a 500), invalid bodies name the offending paths, and they write nothing.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, hashPassword, knownScopes } from '../src/server/platform/auth/index.ts';
import { systemActor } from '../src/server/platform/index.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';

const PASSWORD = 'Property-Pass-1';
let t: TestTrellis;
let s: TestSession;
let ip = 0;
/** Every request from its own address: the per-IP attempt limit is tested elsewhere. */
const nextIp = () => {
  ip++;
  return `10.77.${(ip >> 8) & 255}.${ip & 255}`;
};

beforeAll(async () => {
  t = await createTestTrellis();
  const hash = await hashPassword(PASSWORD);
  await t.ctx.db.tx((tx) => createUser(tx, systemActor, { username: 'prop', displayName: 'Prop', passwordHash: hash }, new Date()));
  s = await loginAs(t, 'prop', PASSWORD);
});
afterAll(async () => {
  await t?.destroy();
});

type Res = { statusCode: number; headers: Record<string, unknown>; body: string; json: () => any };

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const onlyKeys = (o: Record<string, unknown>, allowed: string[]) => Object.keys(o).every((k) => allowed.includes(k));
const str = (v: unknown, min: number, max: number) => typeof v === 'string' && v.length >= min && v.length <= max;
/** Object keys that Fastify's JSON parser refuses outright (prototype poisoning). */
const poisoned = (json: string) => /"(__proto__|constructor|prototype)"/.test(json);

const auditCount = async () => (await t.ctx.db.query<{ n: number }>('select count(*)::int as n from audit_log')).rows[0]!.n;

function expectNo500(r: Res) {
  expect(r.statusCode).toBeLessThan(500);
  expect(r.statusCode).toBeGreaterThanOrEqual(200);
}

function expectValidationProblem(r: Res) {
  expect(r.statusCode).toBe(400);
  expect(String(r.headers['content-type'])).toContain('application/problem+json');
  const p = r.json();
  expect(Array.isArray(p.errors)).toBe(true);
  expect(p.errors.length).toBeGreaterThan(0);
  for (const e of p.errors) {
    expect(typeof e.path).toBe('string');
    expect(e.path.startsWith('body')).toBe(true);
    expect(typeof e.message).toBe('string');
  }
}

/** A JSON value that is sometimes almost the right shape: the interesting boundary. */
const field = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ minLength: 95, maxLength: 110 }),
  fc.constant(''),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.jsonValue({ maxDepth: 2 }),
);
const maybe = <T,>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 4 });
const body = <K extends string>(keys: K[], extra: fc.Arbitrary<unknown>, near: fc.Arbitrary<unknown>) =>
  fc.oneof(
    near,
    fc.record(Object.fromEntries(keys.map((k) => [k, maybe(field)])) as Record<K, fc.Arbitrary<unknown>>, { requiredKeys: [] }),
    fc.tuple(
      fc.record(Object.fromEntries(keys.map((k) => [k, field])) as Record<K, fc.Arbitrary<unknown>>),
      fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
    ).map(([a, b]) => ({ ...b, ...a })),
    extra,
  );

const send = (url: string, payload: unknown, withSession: boolean) => {
  const opts = {
    method: 'POST' as const,
    url,
    payload: JSON.stringify(payload),
    headers: { 'content-type': 'application/json' },
    remoteAddress: nextIp(),
  };
  return (withSession ? s.inject(opts) : t.app.inject(opts)) as Promise<Res>;
};

describe('request validation (property-based)', () => {
  it('login: random bodies never give a 500; invalid ones are 400 with paths and write nothing', async () => {
    const seen = { valid: 0, invalid: 0 };
    await fc.assert(
      fc.asyncProperty(body(
          ['username', 'password'],
          fc.jsonValue(),
          fc.record({ username: fc.string({ minLength: 1, maxLength: 100 }), password: fc.string({ minLength: 1, maxLength: 40 }) }),
        ), async (b) => {
        const json = JSON.stringify(b);
        fc.pre(json !== undefined && !poisoned(json));
        const valid =
          isPlainObject(b) && onlyKeys(b, ['username', 'password']) && str(b.username, 1, 100) && str(b.password, 1, 1024);
        seen[valid ? 'valid' : 'invalid']++;
        const before = await auditCount();
        const r = await send('/api/v1/auth/login', b, false);
        expectNo500(r);
        if (valid) {
          expect(r.statusCode).toBe(401); // nobody has these random names
        } else {
          expectValidationProblem(r);
          expect(await auditCount()).toBe(before);
        }
      }),
      { numRuns: 150 },
    );
    // the generator reaches both sides of the boundary
    expect(seen.valid).toBeGreaterThan(5);
    expect(seen.invalid).toBeGreaterThan(5);
  });

  it('password change: random bodies never give a 500 and always a 400 with paths', async () => {
    const seen = { valid: 0, invalid: 0 };
    await fc.assert(
      fc.asyncProperty(body(
          ['currentPassword', 'newPassword'],
          fc.jsonValue(),
          fc.record({ currentPassword: fc.string({ minLength: 1, maxLength: 40 }), newPassword: fc.string({ minLength: 1, maxLength: 40 }) }),
        ), async (b) => {
        const json = JSON.stringify(b);
        fc.pre(json !== undefined && !poisoned(json));
        const shapeOk =
          isPlainObject(b) && onlyKeys(b, ['currentPassword', 'newPassword']) && str(b.currentPassword, 1, 1024) && str(b.newPassword, 1, 1024);
        seen[shapeOk ? 'valid' : 'invalid']++;
        const before = await auditCount();
        const r = await send('/api/v1/auth/password', b, true);
        expectNo500(r);
        // a random current password is always wrong, so even well-shaped bodies are refused
        expectValidationProblem(r);
        if (shapeOk) expect(r.json().errors[0].path).toBe('body.currentPassword');
        else expect(await auditCount()).toBe(before);
      }),
      { numRuns: 100 },
    );
    expect((await s.inject('/api/v1/me')).statusCode).toBe(200); // the session survived it all
    expect(seen.valid).toBeGreaterThan(5);
    expect(seen.invalid).toBeGreaterThan(5);
  });

  it('API key creation: random bodies never give a 500; invalid ones are 400 with paths', async () => {
    const scopes = knownScopes();
    const scopeList = fc.oneof(
      fc.array(fc.constantFrom(...scopes), { minLength: 1, maxLength: 4 }),
      fc.array(fc.oneof(fc.constantFrom(...scopes), fc.string({ maxLength: 12 })), { maxLength: 4 }),
      field,
    );
    const expires = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.constant('2099-01-01T00:00:00Z'),
      fc.constant('2099-01-01T08:00:00+08:00'),
      fc.constant('2001-01-01T00:00:00Z'), // well-formed but past: refused by the handler
      fc.constantFrom('2099-13-01T00:00:00Z', 'tomorrow', '2099-01-01', ''),
      fc.integer(),
    );
    const wellFormedExpiry = (v: unknown) =>
      v === undefined || v === null || v === '2099-01-01T00:00:00Z' || v === '2099-01-01T08:00:00+08:00' || v === '2001-01-01T00:00:00Z';
    const seen = { created: 0, invalid: 0 };
    const userId = fc.oneof(fc.constant(undefined), fc.constant(s.userId), fc.string({ maxLength: 40 }), fc.uuid({ version: 4 }));
    const apiKeyBody = fc.oneof(
      fc.record(
        {
          name: fc.string({ minLength: 1, maxLength: 100 }),
          scopes: fc.array(fc.constantFrom(...scopes), { minLength: 1, maxLength: 4 }),
          expiresAt: expires,
          userId: fc.constantFrom(undefined, s.userId),
        },
        { requiredKeys: ['name', 'scopes'] },
      ),
      fc.record(
        { name: maybe(field), scopes: maybe(scopeList), expiresAt: expires, userId },
        { requiredKeys: [] },
      ),
      fc.record({ name: fc.string({ minLength: 1, maxLength: 20 }), scopes: scopeList, expiresAt: expires, userId, junk: fc.jsonValue() }),
      fc.jsonValue(),
    );
    await fc.assert(
      fc.asyncProperty(apiKeyBody, async (raw) => {
        const json = JSON.stringify(raw);
        fc.pre(json !== undefined && !poisoned(json));
        const b = JSON.parse(json) as unknown; // what the server sees (undefined members vanish)
        const before = await t.ctx.db.query<{ n: number }>('select count(*)::int as n from api_keys');
        const r = await send('/api/v1/apikeys', b, true);
        expectNo500(r);
        const o = isPlainObject(b) ? b : null;
        const valid =
          o !== null &&
          onlyKeys(o, ['name', 'scopes', 'expiresAt', 'userId']) &&
          typeof o.name === 'string' &&
          str(o.name.trim(), 1, 100) &&
          Array.isArray(o.scopes) &&
          o.scopes.length >= 1 &&
          o.scopes.length <= 32 &&
          o.scopes.every((x) => typeof x === 'string' && scopes.includes(x)) &&
          wellFormedExpiry(o.expiresAt) &&
          (o.userId === undefined || (typeof o.userId === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(o.userId)));
        if (!valid) {
          seen.invalid++;
          expectValidationProblem(r);
          const after = await t.ctx.db.query<{ n: number }>('select count(*)::int as n from api_keys');
          expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
        } else if (o!.expiresAt === '2001-01-01T00:00:00Z') {
          expectValidationProblem(r);
        } else if (o!.userId !== undefined && o!.userId !== s.userId) {
          expect(r.statusCode).toBe(403); // a plain user cannot create keys for someone else
        } else {
          seen.created++;
          expect(r.statusCode).toBe(201);
          expect(r.json().key).toMatch(/^trk_/);
        }
      }),
      { numRuns: 150 },
    );
    expect(seen.created).toBeGreaterThan(5);
    expect(seen.invalid).toBeGreaterThan(5);
  });

  it('raw request bodies that are not JSON give 400 problem+json, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/api/v1/auth/login', '/api/v1/auth/password', '/api/v1/apikeys'), fc.string({ maxLength: 60 }), async (url, text) => {
        const r = (await s.inject({ method: 'POST', url, payload: text, headers: { 'content-type': 'application/json' }, remoteAddress: nextIp() })) as Res;
        expectNo500(r);
        expect(r.statusCode).toBeGreaterThanOrEqual(400);
        expect(String(r.headers['content-type'])).toContain('application/problem+json');
      }),
      { numRuns: 150 },
    );
  });

  it('random credentials and key ids never give a 500', async () => {
    const printable = fc.string({ unit: 'grapheme-ascii', maxLength: 80 });
    await fc.assert(
      fc.asyncProperty(printable, printable, async (cookie, authz) => {
        const c = (await t.app.inject({ url: '/api/v1/me', headers: { cookie: `trellis_session=${encodeURIComponent(cookie)}` } })) as Res;
        expect(c.statusCode).toBe(401);
        const a = (await t.app.inject({ url: '/api/v1/me', headers: { authorization: `Bearer ${authz}` } })) as Res;
        expect(a.statusCode).toBe(401);
        const d = (await s.inject({ method: 'DELETE', url: `/api/v1/apikeys/${encodeURIComponent(authz)}` })) as Res;
        expectNo500(d);
        expect([400, 404]).toContain(d.statusCode);
      }),
      { numRuns: 150 },
    );
  });
});
