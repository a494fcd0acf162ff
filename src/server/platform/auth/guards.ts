// The request side of authentication: one onRequest hook that turns the session cookie or
// the API key into `request.principal`, the CSRF check for cookie-authenticated writes, and
// the small guards every engine uses in its handlers.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Api } from '../../http/app.ts';
import type { Actor, AppContext, Principal, RequestMeta } from '../context.ts';
import { AppError, forbidden, unauthorized } from '../errors.ts';
import { authState, isFailure, type Failure, type Resolved } from './principals.ts';
import { hasRole, hasScope } from './scopes.ts';
import { CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, safeEqual } from './tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling; null when no credential was sent. Set by `installAuth`. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /**
     * `optional`: a bad or expired credential makes the request anonymous instead of a 401
     * (logout). `none`: credentials are not looked at (login).
     */
    auth?: 'optional' | 'none';
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export const csrfFailed = () =>
  new AppError(403, 'csrf-failed', 'CSRF check failed', 'Missing or wrong CSRF token; reload the page.');

/** Cookie options shared by login (set) and logout (clear). */
export function cookieOptions(ctx: AppContext, httpOnly: boolean) {
  return {
    path: '/',
    httpOnly,
    sameSite: httpOnly ? ('lax' as const) : ('strict' as const),
    secure: ctx.config.secureCookies,
  };
}

export function clearAuthCookies(reply: FastifyReply, ctx: AppContext): void {
  reply.clearCookie(SESSION_COOKIE, cookieOptions(ctx, true));
  reply.clearCookie(CSRF_COOKIE, cookieOptions(ctx, false));
}

function rejectCredential(reply: FastifyReply, ctx: AppContext, via: Resolved['via'], f: Failure): AppError {
  if (via === 'session') clearAuthCookies(reply, ctx); // the browser stops sending a dead cookie
  else reply.header('www-authenticate', `Bearer error="invalid_token"`);
  const e = unauthorized(f.message);
  return new AppError(e.status, f.failure === 'expired' ? 'session-expired' : e.slug, e.title, e.message, {
    extra: { reason: f.failure },
  });
}

/**
 * Installs principal resolution on every route of `api` (call it before registering routes).
 * A credential that is present but malformed, unknown, revoked or expired is a 401 with a
 * message that says what to do; no credential at all leaves `request.principal` null.
 */
export function installAuth(api: Api, ctx: AppContext): void {
  const state = authState(ctx);
  api.decorateRequest('principal', null);
  api.addHook('onRequest', async (request, reply) => {
    const mode = request.routeOptions.config?.auth;
    if (mode === 'none') return;
    let via: Resolved['via'];
    let result: Resolved | Failure | Promise<Resolved | Failure>;
    // Other schemes (Basic from a reverse proxy in front of Trellis) are not ours: ignored.
    const authorization = request.headers.authorization;
    if (authorization !== undefined && /^bearer(\s|$)/i.test(authorization)) {
      via = 'apikey';
      result = state.resolveApiKey(authorization.slice(6).trim());
    } else {
      const token = request.cookies?.[SESSION_COOKIE];
      if (token === undefined || token === '') return;
      via = 'session';
      result = state.resolveSession(token);
    }
    const r = result instanceof Promise ? await result : result;
    if (isFailure(r)) {
      if (mode === 'optional') return;
      throw rejectCredential(reply, ctx, via, r);
    }
    request.principal = r.principal;
    if (r.via === 'session' && UNSAFE.has(request.method)) {
      const sent = request.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || r.csrfToken === null || !safeEqual(sent, r.csrfToken)) throw csrfFailed();
    }
  });
}

/** Where a request comes from, for audit entries. */
export function metaOf(request: FastifyRequest): RequestMeta {
  const ua = request.headers['user-agent'];
  return { ip: request.ip ?? null, userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null, requestId: request.id };
}

/** The acting principal with its request meta, or null for an anonymous request. */
export function actorOf(request: FastifyRequest): Actor | null {
  return request.principal ? { principal: request.principal, meta: metaOf(request) } : null;
}

/** 401 unless signed in; 403 when an API key lacks `opts.scope`. */
export function requireActor(request: FastifyRequest, opts: { scope?: string } = {}): Actor {
  const p = request.principal;
  if (!p) throw unauthorized('Sign in first, or send an API key as "Authorization: Bearer trk_…".');
  if (opts.scope !== undefined && !hasScope(p, opts.scope)) {
    throw forbidden(`This API key lacks the scope "${opts.scope}". Use a key that has it, or create one with POST /api/v1/apikeys.`);
  }
  return { principal: p, meta: metaOf(request) };
}

/** 403 unless the principal has one of the roles; `admin` passes every check. */
export function requireRole(request: FastifyRequest, ...roleCodes: string[]): Actor {
  const actor = requireActor(request);
  if (!hasRole(actor.principal, ...roleCodes)) {
    const need = roleCodes.length ? roleCodes.map((c) => `"${c}"`).join(' or ') : '"admin"';
    throw forbidden(`This needs the role ${need}. Ask an administrator to grant it.`);
  }
  return actor;
}
