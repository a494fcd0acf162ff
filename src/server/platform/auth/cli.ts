// `trellis user create` and `trellis apikey create`: accounts from the command line, with
// the same rules and audit entries as the API. Secrets are printed once, to stdout only.
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { Command } from '../../cli/commands.ts';
import type { Config } from '../../config.ts';
import { migrate, type Database } from '../../db/index.ts';
import { allMigrations, openConfiguredDatabase } from '../../main.ts';
import { systemActor, systemClock, type Clock } from '../context.ts';
import { AppError } from '../errors.ts';
import { createApiKey } from './apikeys.ts';
import { hashPassword } from './passwords.ts';
import { knownScopes } from './scopes.ts';
import { choosePassword, createUser } from './users.ts';

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  clock?: Clock;
}

const consoleIo: CliIo = { out: (l) => console.log(l), err: (l) => console.error(`trellis: ${l}`) };

const USER_USAGE =
  'Usage: trellis user create <username> --name <display name> [--name-en <name>] [--password <password>] ' +
  '[--role <code>]... [--department <code>] [--service]';
const KEY_USAGE =
  'Usage: trellis apikey create --user <username> --name <key name> --scope <scope>... [--expires-in-days <n>]';

/** Runs `fn` and turns a refusal (AppError, bad arguments) into a message and exit code. */
async function guarded(io: CliIo, usage: string, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError) {
      io.err(err.message);
      return 1;
    }
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`${err.message}\n${usage}`);
      return 2;
    }
    throw err;
  }
}

export async function runUserCreate(db: Database, args: string[], io: CliIo = consoleIo): Promise<number> {
  return guarded(io, USER_USAGE, async () => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        'name-en': { type: 'string' },
        password: { type: 'string' },
        role: { type: 'string', multiple: true },
        department: { type: 'string' },
        service: { type: 'boolean' },
      },
    });
    if (positionals.length !== 1 || !values.name) {
      io.err(USER_USAGE);
      return 2;
    }
    const service = values.service === true;
    if (service && values.password !== undefined) {
      io.err('Service accounts sign in with API keys only; leave out --password.');
      return 2;
    }
    const chosen = service ? null : choosePassword(values.password);
    const passwordHash = chosen ? await hashPassword(chosen.password) : null;
    const at = (io.clock ?? systemClock).now();
    const { id } = await db.tx((tx) =>
      createUser(
        tx,
        systemActor,
        {
          username: positionals[0]!,
          displayName: values.name!,
          displayNameEn: values['name-en'] ?? null,
          kind: service ? 'service' : 'person',
          passwordHash,
          roles: values.role ?? [],
          departmentCode: values.department ?? null,
        },
        at,
      ),
    );
    io.out(`Created ${service ? 'service account' : 'user'} ${positionals[0]!.trim().toLowerCase()} (${id}).`);
    if (chosen?.generated) io.out(`Generated password (shown only now): ${chosen.password}`);
    return 0;
  });
}

export async function runApiKeyCreate(db: Database, args: string[], io: CliIo = consoleIo): Promise<number> {
  return guarded(io, KEY_USAGE, async () => {
    const { values } = parseArgs({
      args,
      allowPositionals: false,
      options: {
        user: { type: 'string' },
        name: { type: 'string' },
        scope: { type: 'string', multiple: true },
        'expires-in-days': { type: 'string' },
      },
    });
    if (!values.user || !values.name || !values.scope?.length) {
      io.err(`${KEY_USAGE}\nScopes: ${knownScopes().join(', ')}`);
      return 2;
    }
    const at = (io.clock ?? systemClock).now();
    let expiresAt: Date | null = null;
    if (values['expires-in-days'] !== undefined) {
      const days = Number(values['expires-in-days']);
      if (!Number.isFinite(days) || days <= 0) {
        io.err('--expires-in-days must be a positive number of days.');
        return 2;
      }
      expiresAt = new Date(at.getTime() + days * 86_400_000);
    }
    const user = await db.query<{ id: string }>('select id from users where username = $1', [values.user.trim().toLowerCase()]);
    if (!user.rows[0]) {
      io.err(`There is no user "${values.user}". Create one with "trellis user create".`);
      return 1;
    }
    const userId = user.rows[0].id;
    const key = await db.tx((tx) =>
      createApiKey(tx, systemActor, { userId, name: values.name!, scopes: values.scope!, expiresAt }, at),
    );
    io.out(`Created API key "${key.name}" (${key.prefix}) for ${key.username} with scopes ${key.scopes.join(', ')}.`);
    io.out('Store it now; it is shown only this once:');
    io.out(key.key);
    return 0;
  });
}

async function withMigratedDatabase(config: Config, fn: (db: Database) => Promise<number>): Promise<number> {
  const log = pino({ level: config.logLevel === 'info' ? 'warn' : config.logLevel });
  const db = await openConfiguredDatabase(config, log);
  try {
    await migrate(db, allMigrations());
    return await fn(db);
  } finally {
    await db.close();
  }
}

export const userCreateCommand: Command = {
  name: 'user create',
  summary: 'Create a user (--name, --role, --department, --service); prints a generated password once',
  run: (args, config) => withMigratedDatabase(config, (db) => runUserCreate(db, args)),
};

export const apikeyCreateCommand: Command = {
  name: 'apikey create',
  summary: 'Create an API key (--user, --name, --scope ...); prints the key once',
  run: (args, config) => withMigratedDatabase(config, (db) => runApiKeyCreate(db, args)),
};
