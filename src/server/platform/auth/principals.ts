// Who is calling: resolves a session token or an API key to a Principal, with an in-memory
// cache so that an authenticated request costs no database query.
//
// Cache and staleness. Resolved principals are cached per process for PRINCIPAL_TTL_MS (5 s),
// keyed by the sha-256 of the credential, at most PRINCIPAL_CACHE_SIZE entries. Logout, password
// change, API-key revocation and `invalidatePrincipals` drop entries at once, but only in this
// process: with several Trellis instances behind a balancer, another instance may keep
// accepting a revoked session or key, or use old roles and departments, for up to the TTL.
// Expiry times are checked on every request, so an expired credential is refused everywhere
// immediately. `last_seen_at` / `last_used_at` are written at most once a minute per credential.
import type { Sql } from '../../db/index.ts';
import type { AppContext, Principal } from '../context.ts';
import { TtlCache } from './cache.ts';
import { RateLimiter } from './rate-limit.ts';
import { apiKeyPrefix, isSessionToken, safeEqual, sha256 } from './tokens.ts';

export const PRINCIPAL_TTL_MS = 5_000;
export const PRINCIPAL_CACHE_SIZE = 10_000;
const FAILURE_CACHE_SIZE = 2_000;
const TOUCH_EVERY_MS = 60_000;

/** The signed-in user as the web app sees it (`GET /api/v1/me`). */
export interface Me {
  id: string;
  username: string;
  displayName: string;
  displayNameEn: string | null;
  locale: string;
  kind: 'person' | 'service' | 'system';
  roles: string[];
  departments: Array<{ id: string; code: string; name: string; nameEn: string | null }>;
}

export interface Resolved {
  via: 'session' | 'apikey';
  principal: Principal;
  me: Me;
  /** Session CSRF token (sessions only). */
  csrfToken: string | null;
  /** Epoch ms after which the credential is refused; null = never. */
  expiresAt: number | null;
  /** Epoch ms of the last `last_seen_at` / `last_used_at` write. */
  touchedAt: number;
}

export interface Failure {
  failure: 'malformed' | 'unknown' | 'revoked' | 'expired' | 'disabled';
  message: string;
}

export const isFailure = (r: Resolved | Failure): r is Failure => 'failure' in r;

const FAIL = {
  sessionMalformed: { failure: 'malformed', message: 'Your session cookie is not valid. Sign in again.' },
  sessionUnknown: { failure: 'unknown', message: 'Your session is no longer valid. Sign in again.' },
  sessionRevoked: {
    failure: 'revoked',
    message: 'This session has ended (signed out, or the password was changed). Sign in again.',
  },
  sessionExpired: { failure: 'expired', message: 'Your session has expired. Sign in again.' },
  disabled: { failure: 'disabled', message: 'Your account is disabled. Ask an administrator to enable it.' },
  keyMalformed: {
    failure: 'malformed',
    message:
      'The Authorization header does not hold a Trellis API key. Send "Authorization: Bearer trk_…" with a key from POST /api/v1/apikeys; browsers sign in with POST /api/v1/auth/login.',
  },
  keyUnknown: { failure: 'unknown', message: 'This API key is not known. Check that it was copied whole, or create a new one.' },
  keyRevoked: { failure: 'revoked', message: 'This API key has been revoked. Create a new one.' },
  keyExpired: { failure: 'expired', message: 'This API key has expired. Create a new one.' },
} satisfies Record<string, Failure>;

// One round trip: the user, their role codes and their departments (primary first).
const PROFILE_COLUMNS = `
  u.id as user_id, u.username, u.display_name, u.display_name_en, u.locale, u.kind, u.active,
  coalesce((select array_agg(r.code order by r.code) from user_roles ur join roles r on r.id = ur.role_id
            where ur.user_id = u.id), '{}') as roles,
  coalesce((select json_agg(json_build_object('id', d.id, 'code', d.code, 'name', d.name, 'nameEn', d.name_en,
                                              'primary', ud.is_primary) order by ud.is_primary desc, d.sort, d.code)
            from user_departments ud join departments d on d.id = ud.department_id
            where ud.user_id = u.id), '[]') as departments`;

interface ProfileRow {
  user_id: string;
  username: string;
  display_name: string;
  display_name_en: string | null;
  locale: string;
  kind: Me['kind'];
  active: boolean;
  roles: string[] | string;
  departments: Array<{ id: string; code: string; name: string; nameEn: string | null; primary: boolean }> | string;
}

