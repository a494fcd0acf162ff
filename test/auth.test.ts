// Accounts, sessions, CSRF, lock-out, rate limits and API keys, through the HTTP API.
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/server/config.ts';
import { migrate } from '../src/server/db/index.ts';
import { allMigrations } from '../src/server/main.ts';
import { verifyAuditChain } from '../src/server/platform/audit/index.ts';
import { runApiKeyCreate, runUserCreate } from '../src/server/platform/auth/cli.ts';
import {
  bootstrapAuth,
  createUser,
  hasScope,
  hashPassword,
  invalidatePrincipals,
  pruneSessions,
  requireActor,
  requireRole,
  verifyPassword,
  verifySigningPin,
} from '../src/server/platform/auth/index.ts';
import { AuthState } from '../src/server/platform/auth/principals.ts';
import { AppError, systemActor, type Principal } from '../src/server/platform/index.ts';
import { createTestDatabase } from './helpers/db.ts';
import { createTestTrellis, loginAs, TEST_ADMIN_PASSWORD, withApiKey, type TestTrellis } from './helpers/trellis.ts';

const PASSWORD = 'Correct-Horse-9';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

class TestClock {
  t = Date.parse('2026-03-02T08:00:00Z');
  now() {
    return new Date(this.t);
  }
  advance(ms: number) {
    this.t += ms;
  }
}

let t: TestTrellis;
const clock = new TestClock();
let addr = 0;
/** A fresh client address per call, so the per-IP limiter only bites where a test wants it. */
const nextIp = () => {
  addr++;
  return `10.99.${(addr >> 8) & 255}.${addr & 255}`;
};

async function makeUser(username: string, opts: { roles?: string[]; kind?: 'person' | 'service'; password?: string | null } = {}) {
  const passwordHash = opts.password === null ? null : await hashPassword(opts.password ?? PASSWORD);
  return t.ctx.db.tx((tx) =>
    createUser(tx, systemActor, { username, displayName: username.toUpperCase(), kind: opts.kind, passwordHash, roles: opts.roles }, clock.now()),
  );
}

const count = async (sql: string, params: unknown[] = []) =>
  (await t.ctx.db.query<{ n: number }>(`select count(*)::int as n from ${sql}`, params)).rows[0]!.n;
const auditCount = () => count('audit_log');
const lastAudit = async (action: string) =>
  (await t.ctx.db.query<{ actor_name: string | null; actor_id: string | null; target_id: string | null; detail: Record<string, unknown>; ip: string | null }>(
    'select actor_name, actor_id, target_id, detail, ip from audit_log where action = $1 order by seq desc limit 1',
    [action],
  )).rows[0];

function login(username: string, password: string, remoteAddress = nextIp()) {
  return t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password }, remoteAddress });
}

function expectProblem(r: { statusCode: number; headers: Record<string, unknown>; json: () => any }, status: number) {
  expect(r.statusCode).toBe(status);
  expect(String(r.headers['content-type'])).toContain('application/problem+json');
  expect(r.json().status).toBe(status);
  return r.json() as { detail: string; errors?: Array<{ path: string; message: string }>; type: string; [k: string]: unknown };
}

beforeAll(async () => {
  t = await createTestTrellis({ clock });
});
afterAll(async () => {
  await t?.destroy();
});

