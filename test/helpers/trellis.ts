// A whole Trellis on a test database, driven with app.inject (no port needed).
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { loadConfig } from '../../src/server/config.ts';
import { createTrellis, type Trellis } from '../../src/server/main.ts';
import type { Clock } from '../../src/server/platform/context.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export const TEST_ADMIN_PASSWORD = 'Admin-Pass-2026!';

export interface TestTrellis extends Trellis {
  testDb: TestDatabase;
  /** Closes Trellis and drops the test database. */
  destroy(): Promise<void>;
}

export async function createTestTrellis(opts: { seedDemo?: boolean; clock?: Clock; env?: Record<string, string> } = {}): Promise<TestTrellis> {
  const testDb = await createTestDatabase();
  const config = loadConfig({
    TRELLIS_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
    TRELLIS_LOG_LEVEL: 'silent',
    TRELLIS_DATA_DIR: '/nonexistent-test-data-dir',
    ...opts.env,
  });
  const trellis = await createTrellis(config, {
    db: testDb.db,
    seedDemo: opts.seedDemo ?? false,
    clock: opts.clock,
    announce: () => {},
    logger: pino({ level: 'silent' }),
  });
  return {
    ...trellis,
    testDb,
    async destroy() {
      await trellis.close();
      await testDb.drop();
    },
  };
}

// ---- signed-in sessions -------------------------------------------------------------

export interface TestSession {
  userId: string;
  username: string;
  /** Raw value of the `trellis_session` cookie. */
  sessionToken: string;
  csrfToken: string;
  cookies: Record<string, string>;
  /** `app.inject` with this session's cookie, plus the X-CSRF-Token header on writes. */
  inject(opts: InjectOptions | string): Promise<LightMyRequestResponse>;
}

let loginAddress = 0;

/**
 * Signs in through POST /api/v1/auth/login. Each call comes from its own 10.x address so
 * that many sign-ins in one test file do not trip the per-IP sign-in rate limit.
 */
export async function loginAs(t: Pick<Trellis, 'app'>, username = 'admin', password = TEST_ADMIN_PASSWORD): Promise<TestSession> {
  loginAddress++;
  const remoteAddress = `10.${(loginAddress >> 16) & 255}.${(loginAddress >> 8) & 255}.${loginAddress & 255}`;
  const r = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password }, remoteAddress });
  if (r.statusCode !== 200) throw new Error(`loginAs(${username}) failed: ${r.statusCode} ${r.body}`);
  const body = r.json() as { user: { id: string; username: string }; csrfToken: string };
  const sessionToken = r.cookies.find((c) => c.name === 'trellis_session')?.value;
  if (!sessionToken) throw new Error('loginAs: no session cookie in the answer');
  const cookies = { trellis_session: sessionToken, trellis_csrf: body.csrfToken };
  return {
    userId: body.user.id,
    username: body.user.username,
    sessionToken,
    csrfToken: body.csrfToken,
    cookies,
    inject(opts) {
      const o: InjectOptions = typeof opts === 'string' ? { url: opts } : { ...opts };
      const method = String(o.method ?? 'GET').toUpperCase();
      o.cookies = { ...cookies, ...(o.cookies ?? {}) };
      if (!['GET', 'HEAD', 'OPTIONS'].includes(method)) o.headers = { 'x-csrf-token': body.csrfToken, ...(o.headers ?? {}) };
      return t.app.inject(o);
    },
  };
}

/** `app.inject` authenticated with an API key (`Authorization: Bearer …`). */
export function withApiKey(t: Pick<Trellis, 'app'>, key: string) {
  return (opts: InjectOptions | string): Promise<LightMyRequestResponse> => {
    const o: InjectOptions = typeof opts === 'string' ? { url: opts } : { ...opts };
    o.headers = { authorization: `Bearer ${key}`, ...(o.headers ?? {}) };
    return t.app.inject(o);
  };
}
