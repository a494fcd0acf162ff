// /api/v1/auth/*, /api/v1/me and /api/v1/apikeys.
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Api } from '../../http/app.ts';
import { anonymousActor, appendAudit } from '../audit/index.ts';
import type { Actor, AppContext } from '../context.ts';
import { AppError, badRequest, forbidden, notFound, tooManyRequests, unauthorized, validationFailed } from '../errors.ts';
import { createApiKey, findApiKey, listApiKeys, revokeApiKey } from './apikeys.ts';
import { clearAuthCookies, cookieOptions, metaOf, requireActor } from './guards.ts';
import { hashPassword, passwordProblem, verifyPassword } from './passwords.ts';
import { authState, loadProfile, profileJsonOfPrincipal, type Me } from './principals.ts';
import { hasScope, isAdmin, knownScopes } from './scopes.ts';
import { CSRF_COOKIE, SESSION_COOKIE, randomToken, sha256 } from './tokens.ts';

/** Consecutive wrong passwords that lock an account, and for how long. */
export const MAX_FAILED_LOGINS = 5;
export const LOCK_MS = 15 * 60_000;
/** Auth bodies are tiny; anything bigger is refused before parsing. */
const AUTH_BODY_LIMIT = 16 * 1024;

const MeSchema = z
  .object({
    id: z.string(),
    username: z.string(),
    displayName: z.string(),
    displayNameEn: z.string().nullable(),
    locale: z.string(),
    kind: z.enum(['person', 'service', 'system']),
    roles: z.array(z.string()),
    departments: z.array(z.object({ id: z.string(), code: z.string(), name: z.string(), nameEn: z.string().nullable() })),
  })
  .meta({ id: 'Me' });

const ApiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(z.string()),
  userId: z.string(),
  username: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
});

const password = z.string().min(1).max(1024);

const wrongCredentials = () => unauthorized('Wrong user name or password.');

let dummy: Promise<string> | undefined;
/** A hash to verify against when the user does not exist, so both cases take as long. */
const dummyHash = () => (dummy ??= hashPassword(randomToken()));

function localTime(ctx: AppContext, at: Date): string {
  return new Intl.DateTimeFormat('sv-SE', {
    timeZone: ctx.config.timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(at);
}

function accountLocked(ctx: AppContext, until: Date, now: Date): AppError {
  const seconds = Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000));
  return new AppError(
    423,
    'account-locked',
    'Account locked',
    `Too many wrong passwords: this account is locked until ${localTime(ctx, until)} (${ctx.config.timezone}), ` +
      `about ${Math.ceil(seconds / 60)} minute(s) from now. Try again then, or ask an administrator to unlock it.`,
    { extra: { lockedUntil: until.toISOString() }, headers: { 'retry-after': String(seconds) } },
  );
}

function limitAttempts(ctx: AppContext, request: FastifyRequest, what: string): void {
  const take = authState(ctx).attempts.take(request.ip, ctx.clock.now().getTime());
  if (!take.ok) {
    request.log.warn({ ip: request.ip }, `${what} rate limit reached`);
    throw tooManyRequests(`Too many ${what} attempts from your address. Wait ${take.retryAfterSeconds} seconds and try again.`, take.retryAfterSeconds);
  }
}

function sessionActor(request: FastifyRequest): Actor {
  const actor = requireActor(request);
  if (actor.principal.kind !== 'user' || !actor.principal.sessionId) {
    throw forbidden('This can only be done from a signed-in browser session, not with an API key.');
  }
  return actor;
}

interface LoginUser {
  id: string;
  password_hash: string | null;
  active: boolean;
  locked_until: Date | null;
}

