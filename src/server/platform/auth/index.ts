// Accounts, sessions and API keys. Other engines use the guards (`requireActor`,
// `requireRole`, `actorOf`, `metaOf`) and nothing else from this folder.
import type { Sql } from '../../db/index.ts';
import type { AppContext } from '../context.ts';
import { verifyPassword } from './passwords.ts';
import { authState } from './principals.ts';

export { installAuth, requireActor, requireRole, actorOf, metaOf, csrfFailed } from './guards.ts';
export { hasRole, hasScope, isAdmin, knownScopes, registerScopes, isKnownScope } from './scopes.ts';
export { hashPassword, verifyPassword, passwordProblem } from './passwords.ts';
export { authRoutes, MAX_FAILED_LOGINS, LOCK_MS } from './routes.ts';
export { bootstrapAuth, createUser, choosePassword, USERNAME_PATTERN, type NewUser } from './users.ts';
export { createApiKey, listApiKeys, revokeApiKey, type ApiKeyInfo } from './apikeys.ts';
export { PRINCIPAL_TTL_MS, type Me } from './principals.ts';
export { SESSION_COOKIE, CSRF_COOKIE, CSRF_HEADER, generatePassword } from './tokens.ts';

/**
 * Drops cached principals of a user (or of everyone) in this process, e.g. after changing
 * their roles, departments or active flag. Other instances catch up within PRINCIPAL_TTL_MS.
 */
export function invalidatePrincipals(ctx: AppContext, userId?: string): void {
  authState(ctx).invalidateUser(userId);
}

/** Checks a user's e-signature PIN (set with POST /auth/signing-pin); false when none is set. */
export async function verifySigningPin(sql: Sql, userId: string, pin: string): Promise<boolean> {
  const r = await sql.query<{ signing_pin_hash: string | null }>('select signing_pin_hash from users where id = $1', [userId]);
  return verifyPassword(r.rows[0]?.signing_pin_hash, pin);
}

/**
 * Deletes sessions that expired or were revoked more than `keepDays` ago (they are kept a while
 * for investigations). Idempotent; meant for a daily job. Returns how many were removed.
 */
export async function pruneSessions(sql: Sql, now: Date, keepDays = 30): Promise<number> {
  const before = new Date(now.getTime() - keepDays * 86_400_000);
  const r = await sql.query<{ id: string }>('delete from sessions where expires_at < $1 or revoked_at < $1 returning id', [before]);
  return r.rows.length;
}
