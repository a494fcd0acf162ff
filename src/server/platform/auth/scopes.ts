// What an API key may do. A key acts as its user, narrowed to its scopes; a session has the
// full rights of its user (scopes = null). Roles grant, scopes restrict.
import type { Principal } from '../context.ts';

const known = new Set<string>(['*', 'admin', 'org:read', 'org:write', 'records:read', 'records:write']);

/** Scopes an API key may carry. Engines add their own (`workflow:write`) with `registerScopes`. */
export function knownScopes(): string[] {
  return [...known].sort();
}

export function isKnownScope(scope: string): boolean {
  return known.has(scope);
}

export function registerScopes(...scopes: string[]): void {
  for (const s of scopes) {
    if (!/^(\*|[a-z][a-z0-9_-]*(:[a-z][a-z0-9_-]*)?)$/.test(s)) throw new Error(`Invalid scope name ${JSON.stringify(s)}`);
    known.add(s);
  }
}

/**
 * True when the principal may act within `scope`. `*` covers everything; `x:write` covers
 * `x:read`; sessions (scopes null) are unrestricted.
 */
export function hasScope(p: Principal, scope: string): boolean {
  const s = p.scopes;
  if (s === null) return true;
  if (s.includes('*') || s.includes(scope)) return true;
  return scope.endsWith(':read') && s.includes(`${scope.slice(0, -5)}:write`);
}

/** Administrators pass every role check; an admin's API key only with scope `admin` or `*`. */
export function isAdmin(p: Principal): boolean {
  return p.roles.includes('admin') && hasScope(p, 'admin');
}

export function hasRole(p: Principal, ...codes: string[]): boolean {
  return isAdmin(p) || codes.some((c) => p.roles.includes(c));
}