describe('sign-in', () => {
  it('signs in, sets safe cookies and stores only the hash of the token', async () => {
    const before = await auditCount();
    const r = await login('admin', TEST_ADMIN_PASSWORD);
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.user).toMatchObject({ username: 'admin', roles: ['admin'], kind: 'person', locale: 'zh-CN' });
    const cookies = [r.headers['set-cookie']].flat().map(String);
    const session = cookies.find((c) => c.startsWith('trellis_session='))!;
    const csrf = cookies.find((c) => c.startsWith('trellis_csrf='))!;
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/SameSite=Lax/);
    expect(session).toMatch(/Path=\//);
    expect(session).toMatch(/Max-Age=43200/);
    expect(session).not.toMatch(/Secure/);
    expect(csrf).not.toMatch(/HttpOnly/);
    expect(csrf).toMatch(/SameSite=Strict/);
    const token = r.cookies.find((c) => c.name === 'trellis_session')!.value;
    expect(r.cookies.find((c) => c.name === 'trellis_csrf')!.value).toBe(body.csrfToken);
    const rows = await t.ctx.db.query<{ id: string; csrf_token: string }>('select id, csrf_token from sessions where user_id = $1', [body.user.id]);
    expect(rows.rows.map((x) => x.id)).toContain(sha256(token));
    expect(rows.rows.map((x) => x.id)).not.toContain(token);
    expect(await auditCount()).toBe(before + 1);
    expect((await lastAudit('auth.login'))?.actor_name).toBe('admin');
  });

  it('marks cookies Secure when configured', async () => {
    const s = await createTestTrellis({ env: { TRELLIS_SECURE_COOKIES: '1', TRELLIS_SESSION_TTL_HOURS: '1' } });
    try {
      const r = await s.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'admin', password: TEST_ADMIN_PASSWORD } });
      expect(r.statusCode).toBe(200);
      for (const c of [r.headers['set-cookie']].flat().map(String)) {
        expect(c).toMatch(/; Secure/);
        expect(c).toMatch(/Max-Age=3600/);
      }
    } finally {
      await s.destroy();
    }
  });

  it('refuses a wrong password and an unknown user with the same message, and audits both', async () => {
    const u = await makeUser('wrongpw');
    const before = await auditCount();
    const wrong = expectProblem(await login('wrongpw', 'not-the-password1'), 401);
    const unknown = expectProblem(await login('nobody-here', 'whatever-123'), 401);
    expect(wrong.detail).toBe('Wrong user name or password.');
    expect(unknown.detail).toBe(wrong.detail);
    expect(await auditCount()).toBe(before + 2);
    const failed = await t.ctx.db.query<{ actor_id: string | null; actor_name: string; target_id: string | null; detail: { reason: string } }>(
      `select actor_id, actor_name, target_id, detail from audit_log where action = 'auth.login_failed' order by seq desc limit 2`,
    );
    expect(failed.rows.map((x) => x.detail.reason).sort()).toEqual(['unknown_user', 'wrong_password']);
    expect(failed.rows.every((x) => x.actor_id === null)).toBe(true);
    expect(failed.rows.find((x) => x.detail.reason === 'wrong_password')?.target_id).toBe(u.id);
    expect((await t.ctx.db.query('select failed_logins from users where id = $1', [u.id])).rows[0]!.failed_logins).toBe(1);
  });

  it('accepts the user name in any case and with spaces', async () => {
    await makeUser('casey');
    expect((await login('  CaSeY ', PASSWORD)).statusCode).toBe(200);
  });

  it('refuses a service account (no password) and a disabled account', async () => {
    await makeUser('robot', { kind: 'service', password: null });
    expectProblem(await login('robot', 'anything-1234'), 401);
    await makeUser('gone');
    await t.ctx.db.query(`update users set active = false where username = 'gone'`);
    const p = expectProblem(await login('gone', PASSWORD), 403);
    expect(p.detail).toMatch(/disabled/);
    expect((await lastAudit('auth.login_failed'))?.detail).toMatchObject({ reason: 'disabled' });
  });

  it('locks an account after 5 wrong passwords, says until when, and unlocks after 15 minutes', async () => {
    const u = await makeUser('locky');
    for (let i = 1; i <= 4; i++) expectProblem(await login('locky', `wrong-pass-${i}`), 401);
    const locked = expectProblem(await login('locky', 'wrong-pass-5'), 423);
    expect(locked.detail).toMatch(/locked until \d{4}-\d{2}-\d{2} \d{2}:\d{2} \(Asia\/Shanghai\)/);
    expect(locked.lockedUntil).toBe(new Date(clock.t + 15 * 60_000).toISOString());
    const row = (await t.ctx.db.query<{ locked_until: Date }>('select locked_until from users where id = $1', [u.id])).rows[0]!;
    expect(new Date(row.locked_until).getTime()).toBe(clock.t + 15 * 60_000);
    expect((await lastAudit('auth.locked'))?.target_id).toBe(u.id);
    // even the right password is refused while locked, with Retry-After
    const still = await login('locky', PASSWORD);
    expectProblem(still, 423);
    expect(Number(still.headers['retry-after'])).toBe(15 * 60);
    clock.advance(15 * 60_000 + 1000);
    expect((await login('locky', PASSWORD)).statusCode).toBe(200);
    const after = (await t.ctx.db.query<{ failed_logins: number; locked_until: Date | null }>('select failed_logins, locked_until from users where id = $1', [u.id])).rows[0]!;
    expect(after).toEqual({ failed_logins: 0, locked_until: null });
  });

  it('resets the failure counter on success', async () => {
    const u = await makeUser('resetme');
    for (let i = 0; i < 3; i++) expectProblem(await login('resetme', 'wrong-pass-x1'), 401);
    expect((await login('resetme', PASSWORD)).statusCode).toBe(200);
    expect((await t.ctx.db.query('select failed_logins from users where id = $1', [u.id])).rows[0]!.failed_logins).toBe(0);
  });

  it('rate-limits sign-in attempts per client address with 429 and Retry-After', async () => {
    const ip = '198.51.100.7';
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) statuses.push((await login(`ghost${i}`, 'wrong-pass-123', ip)).statusCode);
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    const before = await auditCount();
    const r = await login('admin', TEST_ADMIN_PASSWORD, ip);
    const p = expectProblem(r, 429);
    expect(p.detail).toMatch(/Wait \d+ seconds/);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    expect(await auditCount()).toBe(before); // refused before any work
    // another address is not affected; the bucket refills with time
    expect((await login('admin', TEST_ADMIN_PASSWORD, '198.51.100.8')).statusCode).toBe(200);
    clock.advance(Number(r.headers['retry-after']) * 1000);
    expect((await login('admin', TEST_ADMIN_PASSWORD, ip)).statusCode).toBe(200);
  });

  it('refuses malformed, oversized, unknown and mistyped bodies with 4xx problems and writes nothing', async () => {
    const audits = await auditCount();
    const sessions = await count('sessions');
    const cases = [
      { payload: '{"username": "admin", "password": ', headers: { 'content-type': 'application/json' }, status: 400 },
      { payload: { username: 'admin', password: 'x'.repeat(20_000) }, status: 413 },
      { payload: { username: 'admin', password: TEST_ADMIN_PASSWORD, remember: true }, status: 400 },
      { payload: { username: 42, password: TEST_ADMIN_PASSWORD }, status: 400 },
      { payload: { username: 'admin' }, status: 400 },
      { payload: '<login user="admin"/>', headers: { 'content-type': 'application/xml' }, status: 415 },
      { payload: 'username=admin', headers: { 'content-type': 'text/plain' }, status: 400 },
    ];
    for (const c of cases) {
      const r = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: c.payload, headers: c.headers, remoteAddress: nextIp() });
      const p = expectProblem(r, c.status);
      if (c.status === 400 && typeof c.payload === 'object') expect(p.errors?.[0]?.path).toMatch(/^body/);
    }
    const unknownField = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'admin', password: TEST_ADMIN_PASSWORD, remember: true },
    });
    expect(unknownField.json().detail).toMatch(/remember/);
    expect(await auditCount()).toBe(audits);
    expect(await count('sessions')).toBe(sessions);
  });
});

