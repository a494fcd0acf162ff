// The CLI commands. `run` returns the exit code, or -1 to keep the process alive (server).
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { Config } from '../config.ts';
import { createTrellis, openConfiguredDatabase, allMigrations } from '../main.ts';
import { migrate } from '../db/index.ts';

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

export const commands: Command[] = [start, migrateCmd];