/** Postgres arrays come back parsed from both drivers; a text literal is handled just in case. */
function textArray(v: string[] | string): string[] {
  if (Array.isArray(v)) return v;
  const inner = v.replace(/^\{|\}$/g, '');
  return inner ? inner.split(',').map((s) => s.replace(/^"|"$/g, '')) : [];
}

function profileOf(row: ProfileRow, via: 'user' | 'apikey', scopes: string[] | null): { principal: Principal; me: Me } {
  const roles = textArray(row.roles);
  const depts = typeof row.departments === 'string' ? (JSON.parse(row.departments) as Exclude<ProfileRow['departments'], string>) : row.departments;
  const me: Me = {
    id: row.user_id,
    username: row.username,
    displayName: row.display_name,
    displayNameEn: row.display_name_en,
    locale: row.locale,
    kind: row.kind,
    roles,
    departments: depts.map((d) => ({ id: d.id, code: d.code, name: d.name, nameEn: d.nameEn })),
  };
  const principal: Principal = {
    kind: via,
    userId: row.user_id,
    username: row.username,
    displayName: row.display_name,
    roles: Object.freeze([...roles]) as string[],
    departmentIds: Object.freeze(depts.map((d) => d.id)) as string[],
    primaryDepartmentId: depts.find((d) => d.primary)?.id ?? depts[0]?.id ?? null,
    scopes: scopes ? (Object.freeze([...scopes]) as string[]) : null,
  };
  profiles.set(principal, me);
  return { principal, me };
}

/** The profile of one user (after login): same shape as a resolved principal. */
export async function loadProfile(sql: Sql, userId: string): Promise<{ principal: Principal; me: Me } | null> {
  const r = await sql.query<ProfileRow>(`select ${PROFILE_COLUMNS} from users u where u.id = $1`, [userId]);
  return r.rows[0] ? profileOf(r.rows[0], 'user', null) : null;
}

const profiles = new WeakMap<Principal, Me>();

const profileJson = new WeakMap<Principal, string>();

/** The `Me` profile cached beside a resolved principal (no database query). */
export function profileOfPrincipal(p: Principal): Me | undefined {
  return profiles.get(p);
}

/** The same profile as JSON text, serialised once per cached principal (the `/me` hot path). */
export function profileJsonOfPrincipal(p: Principal): string | undefined {
  let json = profileJson.get(p);
  if (json === undefined) {
    const me = profiles.get(p);
    if (!me) return undefined;
    json = JSON.stringify(me);
    profileJson.set(p, json);
  }
  return json;
}

const ms = (d: Date | string | null): number | null => (d === null ? null : new Date(d).getTime());

/** Per-process authentication state of one running Trellis: caches and the login rate limiter. */
export class AuthState {
  readonly ctx: AppContext;
  readonly principals = new TtlCache<Resolved>(PRINCIPAL_TTL_MS, PRINCIPAL_CACHE_SIZE);
  readonly failures = new TtlCache<Failure>(PRINCIPAL_TTL_MS, FAILURE_CACHE_SIZE);
  /** Sign-in and password attempts per client IP: 10 a minute, bursts of 20. */
  readonly attempts = new RateLimiter({ ratePerMinute: 10, burst: 20 });
  readonly #loading = new Map<string, Promise<Resolved | Failure>>();
  /** Bumped on every invalidation: a load that started before it does not fill the cache. */
  #generation = 0;

  constructor(ctx: AppContext) {
    this.ctx = ctx;
  }

  now(): number {
    return this.ctx.clock.now().getTime();
  }

  resolveSession(token: string): Resolved | Failure | Promise<Resolved | Failure> {
    if (!isSessionToken(token)) return FAIL.sessionMalformed;
    return this.#resolve(sha256(token), (hash) => this.#loadSession(hash));
  }

  resolveApiKey(key: string): Resolved | Failure | Promise<Resolved | Failure> {
    const prefix = apiKeyPrefix(key);
    if (!prefix) return FAIL.keyMalformed;
    return this.#resolve(sha256(key), (hash) => this.#loadApiKey(prefix, hash));
  }