describe('sessions', () => {
  it('answers /me from the session, and 401 without one', async () => {
    const s = await loginAs(t);
    const me = await s.inject('/api/v1/me');
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual({
      id: s.userId,
      username: 'admin',
      displayName: '管理员',
      displayNameEn: 'Administrator',
      locale: 'zh-CN',
      kind: 'person',
      roles: ['admin'],
      departments: [],
    });
    const anon = expectProblem(await t.app.inject('/api/v1/me'), 401);
    expect(anon.detail).toMatch(/Sign in/);
  });

  it('shows departments (primary first) once the cached principal is invalidated', async () => {
    const u = await makeUser('deptuser');
    const s = await loginAs(t, 'deptuser', PASSWORD);
    expect((await s.inject('/api/v1/me')).json().departments).toEqual([]);
    const d = await t.ctx.db.query<{ id: string; code: string }>(
      `insert into departments (code, name, name_en) values ('qa', '质量部', 'Quality'), ('aa', '行政部', null) returning id, code`,
    );
    const qa = d.rows.find((x) => x.code === 'qa')!.id;
    const aa = d.rows.find((x) => x.code === 'aa')!.id;
    await t.ctx.db.query('insert into user_departments (user_id, department_id, is_primary) values ($1, $2, true), ($1, $3, false)', [u.id, qa, aa]);
    expect((await s.inject('/api/v1/me')).json().departments).toEqual([]); // cached for a few seconds
    invalidatePrincipals(t.ctx, u.id);
    expect((await s.inject('/api/v1/me')).json().departments).toEqual([
      { id: qa, code: 'qa', name: '质量部', nameEn: 'Quality' },
      { id: aa, code: 'aa', name: '行政部', nameEn: null },
    ]);
  });

  it('refuses a malformed or unknown session cookie with 401 and clears it', async () => {
    const bad = await t.app.inject({ url: '/api/v1/me', cookies: { trellis_session: 'garbage' } });
    expect(expectProblem(bad, 401).detail).toBe('Your session cookie is not valid. Sign in again.');
    expect(String([bad.headers['set-cookie']].flat())).toMatch(/trellis_session=;.*Max-Age=0/);
    const unknown = await t.app.inject({ url: '/api/v1/me', cookies: { trellis_session: 'A'.repeat(43) } });
    expect(expectProblem(unknown, 401).detail).toMatch(/Sign in again/);
  });

  it('expires a session after its lifetime', async () => {
    const s = await loginAs(t);
    expect((await s.inject('/api/v1/me')).statusCode).toBe(200);
    clock.advance(12 * 3600_000 + 1000);
    const r = await s.inject('/api/v1/me');
    const p = expectProblem(r, 401);
    expect(p.detail).toBe('Your session has expired. Sign in again.');
    expect(p.type).toMatch(/session-expired$/);
  });

  it('writes last_seen_at at most once a minute', async () => {
    const s = await loginAs(t);
    const seen = async () =>
      new Date((await t.ctx.db.query<{ last_seen_at: Date }>('select last_seen_at from sessions where id = $1', [sha256(s.sessionToken)])).rows[0]!.last_seen_at).getTime();
    const start = await seen();
    clock.advance(30_000);
    expect((await s.inject('/api/v1/me')).statusCode).toBe(200);
    expect(await seen()).toBe(start);
    clock.advance(31_000);
    expect((await s.inject('/api/v1/me')).statusCode).toBe(200);
    await vi.waitFor(async () => expect(await seen()).toBe(clock.t));
  });

  it('keeps a session revoked elsewhere for at most the cache lifetime', async () => {
    const s = await loginAs(t);
    expect((await s.inject('/api/v1/me')).statusCode).toBe(200);
    // another instance revoked it: this one still has it cached...
    await t.ctx.db.query('update sessions set revoked_at = now() where id = $1', [sha256(s.sessionToken)]);
    expect((await s.inject('/api/v1/me')).statusCode).toBe(200);
    // ...until the entry's 5 s are over
    clock.advance(5_001);
    expect(expectProblem(await s.inject('/api/v1/me'), 401).detail).toMatch(/session has ended/);
  });

  it('prunes sessions long expired or revoked, and keeps the rest', async () => {
    const live = await loginAs(t);
    const dead = await loginAs(t);
    expect((await dead.inject({ method: 'POST', url: '/api/v1/auth/logout' })).statusCode).toBe(204);
    const ids = [sha256(live.sessionToken), sha256(dead.sessionToken)];
    const exists = async () => (await t.ctx.db.query<{ id: string }>('select id from sessions where id = any($1::text[])', [ids])).rows.map((r) => r.id);
    await pruneSessions(t.ctx.db, clock.now());
    expect((await exists()).sort()).toEqual([...ids].sort()); // revoked just now: kept for a while
    await pruneSessions(t.ctx.db, new Date(clock.t + 31 * 86_400_000));
    expect(await exists()).toEqual([]); // both long gone (the live one expired after 12 h)
  });

  it('logs out: 204, session revoked at once, cookies cleared, audited', async () => {
    const s = await loginAs(t);
    const before = await auditCount();
    const r = await s.inject({ method: 'POST', url: '/api/v1/auth/logout' });
    expect(r.statusCode).toBe(204);
    const set = String([r.headers['set-cookie']].flat());
    expect(set).toMatch(/trellis_session=;.*Max-Age=0/);
    expect(set).toMatch(/trellis_csrf=;.*Max-Age=0/);
    const row = (await t.ctx.db.query<{ revoked_at: Date | null }>('select revoked_at from sessions where id = $1', [sha256(s.sessionToken)])).rows[0]!;
    expect(row.revoked_at).not.toBeNull();
    expect(await auditCount()).toBe(before + 1);
    expect((await lastAudit('auth.logout'))?.actor_id).toBe(s.userId);
    expectProblem(await s.inject('/api/v1/me'), 401);
    // logging out again with the dead cookie, or with none, is harmless
    expect((await s.inject({ method: 'POST', url: '/api/v1/auth/logout' })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout' })).statusCode).toBe(204);
    expect(await auditCount()).toBe(before + 1);
  });
});

describe('CSRF', () => {
  it('refuses cookie-authenticated writes without the right X-CSRF-Token, and writes nothing', async () => {
    await makeUser('csrfuser');
    const s = await loginAs(t, 'csrfuser', PASSWORD);
    const audits = await auditCount();
    const hash = (await t.ctx.db.query('select password_hash from users where id = $1', [s.userId])).rows[0]!.password_hash;
    const attempts = [
      { method: 'POST' as const, url: '/api/v1/auth/password', payload: { currentPassword: PASSWORD, newPassword: 'Brand-New-Pass-1' } },
      { method: 'POST' as const, url: '/api/v1/apikeys', payload: { name: 'sneaky', scopes: ['*'] } },
      { method: 'POST' as const, url: '/api/v1/auth/logout' },
    ];
    for (const a of attempts) {
      for (const headers of [{}, { 'x-csrf-token': 'wrong' }, { 'x-csrf-token': s.csrfToken.slice(0, -1) + 'x' }]) {
        const r = await t.app.inject({ ...a, cookies: s.cookies, headers });
        expect(expectProblem(r, 403).detail).toBe('Missing or wrong CSRF token; reload the page.');
      }
    }
    expect(await auditCount()).toBe(audits);
    expect(await count('api_keys where user_id = $1', [s.userId])).toBe(0);
    expect((await t.ctx.db.query('select password_hash from users where id = $1', [s.userId])).rows[0]!.password_hash).toBe(hash);
    expect((await t.ctx.db.query('select revoked_at from sessions where id = $1', [sha256(s.sessionToken)])).rows[0]!.revoked_at).toBeNull();
    // reads need no token
    expect((await t.app.inject({ url: '/api/v1/me', cookies: s.cookies })).statusCode).toBe(200);
  });
});

describe('password change', () => {
  it('checks the current password and the rules, then ends the other sessions', async () => {
    const u = await makeUser('changer');
    const a = await loginAs(t, 'changer', PASSWORD);
    const b = await loginAs(t, 'changer', PASSWORD);
    const change = (currentPassword: unknown, newPassword: unknown) =>
      a.inject({ method: 'POST', url: '/api/v1/auth/password', payload: { currentPassword, newPassword }, remoteAddress: nextIp() });

    const wrong = expectProblem(await change('not-my-password1', 'Another-Pass-22'), 400);
    expect(wrong.errors).toEqual([{ path: 'body.currentPassword', message: 'wrong password' }]);
    expect((await lastAudit('auth.password_change_failed'))?.target_id).toBe(u.id);

    const weak = expectProblem(await change(PASSWORD, 'short1'), 400);
    expect(weak.detail).toBe('The password must be at least 10 characters long.');
    expect(weak.errors?.[0]?.path).toBe('body.newPassword');
    expectProblem(await change(PASSWORD, 'onlyletterslong'), 400);
    expectProblem(await change(PASSWORD, PASSWORD), 400);
    expect(await verifyPassword((await t.ctx.db.query('select password_hash from users where id = $1', [u.id])).rows[0]!.password_hash, PASSWORD)).toBe(true);

    const before = await auditCount();
    expect((await change(PASSWORD, 'Another-Pass-22')).statusCode).toBe(204);
    expect(await auditCount()).toBe(before + 1);
    expect((await lastAudit('auth.password_change'))?.detail).toEqual({ endedSessions: 1 });
    expect((await a.inject('/api/v1/me')).statusCode).toBe(200);
    expect(expectProblem(await b.inject('/api/v1/me'), 401).detail).toMatch(/password was changed/);
    expectProblem(await login('changer', PASSWORD), 401);
    expect((await login('changer', 'Another-Pass-22')).statusCode).toBe(200);
  });

  it('is only possible from a browser session, not with an API key', async () => {
    const s = await loginAs(t);
    const key = (await s.inject({ method: 'POST', url: '/api/v1/apikeys', payload: { name: 'pw', scopes: ['*'] } })).json().key as string;
    const r = await withApiKey(t, key)({ method: 'POST', url: '/api/v1/auth/password', payload: { currentPassword: TEST_ADMIN_PASSWORD, newPassword: 'Whatever-123456' } });
    expectProblem(r, 403);
  });

  it('sets an e-signature PIN after checking the password', async () => {
    const u = await makeUser('signer');
    const s = await loginAs(t, 'signer', PASSWORD);
    const set = (currentPassword: string, pin: string) => s.inject({ method: 'POST', url: '/api/v1/auth/signing-pin', payload: { currentPassword, pin } });
    expectProblem(await set('wrong-password-1', '482913'), 400);
    expect(expectProblem(await set(PASSWORD, '12345'), 400).errors?.[0]?.path).toBe('body.pin');
    expectProblem(await set(PASSWORD, '111111'), 400);
    expectProblem(await set(PASSWORD, '123456'), 400);
    expect(await verifySigningPin(t.ctx.db, u.id, '482913')).toBe(false);
    expect((await set(PASSWORD, '482913')).statusCode).toBe(204);
    expect(await verifySigningPin(t.ctx.db, u.id, '482913')).toBe(true);
    expect(await verifySigningPin(t.ctx.db, u.id, '482914')).toBe(false);
    expect((await lastAudit('auth.signing_pin_set'))?.target_id).toBe(u.id);
  });
});

describe('API keys', () => {
  it('creates a key shown once, lists it without secrets, uses and revokes it', async () => {
    const admin = await loginAs(t);
    const before = await auditCount();
    const created = await admin.inject({ method: 'POST', url: '/api/v1/apikeys', payload: { name: 'ERP sync', scopes: ['records:read', 'org:read'] } });
    expect(created.statusCode).toBe(201);
    const k = created.json();
    expect(k.key).toMatch(/^trk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(k.key.startsWith(`${k.prefix}_`)).toBe(true);
    expect(k).toMatchObject({ name: 'ERP sync', scopes: ['org:read', 'records:read'], username: 'admin', revokedAt: null });
    expect(await auditCount()).toBe(before + 1);
    const row = (await t.ctx.db.query<{ secret_hash: string }>('select secret_hash from api_keys where id = $1', [k.id])).rows[0]!;
    expect(row.secret_hash).toBe(sha256(k.key));

    const list = await admin.inject('/api/v1/apikeys');
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(k.key);
    expect(list.body).not.toContain(row.secret_hash);
    expect(list.body).not.toMatch(/secret|hash/i);
    expect(list.json().items.map((x: { id: string }) => x.id)).toContain(k.id);

    const api = withApiKey(t, k.key);
    const me = await api('/api/v1/me');
    expect(me.statusCode).toBe(200);
    expect(me.json().username).toBe('admin');
    // scope denied: key management needs `admin`
    expect(expectProblem(await api('/api/v1/apikeys'), 403).detail).toMatch(/lacks the scope "admin"/);

    const del = await admin.inject({ method: 'DELETE', url: `/api/v1/apikeys/${k.id}` });
    expect(del.statusCode).toBe(204);
    expect(expectProblem(await api('/api/v1/me'), 401).detail).toMatch(/revoked/);
    expect((await admin.inject({ method: 'DELETE', url: `/api/v1/apikeys/${k.id}` })).statusCode).toBe(204);
    expect(await count(`audit_log where action = 'auth.apikey.revoke' and target_id = $1`, [k.id])).toBe(1);
    expect((await admin.inject('/api/v1/apikeys')).json().items.find((x: { id: string }) => x.id === k.id).revokedAt).not.toBeNull();
  });

  it('refuses malformed, unknown and expired keys with 401', async () => {
    const admin = await loginAs(t);
    const malformed = await t.app.inject({ url: '/api/v1/me', headers: { authorization: 'Bearer nonsense' } });
    expect(expectProblem(malformed, 401).detail).toMatch(/does not hold a Trellis API key/);
    expect(malformed.headers['www-authenticate']).toMatch(/invalid_token/);
    const unknown = await withApiKey(t, `trk_0000aaaa_${'A'.repeat(43)}`)('/api/v1/me');
    expect(expectProblem(unknown, 401).detail).toMatch(/not known/);

    const expiresAt = new Date(clock.t + 3600_000).toISOString();
    const k = (await admin.inject({ method: 'POST', url: '/api/v1/apikeys', payload: { name: 'short', scopes: ['*'], expiresAt } })).json();
    expect(k.expiresAt).toBe(expiresAt);
    expect((await withApiKey(t, k.key)('/api/v1/me')).statusCode).toBe(200);
    // a tampered secret with a real prefix is unknown, not accepted
    expectProblem(await withApiKey(t, k.key.slice(0, -1) + (k.key.endsWith('A') ? 'B' : 'A'))('/api/v1/me'), 401);
    clock.advance(3600_000);
    expect(expectProblem(await withApiKey(t, k.key)('/api/v1/me'), 401).detail).toMatch(/expired/);

    const past = await admin.inject({ method: 'POST', url: '/api/v1/apikeys', payload: { name: 'old', scopes: ['*'], expiresAt: '2020-01-01T00:00:00Z' } });
    expect(expectProblem(past, 400).errors?.[0]?.path).toBe('body.expiresAt');
  });

  it('exempts key requests from CSRF and lets a key only hand out rights it has', async () => {
    const admin = await loginAs(t);
    const strong = (await admin.inject({ method: 'POST', url: '/api/v1/apikeys', payload: { name: 'ops', scopes: ['admin', 'records:write'] } })).json();
    const api = withApiKey(t, strong.key);
    const ok = await api({ method: 'POST', url: '/api/v1/apikeys', payload: { name: 'child', scopes: ['records:read'] } });
    expect(ok.statusCode).toBe(201);
    const wider = await api({ method: 'POST', url: '/api/v1/apikeys', payload: { name: 'grab', scopes: ['*'] } });
    expect(expectProblem(wider, 403).detail).toMatch(/more rights/);
  });

  it('keeps users to their own keys; administrators may create keys for a service account', async () => {
    const bot = await makeUser('erp-bot', { kind: 'service', password: null });
    await makeUser('plain');
    const admin = await loginAs(t);
    const plain = await loginAs(t, 'plain', PASSWORD);
    const forBot = await admin.inject({ method: 'POST', url: '/api/v1/apikeys', payload: { name: 'bot', scopes: ['records:write'], userId: bot.id } });
    expect(forBot.statusCode).toBe(201);
    expect(forBot.json()).toMatchObject({ userId: bot.id, username: 'erp-bot' });
    expect((await withApiKey(t, forBot.json().key)('/api/v1/me')).json()).toMatchObject({ username: 'erp-bot', kind: 'service' });

    expectProblem(await plain.inject({ method: 'POST', url: '/api/v1/apikeys', payload: { name: 'x', scopes: ['*'], userId: bot.id } }), 403);
    const own = await plain.inject({ method: 'POST', url: '/api/v1/apikeys', payload: { name: 'mine', scopes: ['records:read'] } });
    expect(own.statusCode).toBe(201);
    const listed = (await plain.inject('/api/v1/apikeys')).json().items as Array<{ username: string }>;
    expect(listed.length).toBe(1);
    expect(listed[0]!.username).toBe('plain');
    expectProblem(await plain.inject({ method: 'DELETE', url: `/api/v1/apikeys/${forBot.json().id}` }), 404);
    expectProblem(await plain.inject({ method: 'DELETE', url: '/api/v1/apikeys/not-a-uuid' }), 400);
    const all = (await admin.inject('/api/v1/apikeys')).json().items as Array<{ username: string }>;
    expect(new Set(all.map((x) => x.username))).toEqual(new Set(['admin', 'erp-bot', 'plain']));
  });

  it('validates the body: unknown scope, empty scopes, unknown field', async () => {
    const admin = await loginAs(t);
    const before = await count('api_keys');
    const bad = [
      { name: 'x', scopes: ['records:delete'] },
      { name: 'x', scopes: [] },
      { name: '  ', scopes: ['*'] },
      { name: 'x', scopes: ['*'], secret: 'mine' },
      { name: 'x', scopes: '*' },
    ];
    for (const payload of bad) {
      const p = expectProblem(await admin.inject({ method: 'POST', url: '/api/v1/apikeys', payload }), 400);
      expect(p.errors?.length).toBeGreaterThan(0);
    }
    expect(await count('api_keys')).toBe(before);
  });
});

describe('principal cache', () => {
  it('shares one query between concurrent misses, and a load that raced an invalidation is not cached', async () => {
    const waiting: Array<() => void> = [];
    let queries = 0;
    const row = {
      csrf_token: 'c', expires_at: new Date(clock.t + 3600_000), revoked_at: null, last_seen_at: new Date(clock.t),
      user_id: 'u1', username: 'u1', display_name: 'U1', display_name_en: null, locale: 'zh-CN', kind: 'person', active: true,
      roles: [] as string[], departments: [],
    };
    // the first query sees the old roles, the one after the invalidation the new ones
    const db = {
      query: async () => {
        const roles = ++queries === 1 ? ['old'] : ['new'];
        await new Promise<void>((resolve) => waiting.push(resolve));
        return { rows: [{ ...row, roles }], rowCount: 1 };
      },
    };
    const state = new AuthState({ ...t.ctx, db: db as unknown as typeof t.ctx.db });
    const token = 'T'.repeat(43);
    const a = state.resolveSession(token);
    const b = state.resolveSession(token);
    expect(queries).toBe(1);
    state.invalidateUser(); // e.g. a logout committed while the first query was running
    const c = state.resolveSession(token);
    expect(queries).toBe(2);
    waiting[1]!(); // the newer query finishes first...
    expect((await c) as { principal: Principal }).toMatchObject({ principal: { roles: ['new'] } });
    waiting[0]!(); // ...the stale one last: it must not overwrite the cache
    const [ra, rb] = (await Promise.all([a, b])) as Array<{ principal: Principal }>;
    expect(ra!.principal.roles).toEqual(['old']);
    expect(rb!.principal).toBe(ra!.principal);
    const d = state.resolveSession(token);
    expect(d).not.toBeInstanceOf(Promise); // answered from the cache...
    expect((d as { principal: Principal }).principal.roles).toEqual(['new']); // ...with the fresh entry
    expect(queries).toBe(2);
  });
});

describe('guards', () => {
  const principal = (over: Partial<Principal>): Principal => ({
    kind: 'user',
    userId: 'u1',
    username: 'u',
    displayName: 'U',
    roles: [],
    departmentIds: [],
    primaryDepartmentId: null,
    scopes: null,
    ...over,
  });
  const req = (p: Principal | null) => ({ principal: p, headers: { 'user-agent': 'ua' }, ip: '203.0.113.1', id: 'req-1' }) as unknown as FastifyRequest;
  const status = (fn: () => unknown) => {
    try {
      fn();
      return 200;
    } catch (e) {
      return (e as AppError).status;
    }
  };

  it('requireActor: 401 without a principal, 403 when a key lacks the scope', () => {
    expect(status(() => requireActor(req(null)))).toBe(401);
    expect(requireActor(req(principal({}))).meta).toEqual({ ip: '203.0.113.1', userAgent: 'ua', requestId: 'req-1' });
    const key = principal({ kind: 'apikey', scopes: ['records:write'] });
    expect(status(() => requireActor(req(key), { scope: 'records:read' }))).toBe(200); // write implies read
    expect(status(() => requireActor(req(key), { scope: 'org:read' }))).toBe(403);
    expect(status(() => requireActor(req(principal({ kind: 'apikey', scopes: ['*'] })), { scope: 'org:write' }))).toBe(200);
    expect(status(() => requireActor(req(principal({})), { scope: 'org:write' }))).toBe(200); // sessions are unrestricted
    expect(hasScope(principal({ scopes: ['records:read'] }), 'records:write')).toBe(false);
  });

  it('requireRole: role needed; admin passes; an admin key only with the admin scope', () => {
    expect(status(() => requireRole(req(principal({ roles: ['buyer'] })), 'quality_engineer'))).toBe(403);
    expect(status(() => requireRole(req(principal({ roles: ['buyer'] })), 'quality_engineer', 'buyer'))).toBe(200);
    expect(status(() => requireRole(req(principal({ roles: ['admin'] })), 'quality_engineer'))).toBe(200);
    expect(status(() => requireRole(req(principal({ kind: 'apikey', roles: ['admin'], scopes: ['records:read'] })), 'auditor'))).toBe(403);
    expect(status(() => requireRole(req(principal({ kind: 'apikey', roles: ['admin'], scopes: ['admin'] })), 'auditor'))).toBe(200);
    expect(status(() => requireRole(req(null), 'auditor'))).toBe(401);
  });
});

describe('bootstrap and CLI', () => {
  it('creates admin once with a generated password announced once, and never resets it', async () => {
    const tdb = await createTestDatabase();
    try {
      await migrate(tdb.db, allMigrations());
      const ctx = { config: loadConfig({ TRELLIS_LOG_LEVEL: 'silent' }), db: tdb.db, log: t.ctx.log, clock };
      const said: string[] = [];
      await bootstrapAuth(ctx, { seedDemo: false, announce: (m) => said.push(m) });
      expect(said.length).toBe(1);
      const password = /password: (\S+)/.exec(said[0]!)?.[1];
      expect(password).toBeDefined();
      const row = (await tdb.db.query<{ password_hash: string }>(`select password_hash from users where username = 'admin'`)).rows[0]!;
      expect(await verifyPassword(row.password_hash, password!)).toBe(true);
      const roles = await tdb.db.query(`select r.code, r.builtin from user_roles ur join roles r on r.id = ur.role_id join users u on u.id = ur.user_id where u.username = 'admin'`);
      expect(roles.rows).toEqual([{ code: 'admin', builtin: true }]);
      await bootstrapAuth({ ...ctx, config: loadConfig({ TRELLIS_ADMIN_PASSWORD: 'Something-Else-1' }) }, { seedDemo: false, announce: (m) => said.push(m) });
      expect(said.length).toBe(1);
      expect((await tdb.db.query(`select password_hash from users where username = 'admin'`)).rows[0]!.password_hash).toBe(row.password_hash);
      expect((await verifyAuditChain(tdb.db)).ok).toBe(true);
    } finally {
      await tdb.drop();
    }
  });

  it('`user create` and `apikey create` work, print secrets once and audit', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l), clock };
    await t.ctx.db.query(`insert into roles (code, name) values ('quality_engineer', '质量工程师') on conflict do nothing`);
    await t.ctx.db.query(`insert into departments (code, name) values ('qc', '品质课') on conflict do nothing`);
    expect(await runUserCreate(t.ctx.db, ['zhang.san', '--name', '张三', '--role', 'quality_engineer', '--department', 'qc'], io)).toBe(0);
    const pw = /password \(shown only now\): (\S+)/.exec(out.join('\n'))?.[1];
    expect(pw).toBeDefined();
    const s = await loginAs(t, 'zhang.san', pw!);
    const me = (await s.inject('/api/v1/me')).json();
    expect(me).toMatchObject({ displayName: '张三', roles: ['quality_engineer'], departments: [{ code: 'qc', name: '品质课' }] });
    expect((await lastAudit('org.user.create'))?.detail).toMatchObject({ username: 'zhang.san' });

    expect(await runUserCreate(t.ctx.db, ['zhang.san', '--name', 'again'], io)).toBe(1);
    expect(err.at(-1)).toMatch(/already exists/);
    expect(await runUserCreate(t.ctx.db, ['li.si', '--name', '李四', '--role', 'no_such_role'], io)).toBe(1);
    expect(err.at(-1)).toMatch(/Unknown role/);
    expect(await runUserCreate(t.ctx.db, ['wang', '--name', '王', '--password', 'weak'], io)).toBe(1);
    expect(err.at(-1)).toMatch(/at least 10/);
    expect(await runUserCreate(t.ctx.db, ['--name', 'nobody'], io)).toBe(2);
    expect(await count(`users where username in ('li.si', 'wang')`)).toBe(0);

    out.length = 0;
    expect(await runUserCreate(t.ctx.db, ['mes-bridge', '--name', 'MES', '--service'], io)).toBe(0);
    expect(out.join('\n')).not.toMatch(/password/i);
    expect(await runApiKeyCreate(t.ctx.db, ['--user', 'mes-bridge', '--name', 'mes', '--scope', 'records:read', '--scope', 'records:write'], io)).toBe(0);
    const key = out.find((l) => l.startsWith('trk_'));
    expect(key).toBeDefined();
    expect((await withApiKey(t, key!)('/api/v1/me')).json()).toMatchObject({ username: 'mes-bridge', kind: 'service' });
    expect((await lastAudit('auth.apikey.create'))?.actor_name).toBe('system');
    expect(await runApiKeyCreate(t.ctx.db, ['--user', 'mes-bridge', '--name', 'bad', '--scope', 'root'], io)).toBe(1);
    expect(err.at(-1)).toMatch(/Unknown scope/);
    expect(await runApiKeyCreate(t.ctx.db, ['--user', 'nobody', '--name', 'n', '--scope', '*'], io)).toBe(1);
  });
});

describe('audit trail', () => {
  it('recorded every kind of action and the chain verifies', async () => {
    const actions = (await t.ctx.db.query<{ action: string }>('select distinct action from audit_log')).rows.map((r) => r.action);
    for (const a of [
      'auth.login',
      'auth.login_failed',
      'auth.locked',
      'auth.logout',
      'auth.password_change',
      'auth.password_change_failed',
      'auth.signing_pin_set',
      'auth.apikey.create',
      'auth.apikey.revoke',
      'org.user.create',
    ]) {
      expect(actions).toContain(a);
    }
    const v = await verifyAuditChain(t.ctx.db);
    expect(v.ok).toBe(true);
    expect(v.checked).toBeGreaterThan(20);
    // no secret ever reached the audit detail
    const dump = JSON.stringify((await t.ctx.db.query('select detail from audit_log')).rows);
    expect(dump).not.toMatch(/trk_[0-9a-f]{8}_/);
    expect(dump).not.toContain(TEST_ADMIN_PASSWORD);
    expect(dump).not.toContain(PASSWORD);
  });
});
