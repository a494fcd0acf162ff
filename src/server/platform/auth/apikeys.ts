// API keys: `trk_<prefix>_<secret>`, stored as sha-256, shown to their owner once.
import type { Sql, Tx } from '../../db/index.ts';
import { appendAudit } from '../audit/index.ts';
import type { Actor } from '../context.ts';
import { badRequest, unprocessable } from '../errors.ts';
import { isKnownScope, knownScopes } from './scopes.ts';
import { newApiKey } from './tokens.ts';

export interface ApiKeyInfo {
  id: string;
  name: string;
  /** Public part, e.g. `trk_ab12cd34`: enough to recognise a key, useless to sign in. */
  prefix: string;
  scopes: string[];
  userId: string;
  username: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
  createdBy: string | null;
}

interface Row {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  user_id: string;
  username: string;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  created_at: Date;
  created_by: string | null;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

const toInfo = (r: Row): ApiKeyInfo => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  scopes: r.scopes,
  userId: r.user_id,
  username: r.username,
  expiresAt: iso(r.expires_at),
  revokedAt: iso(r.revoked_at),
  lastUsedAt: iso(r.last_used_at),
  createdAt: new Date(r.created_at).toISOString(),
  createdBy: r.created_by,
});

const SELECT = `select k.id, k.name, k.prefix, k.scopes, k.user_id, u.username, k.expires_at, k.revoked_at, k.last_used_at,
  k.created_at, k.created_by from api_keys k join users u on u.id = k.user_id`;

export interface NewApiKeyInput {
  userId: string;
  name: string;
  scopes: string[];
  expiresAt: Date | null;
}

/** Creates a key in the caller's transaction; the returned `key` is the only time it is visible. */
export async function createApiKey(tx: Tx, actor: Actor, input: NewApiKeyInput, at: Date): Promise<ApiKeyInfo & { key: string }> {
  const unknown = input.scopes.filter((s) => !isKnownScope(s));
  if (unknown.length) {
    throw badRequest(
      `Unknown scope(s): ${unknown.join(', ')}. Known scopes: ${knownScopes().join(', ')}.`,
      unknown.map((s) => ({ path: `body.scopes.${input.scopes.indexOf(s)}`, message: `unknown scope "${s}"` })),
    );
  }
  if (!input.scopes.length) throw badRequest('Give the key at least one scope.', [{ path: 'body.scopes', message: 'empty' }]);
  if (input.expiresAt && input.expiresAt.getTime() <= at.getTime()) {
    throw badRequest('The expiry date must be in the future.', [{ path: 'body.expiresAt', message: 'in the past' }]);
  }
  const user = await tx.query<{ active: boolean; kind: string }>('select active, kind from users where id = $1', [input.userId]);
  if (!user.rows[0]) throw unprocessable(`There is no user with id ${input.userId}.`);
  if (!user.rows[0].active) throw unprocessable('That user is disabled; enable the account before creating keys for it.');
  if (user.rows[0].kind === 'system') throw unprocessable('Keys cannot be created for the built-in system user.');
  const scopes = [...new Set(input.scopes)].sort();
  const secret = newApiKey();
  const ins = await tx.query<{ id: string }>(
    `insert into api_keys (user_id, name, prefix, secret_hash, scopes, expires_at, created_by, created_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8) returning id`,
    [input.userId, input.name, secret.prefix, secret.hash, scopes, input.expiresAt, actor.principal.userId, at],
  );
  const id = ins.rows[0]!.id;
  await appendAudit(
    tx,
    actor,
    {
      action: 'auth.apikey.create',
      targetType: 'api_key',
      targetId: id,
      detail: { name: input.name, prefix: secret.prefix, scopes, userId: input.userId, expiresAt: iso(input.expiresAt) },
    },
    at,
  );
  const row = (await tx.query<Row>(`${SELECT} where k.id = $1`, [id])).rows[0]!;
  return { ...toInfo(row), key: secret.key };
}

/** Keys of one user, or of everybody when `userId` is null; newest first. */
export async function listApiKeys(sql: Sql, userId: string | null): Promise<ApiKeyInfo[]> {
  const r = userId
    ? await sql.query<Row>(`${SELECT} where k.user_id = $1 order by k.created_at desc, k.id`, [userId])
    : await sql.query<Row>(`${SELECT} order by k.created_at desc, k.id`);
  return r.rows.map(toInfo);
}

export async function findApiKey(sql: Sql, id: string): Promise<ApiKeyInfo | null> {
  const r = await sql.query<Row>(`${SELECT} where k.id = $1`, [id]);
  return r.rows[0] ? toInfo(r.rows[0]) : null;
}

/** Revokes a key (idempotent); true when this call revoked it. */
export async function revokeApiKey(tx: Tx, actor: Actor, key: ApiKeyInfo, at: Date): Promise<boolean> {
  const r = await tx.query('update api_keys set revoked_at = $2 where id = $1 and revoked_at is null returning id', [key.id, at]);
  if (r.rows.length === 0) return false;
  await appendAudit(
    tx,
    actor,
    { action: 'auth.apikey.revoke', targetType: 'api_key', targetId: key.id, detail: { name: key.name, prefix: key.prefix, userId: key.userId } },
    at,
  );
  return true;
}