  #resolve(hash: string, load: (hash: string) => Promise<Resolved | Failure>): Resolved | Failure | Promise<Resolved | Failure> {
    const now = this.now();
    const hit = this.principals.get(hash, now);
    if (hit) return this.#check(hash, hit, now);
    const failed = this.failures.get(hash, now);
    if (failed) return failed;
    let pending = this.#loading.get(hash);
    if (!pending) {
      const generation = this.#generation;
      const loading: Promise<Resolved | Failure> = load(hash)
        .then((r) => {
          if (generation === this.#generation) {
            if (isFailure(r)) this.failures.set(hash, r, this.now());
            else this.principals.set(hash, r, this.now());
          }
          return r;
        })
        .finally(() => {
          if (this.#loading.get(hash) === loading) this.#loading.delete(hash);
        });
      this.#loading.set(hash, loading);
      pending = loading;
    }
    return pending.then((r) => (isFailure(r) ? r : this.#check(hash, r, this.now())));
  }

  #check(hash: string, r: Resolved, now: number): Resolved | Failure {
    if (r.expiresAt !== null && now >= r.expiresAt) {
      this.principals.delete(hash);
      return r.via === 'session' ? FAIL.sessionExpired : FAIL.keyExpired;
    }
    if (now - r.touchedAt >= TOUCH_EVERY_MS) {
      r.touchedAt = now;
      const at = new Date(now);
      const write =
        r.via === 'session'
          ? this.ctx.db.query('update sessions set last_seen_at = $2 where id = $1', [hash, at])
          : this.ctx.db.query('update api_keys set last_used_at = $2 where id = $1', [r.principal.apiKeyId, at]);
      write.catch((err: unknown) => this.ctx.log.warn({ err }, 'could not record last use of a credential'));
    }
    return r;
  }

  async #loadSession(hash: string): Promise<Resolved | Failure> {
    const r = await this.ctx.db.query<
      ProfileRow & { csrf_token: string; expires_at: Date; revoked_at: Date | null; last_seen_at: Date }
    >(
      `select s.csrf_token, s.expires_at, s.revoked_at, s.last_seen_at, ${PROFILE_COLUMNS}
       from sessions s join users u on u.id = s.user_id where s.id = $1`,
      [hash],
    );
    const row = r.rows[0];
    if (!row) return FAIL.sessionUnknown;
    if (row.revoked_at) return FAIL.sessionRevoked;
    if (!row.active) return FAIL.disabled;
    const { principal, me } = profileOf(row, 'user', null);
    principal.sessionId = hash;
    return {
      via: 'session',
      principal: Object.freeze(principal),
      me: Object.freeze(me),
      csrfToken: row.csrf_token,
      expiresAt: ms(row.expires_at),
      touchedAt: ms(row.last_seen_at) ?? 0,
    };
  }

  async #loadApiKey(prefix: string, hash: string): Promise<Resolved | Failure> {
    const r = await this.ctx.db.query<
      ProfileRow & { key_id: string; secret_hash: string; scopes: string[] | string; expires_at: Date | null; revoked_at: Date | null; last_used_at: Date | null }
    >(
      `select k.id as key_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at, k.last_used_at, ${PROFILE_COLUMNS}
       from api_keys k join users u on u.id = k.user_id where k.prefix = $1`,
      [prefix],
    );
    const row = r.rows[0];
    if (!row || !safeEqual(row.secret_hash, hash)) return FAIL.keyUnknown;
    if (row.revoked_at) return FAIL.keyRevoked;
    if (!row.active) return FAIL.disabled;
    const { principal, me } = profileOf(row, 'apikey', textArray(row.scopes));
    principal.apiKeyId = row.key_id;
    return {
      via: 'apikey',
      principal: Object.freeze(principal),
      me: Object.freeze(me),
      csrfToken: null,
      expiresAt: ms(row.expires_at),
      touchedAt: ms(row.last_used_at) ?? 0,
    };
  }

  #drop(match: (r: Resolved) => boolean): void {
    this.#generation++;
    this.#loading.clear(); // requests from now on read the database afresh
    this.principals.deleteWhere(match);
    this.failures.clear();
  }

  invalidateSessions(sessionIds: readonly string[]): void {
    const ids = new Set(sessionIds);
    this.#drop((r) => r.principal.sessionId !== undefined && ids.has(r.principal.sessionId));
  }

  invalidateApiKey(id: string): void {
    this.#drop((r) => r.principal.apiKeyId === id);
  }

  /** Drops every cached credential of a user (roles, departments or status changed), or all when no id is given. */
  invalidateUser(userId?: string): void {
    this.#drop((r) => userId === undefined || r.principal.userId === userId);
  }
}

const states = new WeakMap<AppContext, AuthState>();

export function authState(ctx: AppContext): AuthState {
  let s = states.get(ctx);
  if (!s) {
    s = new AuthState(ctx);
    states.set(ctx, s);
  }
  return s;
}
