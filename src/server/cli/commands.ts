// The CLI commands. `run` returns the exit code, or -1 to keep the process alive (server).
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { Config } from '../config.ts';
import { createTrellis, openConfiguredDatabase, allMigrations } from '../main.ts';
import { migrate, pendingMigrations } from '../db/index.ts';
import { engines } from '../engines.ts';
import { seedDemoPlant, systemClock, verifyAuditChain, DEMO_PASSWORD, type AppContext } from '../platform/index.ts';
import { apikeyCreateCommand, userCreateCommand } from '../platform/auth/cli.ts';
import { appCommands } from '../modeling/cli.ts';

export interface Command {
  name: string;
  summary: string;
  run(args: string[], config: Config): Promise<number>;
}

const start: Command = {
  name: 'start',
  summary: 'Run the server (migrates, creates admin, seeds the demo plant on a new database)',
  async run(args, config) {
    const { values } = parseArgs({ args, options: { 'no-demo': { type: 'boolean' } }, allowPositionals: false });
    const t0 = performance.now();
    const trellis = await createTrellis(config, { seedDemo: values['no-demo'] ? false : !config.skipDemo });
    await trellis.startWorkers();
    const address = await trellis.app.listen({ port: config.port, host: config.host });
    trellis.ctx.log.info({ address, database: trellis.ctx.db.kind, startupMs: Math.round(performance.now() - t0) }, 'Trellis is running');
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      trellis.ctx.log.info({ signal }, 'shutting down');
      trellis.close().then(
        () => process.exit(0),
        (err: unknown) => {
          trellis.ctx.log.error({ err }, 'error during shutdown');
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    return -1;
  },
};

const migrateCmd: Command = {
  name: 'migrate',
  summary: 'Apply pending migrations of the system tables and exit',
  async run(_args, config) {
    const log = pino({ level: config.logLevel });
    const db = await openConfiguredDatabase(config, log);
    try {
      const applied = await migrate(db, allMigrations());
      console.log(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'Database is up to date.');
      return 0;
    } finally {
      await db.close();
    }
  },
};

const seedCmd: Command = {
  name: 'seed',
  summary: 'Migrate, then load the demo plant into an empty organisation (prints what it did)',
  async run(args, config) {
    parseArgs({ args, options: {}, allowPositionals: false });
    const log = pino({ level: config.logLevel === 'info' ? 'warn' : config.logLevel });
    const db = await openConfiguredDatabase(config, log);
    try {
      const applied = await migrate(db, allMigrations());
      console.log(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'Database is up to date.');
      const ctx: AppContext = { config, db, log, clock: systemClock };
      // The same first-start set-up as `start` (the admin account), without the demo...
      for (const engine of engines) await engine.bootstrap?.(ctx, { seedDemo: false, announce: (m) => console.log(m) });
      // ...which is loaded here so that we can say what happened.
      const r = await seedDemoPlant(ctx);
      if (r.seeded) {
        console.log(
          `Loaded the demo plant: ${r.departments} departments, ${r.users} people, ${r.roles} roles, ${r.positions} positions` +
            `${r.adminPlaced ? '; admin placed in the IT department' : ''}.\nDemo accounts sign in with the password ${DEMO_PASSWORD}.`,
        );
      } else {
        console.log(`Demo plant not loaded: ${r.reason}.`);
      }
      return 0;
    } finally {
      await db.close();
    }
  },
};

const auditVerifyCmd: Command = {
  name: 'audit verify',
  summary: 'Recompute the audit trail hash chain; exit code 1 when an entry was edited or removed',
  async run(args, config) {
    const { values } = parseArgs({ args, options: { json: { type: 'boolean' } }, allowPositionals: false });
    const log = pino({ level: config.logLevel });
    const db = await openConfiguredDatabase(config, log);
    try {
      const pending = await pendingMigrations(db, allMigrations());
      if (pending.length) {
        console.error(`The database has pending migrations (${pending.join(', ')}). Run "trellis migrate" first.`);
        return 2;
      }
      const r = await verifyAuditChain(db);
      if (values.json) {
        console.log(JSON.stringify(r));
        return r.ok ? 0 : 1;
      }
      if (r.ok) {
        console.log(`OK: the audit trail is intact (${r.checked} entries checked).`);
        return 0;
      }
      console.log(`BROKEN at entry ${r.brokenAt}: ${r.reason}. ${r.checked} entries before it are intact.`);
      const e = await db.query<{ seq: number; at: Date; actor_name: string | null; action: string; target_type: string | null; target_id: string | null }>(
        'select seq, at, actor_name, action, target_type, target_id from audit_log where seq = $1',
        [r.brokenAt],
      );
      const row = e.rows[0];
      if (row) {
        console.log(
          `  entry ${row.seq}: ${new Date(row.at).toISOString()} ${row.actor_name ?? '(anonymous)'} ${row.action}` +
            `${row.target_type ? ` ${row.target_type}/${row.target_id ?? ''}` : ''}`,
        );
      } else {
        console.log(`  entry ${r.brokenAt} is not in the database.`);
      }
      return 1;
    } finally {
      await db.close();
    }
  },
};

export const commands: Command[] = [start, migrateCmd, seedCmd, auditVerifyCmd, userCreateCommand, apikeyCreateCommand, ...appCommands];
