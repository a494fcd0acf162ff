// Accounts: creating users (CLI, first start) and the first administrator.
import type { BootstrapOptions } from '../../engine.ts';
import type { Tx } from '../../db/index.ts';
import { appendAudit } from '../audit/index.ts';
import { systemActor, type Actor, type AppContext } from '../context.ts';
import { badRequest, conflict, unprocessable } from '../errors.ts';
import { hashPassword, passwordProblem } from './passwords.ts';
import { generatePassword } from './tokens.ts';

/** Lowercase letters, digits, `.`, `_`, `-`; starts with a letter or digit; at most 64 characters. */
export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface NewUser {
  username: string;
  displayName: string;
  displayNameEn?: string | null;
  kind?: 'person' | 'service';
  /** argon2 hash (hash outside the transaction with `hashPassword`); null = cannot sign in with a password. */
  passwordHash: string | null;
  roles?: string[];
  /** Code of the primary department. */
  departmentCode?: string | null;
  locale?: string;
}

/** Creates a user with roles and a primary department, and audits it, in the caller's transaction. */
export async function createUser(tx: Tx, actor: Actor, input: NewUser, at: Date): Promise<{ id: string }> {
  const username = input.username.trim().toLowerCase();
  if (!USERNAME_PATTERN.test(username)) {
    throw badRequest(
      `"${input.username}" is not a valid user name: use lowercase letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit).`,
      [{ path: 'username', message: 'invalid user name' }],
    );
  }
  const displayName = input.displayName.trim();
  if (!displayName) throw badRequest('The display name must not be empty.', [{ path: 'displayName', message: 'required' }]);
  const roleCodes = [...new Set(input.roles ?? [])];
  const roles = roleCodes.length
    ? (await tx.query<{ id: string; code: string }>('select id, code from roles where code = any($1::text[])', [roleCodes])).rows
    : [];
  const missing = roleCodes.filter((c) => !roles.some((r) => r.code === c));
  if (missing.length) {
    const all = (await tx.query<{ code: string }>('select code from roles order by code')).rows.map((r) => r.code);
    throw unprocessable(`Unknown role(s): ${missing.join(', ')}. Known roles: ${all.join(', ') || '(none)'}.`);
  }
  let departmentId: string | null = null;
  if (input.departmentCode) {
    const d = await tx.query<{ id: string }>('select id from departments where code = $1', [input.departmentCode]);
    if (!d.rows[0]) throw unprocessable(`Unknown department "${input.departmentCode}". Create it first or check the code.`);
    departmentId = d.rows[0].id;
  }
  const inserted = await tx.query<{ id: string }>(
    `insert into users (username, display_name, display_name_en, kind, password_hash, password_changed_at, locale, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $8)
     on conflict (username) do nothing returning id`,
    [username, displayName, input.displayNameEn ?? null, input.kind ?? 'person', input.passwordHash, input.passwordHash ? at : null, input.locale ?? 'zh-CN', at],
  );
  const id = inserted.rows[0]?.id;
  if (!id) throw conflict(`A user named "${username}" already exists.`);
  for (const r of roles) await tx.query('insert into user_roles (user_id, role_id) values ($1, $2)', [id, r.id]);
  if (departmentId) {
    await tx.query('insert into user_departments (user_id, department_id, is_primary) values ($1, $2, true)', [id, departmentId]);
  }
  await appendAudit(
    tx,
    actor,
    {
      action: 'org.user.create',
      targetType: 'user',
      targetId: id,
      detail: { username, displayName, kind: input.kind ?? 'person', roles: roleCodes, department: input.departmentCode ?? null },
    },
    at,
  );
  return { id };
}

/** Checks a chosen password or generates one; returns the password and whether it was generated. */
export function choosePassword(given: string | undefined): { password: string; generated: boolean } {
  if (given === undefined) return { password: generatePassword(), generated: true };
  const problem = passwordProblem(given);
  if (problem) throw badRequest(problem, [{ path: 'password', message: problem }]);
  return { password: given, generated: false };
}

/**
 * First start: the builtin `admin` role and the `admin` user. The password comes from
 * TRELLIS_ADMIN_PASSWORD or is generated and announced once (never logged). An existing
 * admin is left alone, password included. Safe when several processes start at once.
 */
export async function bootstrapAuth(ctx: AppContext, opts: BootstrapOptions): Promise<void> {
  const at = ctx.clock.now();
  await ctx.db.tx(async (tx) => {
    const role = await tx.query<{ id: string }>(
      `insert into roles (code, name, name_en, description, builtin) values ('admin', '系统管理员', 'Administrator', $1, true)
       on conflict (code) do nothing returning id`,
      ['Full access to every app, setting and record.'],
    );
    if (role.rows[0]) {
      await appendAudit(tx, systemActor, { action: 'org.role.create', targetType: 'role', targetId: role.rows[0].id, detail: { code: 'admin' } }, at);
    }
  });
  const exists = await ctx.db.query('select 1 from users where username = $1', ['admin']);
  if (exists.rows.length > 0) return;
  const weak = ctx.config.adminPassword !== undefined ? passwordProblem(ctx.config.adminPassword) : null;
  if (weak) throw new Error(`TRELLIS_ADMIN_PASSWORD is not accepted: ${weak} Choose another, or unset it to get a generated one.`);
  const { password, generated } = choosePassword(ctx.config.adminPassword);
  const passwordHash = await hashPassword(password);
  await ctx.db.tx(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [74_201_003]);
    const again = await tx.query('select 1 from users where username = $1', ['admin']);
    if (again.rows.length > 0) return;
    await createUser(tx, systemActor, { username: 'admin', displayName: '管理员', displayNameEn: 'Administrator', passwordHash, roles: ['admin'] }, at);
    tx.afterCommit(() =>
      opts.announce(
        generated
          ? `Created the administrator account "admin" with the password: ${password}\nIt is shown only this once. Sign in and change it.`
          : 'Created the administrator account "admin" with the password from TRELLIS_ADMIN_PASSWORD.',
      ),
    );
  });
}