export function authRoutes(api: Api, ctx: AppContext): void {
  const state = authState(ctx);
  const { db, clock } = ctx;

  api.post(
    '/auth/login',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      config: { auth: 'none' },
      schema: {
        tags: ['auth'],
        summary: 'Sign in; sets the session and CSRF cookies',
        security: [],
        body: z.object({ username: z.string().min(1).max(100), password }).strict(),
        response: { 200: z.object({ user: MeSchema, csrfToken: z.string() }) },
      },
    },
    async (request, reply) => {
      limitAttempts(ctx, request, 'sign-in');
      const meta = metaOf(request);
      const now = clock.now();
      const username = request.body.username.trim().toLowerCase();
      const anon = anonymousActor(meta, username);
      const user = (
        await db.query<LoginUser>('select id, password_hash, active, locked_until from users where username = $1', [username])
      ).rows[0];
      if (!user) {
        await verifyPassword(await dummyHash(), request.body.password);
        await db.tx((tx) => appendAudit(tx, anon, { action: 'auth.login_failed', detail: { reason: 'unknown_user' } }, now));
        throw wrongCredentials();
      }
      const target = { targetType: 'user', targetId: user.id };
      if (user.locked_until && user.locked_until.getTime() > now.getTime()) {
        await db.tx((tx) => appendAudit(tx, anon, { action: 'auth.login_failed', ...target, detail: { reason: 'locked' } }, now));
        throw accountLocked(ctx, user.locked_until, now);
      }
      const ok = await verifyPassword(user.password_hash ?? (await dummyHash()), request.body.password);
      if (!ok || !user.password_hash) {
        const lockUntil = new Date(now.getTime() + LOCK_MS);
        // Counter and audit commit together; the guard skips an account another request just locked.
        const outcome = await db.tx(async (tx) => {
          const r = await tx.query<{ failed_logins: number; locked: boolean }>(
            `update users set
               failed_logins = case when failed_logins + 1 >= $2 then 0 else failed_logins + 1 end,
               locked_until = case when failed_logins + 1 >= $2 then $3::timestamptz end
             where id = $1 and (locked_until is null or locked_until <= $4)
             returning failed_logins, (locked_until is not null) as locked`,
            [user.id, MAX_FAILED_LOGINS, lockUntil, now],
          );
          const row = r.rows[0];
          const locked = !row || row.locked;
          const failures = row ? (row.locked ? MAX_FAILED_LOGINS : row.failed_logins) : MAX_FAILED_LOGINS;
          await appendAudit(tx, anon, { action: 'auth.login_failed', ...target, detail: { reason: 'wrong_password', failures } }, now);
          if (row?.locked) {
            await appendAudit(tx, anon, { action: 'auth.locked', ...target, detail: { until: lockUntil.toISOString(), failures } }, now);
          }
          return { locked, until: row?.locked ? lockUntil : null };
        });
        if (outcome.locked) {
          const until =
            outcome.until ??
            (await db.query<{ locked_until: Date }>('select locked_until from users where id = $1', [user.id])).rows[0]?.locked_until ??
            lockUntil;
          throw accountLocked(ctx, until, now);
        }
        throw wrongCredentials();
      }
      if (!user.active) {
        await db.tx((tx) => appendAudit(tx, anon, { action: 'auth.login_failed', ...target, detail: { reason: 'disabled' } }, now));
        throw new AppError(403, 'account-disabled', 'Account disabled', 'This account is disabled. Ask an administrator to enable it.');
      }
      const profile = await loadProfile(db, user.id);
      if (!profile) throw wrongCredentials(); // deleted between the two reads
      const token = randomToken();
      const csrfToken = randomToken();
      const sessionId = sha256(token);
      const expiresAt = new Date(now.getTime() + ctx.config.sessionTtlMs);
      const principal = Object.freeze({ ...profile.principal, sessionId });
      await db.tx(async (tx) => {
        await tx.query(
          'update users set failed_logins = 0, locked_until = null where id = $1 and (failed_logins <> 0 or locked_until is not null)',
          [user.id],
        );
        await tx.query(
          `insert into sessions (id, user_id, csrf_token, ip, user_agent, created_at, last_seen_at, expires_at)
           values ($1, $2, $3, $4, $5, $6, $6, $7)`,
          [sessionId, user.id, csrfToken, meta.ip, meta.userAgent, now, expiresAt],
        );
        await appendAudit(
          tx,
          { principal, meta },
          { action: 'auth.login', ...target, detail: { sessionExpiresAt: expiresAt.toISOString() } },
          now,
        );
      });
      const maxAge = Math.floor(ctx.config.sessionTtlMs / 1000);
      reply.setCookie(SESSION_COOKIE, token, { ...cookieOptions(ctx, true), maxAge });
      reply.setCookie(CSRF_COOKIE, csrfToken, { ...cookieOptions(ctx, false), maxAge });
      return { user: profile.me, csrfToken };
    },
  );

  api.post(
    '/auth/logout',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      config: { auth: 'optional' },
      schema: { tags: ['auth'], summary: 'Sign out: ends the session and clears its cookies (204)' },
    },
    async (request, reply) => {
      const p = request.principal;
      if (p?.sessionId) {
        const sessionId = p.sessionId;
        const now = clock.now();
        await db.tx(async (tx) => {
          const r = await tx.query('update sessions set revoked_at = $2 where id = $1 and revoked_at is null returning id', [sessionId, now]);
          if (r.rows.length > 0) await appendAudit(tx, { principal: p, meta: metaOf(request) }, { action: 'auth.logout', targetType: 'user', targetId: p.userId }, now);
          tx.afterCommit(() => state.invalidateSessions([sessionId]));
        });
      }
      clearAuthCookies(reply, ctx);
      return reply.code(204).send();
    },
  );

  api.post(
    '/auth/password',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      schema: {
        tags: ['auth'],
        summary: 'Change your password; ends your other sessions (204)',
        body: z.object({ currentPassword: password, newPassword: password }).strict(),
      },
    },
    async (request, reply) => {
      const actor = sessionActor(request);
      limitAttempts(ctx, request, 'password');
      const { userId, sessionId } = actor.principal;
      const row = (await db.query<{ password_hash: string | null }>('select password_hash from users where id = $1', [userId])).rows[0];
      const now = clock.now();
      if (!(await verifyPassword(row?.password_hash, request.body.currentPassword))) {
        await db.tx((tx) =>
          appendAudit(tx, actor, { action: 'auth.password_change_failed', targetType: 'user', targetId: userId, detail: { reason: 'wrong_current' } }, now),
        );
        throw validationFailed('The current password is wrong.', [{ path: 'body.currentPassword', message: 'wrong password' }]);
      }
      const problem = passwordProblem(request.body.newPassword);
      if (problem) throw validationFailed(problem, [{ path: 'body.newPassword', message: problem }]);
      if (request.body.newPassword === request.body.currentPassword) {
        throw validationFailed('The new password must differ from the current one.', [{ path: 'body.newPassword', message: 'same as current' }]);
      }
      const hash = await hashPassword(request.body.newPassword);
      await db.tx(async (tx) => {
        await tx.query('update users set password_hash = $2, password_changed_at = $3, updated_at = $3 where id = $1', [userId, hash, now]);
        const revoked = await tx.query<{ id: string }>(
          'update sessions set revoked_at = $3 where user_id = $1 and id <> $2 and revoked_at is null returning id',
          [userId, sessionId, now],
        );
        await appendAudit(
          tx,
          actor,
          { action: 'auth.password_change', targetType: 'user', targetId: userId, detail: { endedSessions: revoked.rows.length } },
          now,
        );
        const ids = revoked.rows.map((r) => r.id);
        tx.afterCommit(() => state.invalidateSessions(ids));
      });
      return reply.code(204).send();
    },
  );

  api.post(
    '/auth/signing-pin',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      schema: {
        tags: ['auth'],
        summary: 'Set your e-signature PIN (6 digits), confirmed with your password (204)',
        body: z.object({ currentPassword: password, pin: z.string().regex(/^\d{6}$/, 'must be exactly 6 digits') }).strict(),
      },
    },
    async (request, reply) => {
      const actor = sessionActor(request);
      limitAttempts(ctx, request, 'password');
      const { userId } = actor.principal;
      const row = (await db.query<{ password_hash: string | null }>('select password_hash from users where id = $1', [userId])).rows[0];
      const now = clock.now();
      if (!(await verifyPassword(row?.password_hash, request.body.currentPassword))) {
        await db.tx((tx) =>
          appendAudit(tx, actor, { action: 'auth.signing_pin_failed', targetType: 'user', targetId: userId, detail: { reason: 'wrong_password' } }, now),
        );
        throw validationFailed('The password is wrong.', [{ path: 'body.currentPassword', message: 'wrong password' }]);
      }
      if (/^(\d)\1{5}$/.test(request.body.pin) || '0123456789'.includes(request.body.pin) || '9876543210'.includes(request.body.pin)) {
        throw validationFailed('Choose a PIN that is not a repeated digit or a simple sequence.', [{ path: 'body.pin', message: 'too simple' }]);
      }
      const pinHash = await hashPassword(request.body.pin);
      await db.tx(async (tx) => {
        await tx.query('update users set signing_pin_hash = $2, updated_at = $3 where id = $1', [userId, pinHash, now]);
        await appendAudit(tx, actor, { action: 'auth.signing_pin_set', targetType: 'user', targetId: userId }, now);
      });
      return reply.code(204).send();
    },
  );

  api.get(
    '/me',
    {
      // The hottest authenticated route: no per-request info logs (errors are still logged).
      logLevel: 'warn',
      schema: { tags: ['auth'], summary: 'The signed-in user, roles and departments', response: { 200: MeSchema } },
    },
    async (request, reply) => {
      const { principal } = requireActor(request);
      // Serialised once per cached principal; a JSON string is sent as is (the schema documents it).
      const json = profileJsonOfPrincipal(principal);
      if (json !== undefined) return reply.type('application/json; charset=utf-8').send(json as unknown as Me);
      const me = (await loadProfile(db, principal.userId))?.me;
      if (!me) throw unauthorized('Your account no longer exists. Sign in again.');
      return me;
    },
  );

  api.get(
    '/apikeys',
    {
      schema: {
        tags: ['apikeys'],
        summary: 'Your API keys (administrators: all keys); secrets are never shown again',
        response: { 200: z.object({ items: z.array(ApiKeySchema) }) },
      },
    },
    async (request) => {
      const { principal } = requireActor(request, { scope: 'admin' });
      return { items: await listApiKeys(db, isAdmin(principal) ? null : principal.userId) };
    },
  );

  const scopes = knownScopes() as [string, ...string[]];
  api.post(
    '/apikeys',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      schema: {
        tags: ['apikeys'],
        summary: 'Create an API key; the full key is in this answer only',
        body: z
          .object({
            name: z.string().trim().min(1).max(100),
            scopes: z.array(z.enum(scopes)).min(1).max(32),
            expiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
            userId: z.uuid().optional().describe('Administrators only: create the key for this user (e.g. a service account)'),
          })
          .strict(),
        response: { 201: ApiKeySchema.extend({ key: z.string().describe('Shown once: store it now') }) },
      },
    },
    async (request, reply) => {
      const actor = requireActor(request, { scope: 'admin' });
      const p = actor.principal;
      const now = clock.now();
      const expiresAt = request.body.expiresAt ? new Date(request.body.expiresAt) : null;
      // Input problems come before authorisation problems, whatever else the body says.
      if (expiresAt && expiresAt.getTime() <= now.getTime()) {
        throw badRequest('The expiry date must be in the future.', [{ path: 'body.expiresAt', message: 'in the past' }]);
      }
      const userId = request.body.userId ?? p.userId;
      if (userId !== p.userId && !isAdmin(p)) throw forbidden('Only administrators can create keys for another user.');
      const wider = request.body.scopes.filter((s) => !hasScope(p, s));
      if (wider.length) throw forbidden(`An API key cannot create a key with more rights than its own (${wider.join(', ')}).`);
      const created = await db.tx((tx) =>
        createApiKey(
          tx,
          actor,
          {
            userId,
            name: request.body.name,
            scopes: request.body.scopes,
            expiresAt,
          },
          now,
        ),
      );
      return reply.code(201).send(created);
    },
  );

  api.delete(
    '/apikeys/:id',
    {
      schema: { tags: ['apikeys'], summary: 'Revoke an API key (204)', params: z.object({ id: z.uuid() }).strict() },
    },
    async (request, reply) => {
      const actor = requireActor(request, { scope: 'admin' });
      const key = await findApiKey(db, request.params.id);
      if (!key || (key.userId !== actor.principal.userId && !isAdmin(actor.principal))) {
        throw notFound('There is no such API key among yours.');
      }
      await db.tx(async (tx) => {
        await revokeApiKey(tx, actor, key, clock.now());
        tx.afterCommit(() => state.invalidateApiKey(key.id));
      });
      return reply.code(204).send();
    },
  );
}
