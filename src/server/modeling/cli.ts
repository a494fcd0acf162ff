// `trellis app validate|import|export|diff`: app definitions as files, so they can live in git.
// The run* functions take an open database and an output sink so tests can drive them.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { Command } from '../cli/commands.ts';
import type { Config } from '../config.ts';
import { migrate, type Database } from '../db/index.ts';
import { allMigrations, openConfiguredDatabase } from '../main.ts';
import { AppError, systemActor, systemClock, type AppContext } from '../platform/index.ts';
import type { SchemaChange } from './diff.ts';
import { DefinitionParseError, formatOfPath, parseDefinition, serializeDefinition } from './files.ts';
import { publishApp } from './publish.ts';
import { getPublishedApp } from './registry.ts';
import { validateApp } from './validate.ts';

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const consoleIo: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) };

function readDefinitionFile(file: string | undefined, io: CliIo): unknown {
  if (!file) throw new UsageError('give the definition file (YAML or JSON)');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return parseDefinition(text, formatOfPath(file));
  } catch (err) {
    if (err instanceof DefinitionParseError) {
      io.err(`${file}: ${err.message}`);
      throw new Exit(1);
    }
    throw err;
  }
}

class UsageError extends Error {}
class Exit extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`exit ${code}`);
    this.code = code;
  }
}

function printChanges(changes: SchemaChange[], io: CliIo): void {
  if (!changes.length) {
    io.out('  (no changes)');
    return;
  }
  for (const c of changes) io.out(`  ${c.blocked ? '✗' : c.destructive ? '!' : '+'} ${c.kind.padEnd(16)} ${c.message}`);
}

async function guarded(io: CliIo, usage: string, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Exit) return err.code;
    if (err instanceof UsageError) {
      io.err(`trellis: ${err.message}\n${usage}`);
      return 2;
    }
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`trellis: ${err.message}\n${usage}`);
      return 2;
    }
    if (err instanceof AppError) {
      io.err(`trellis: ${err.message}`);
      for (const e of err.errors ?? []) io.err(`  ${e.path}: ${e.message}`);
      return 1;
    }
    throw err;
  }
}

const VALIDATE_USAGE = 'Usage: trellis app validate <file.yaml|file.json>';
const IMPORT_USAGE = 'Usage: trellis app import <file.yaml|file.json> [--confirm-destructive] [--dry-run]';
const EXPORT_USAGE = 'Usage: trellis app export <name> [--format yaml|json] [--out <file>]';
const DIFF_USAGE = 'Usage: trellis app diff <file.yaml|file.json>';

export function runAppValidate(args: string[], io: CliIo = consoleIo): Promise<number> {
  return guarded(io, VALIDATE_USAGE, async () => {
    const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
    const file = positionals[0];
    const v = validateApp(readDefinitionFile(file, io));
    if (v.ok) {
      io.out(`${file}: OK — app "${v.app.name}" with ${v.app.entities.length} entit${v.app.entities.length === 1 ? 'y' : 'ies'}.`);
      return 0;
    }
    io.err(`${file}: ${v.errors.length} problem(s)`);
    for (const e of v.errors) io.err(`  ${e.path}: ${e.message}`);
    return 1;
  });
}

function ctxFor(db: Database, config: Config): AppContext {
  return { config, db, log: pino({ level: 'silent' }), clock: systemClock };
}

export function runAppImport(db: Database, config: Config, args: string[], io: CliIo = consoleIo): Promise<number> {
  return guarded(io, IMPORT_USAGE, async () => {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { 'confirm-destructive': { type: 'boolean' }, 'dry-run': { type: 'boolean' } } });
    const def = readDefinitionFile(positionals[0], io);
    const r = await publishApp(ctxFor(db, config), systemActor, def, { confirmDestructive: values['confirm-destructive'] ?? false, dryRun: values['dry-run'] ?? false });
    io.out(r.applied ? `Published "${r.app}" version ${r.version}:` : `Dry run: publishing would make "${r.app}" version ${r.version}:`);
    printChanges(r.changes, io);
    return 0;
  });
}

export function runAppDiff(db: Database, config: Config, args: string[], io: CliIo = consoleIo): Promise<number> {
  return guarded(io, DIFF_USAGE, async () => {
    const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
    const def = readDefinitionFile(positionals[0], io);
    const r = await publishApp(ctxFor(db, config), systemActor, def, { dryRun: true });
    io.out(`"${r.app}": ${r.version === 1 ? 'not published yet' : `published version ${r.version - 1}`}; changes (+ safe, ! destructive, ✗ blocked by the data):`);
    printChanges(r.changes, io);
    return 0;
  });
}

export function runAppExport(db: Database, args: string[], io: CliIo = consoleIo): Promise<number> {
  return guarded(io, EXPORT_USAGE, async () => {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { format: { type: 'string' }, out: { type: 'string' } } });
    const name = positionals[0];
    if (!name) throw new UsageError('give the app name');
    const format = values.format ?? (values.out ? formatOfPath(values.out) : 'yaml');
    if (format !== 'yaml' && format !== 'json') throw new UsageError(`--format must be yaml or json, not "${format}"`);
    const app = await getPublishedApp(db, name);
    if (!app) {
      io.err(`trellis: there is no published app "${name}"`);
      return 1;
    }
    const text = serializeDefinition(app.def, format);
    if (values.out) {
      fs.writeFileSync(values.out, text);
      io.out(`Wrote "${name}" version ${app.version} to ${values.out}.`);
    } else {
      io.out(text.trimEnd());
    }
    return 0;
  });
}

async function withDatabase(config: Config, fn: (db: Database) => Promise<number>): Promise<number> {
  const db = await openConfiguredDatabase(config, pino({ level: config.logLevel === 'info' ? 'warn' : config.logLevel }));
  try {
    await migrate(db, allMigrations());
    return await fn(db);
  } finally {
    await db.close();
  }
}

export const appCommands: Command[] = [
  { name: 'app validate', summary: 'Check an app definition file (YAML/JSON); exit 1 listing each problem', run: (args) => runAppValidate(args) },
  {
    name: 'app import',
    summary: 'Publish an app definition file (--confirm-destructive to allow data loss)',
    run: (args, config) => withDatabase(config, (db) => runAppImport(db, config, args)),
  },
  { name: 'app export', summary: 'Write a published app as YAML or JSON (--format, --out)', run: (args, config) => withDatabase(config, (db) => runAppExport(db, args)) },
  { name: 'app diff', summary: 'Show what publishing a definition file would change', run: (args, config) => withDatabase(config, (db) => runAppDiff(db, config, args)) },
];
