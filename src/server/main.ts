// Composition root: config → database → migrations → engines → HTTP.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { Config } from './config.ts';
import { migrate, openDatabase, pendingMigrations, type Database } from './db/index.ts';
import { buildApp, type Api } from './http/app.ts';
import { systemClock, type AppContext, type Clock } from './platform/context.ts';
import { engines } from './engines.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const allMigrations = () => engines.flatMap((e) => e.migrations ?? []);

export interface Trellis {
  ctx: AppContext;
  app: Api;
  /** Starts background workers (timers, relays). Tests may leave them off. */
  startWorkers(): Promise<void>;
  close(): Promise<void>;
}

export interface CreateOptions {
  /** Use this database instead of opening one from the config (tests). */
  db?: Database;
  clock?: Clock;
  seedDemo?: boolean;
  announce?: (message: string) => void;
  logger?: pino.Logger;
  /** Folder of the built web console (default src/web/dist), e.g. a copy that a rebuild cannot change under a running server. */
  webRoot?: string;
}

export async function openConfiguredDatabase(config: Config, log: pino.Logger): Promise<Database> {
  return openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    onBackgroundError: (err) => log.error({ err }, 'background database error'),
  });
}

export async function createTrellis(config: Config, opts: CreateOptions = {}): Promise<Trellis> {
  const log = opts.logger ?? pino({ level: config.logLevel });
  const db = opts.db ?? (await openConfiguredDatabase(config, log));
  const ownsDb = !opts.db;
  try {
    const ctx: AppContext = { config, db, log, clock: opts.clock ?? systemClock };
    const migrations = allMigrations();
    await migrate(db, migrations);
    const seedDemo = opts.seedDemo ?? !config.skipDemo;
    const announce = opts.announce ?? ((m: string) => console.log(m));
    for (const engine of engines) await engine.bootstrap?.(ctx, { seedDemo, announce });

    const app = await buildApp(ctx, {
      routes: engines.flatMap((e) => (e.routes ? [e.routes] : [])),
      readiness: async () => {
        await db.query('select 1');
        const pending = await pendingMigrations(db, migrations);
        return pending.length ? `migrations pending: ${pending.join(', ')}` : null;
      },
      webRoot: opts.webRoot ?? path.join(repoRoot, 'src/web/dist'),
      loggerInstance: log,
    });
    const stops: Array<() => Promise<void>> = [];
    return {
      ctx,
      app,
      async startWorkers() {
        for (const engine of engines) if (engine.start) stops.push(await engine.start(ctx));
      },
      async close() {
        for (const stop of stops.reverse()) await stop();
        await app.close();
        if (ownsDb) await db.close();
      },
    };
  } catch (err) {
    if (ownsDb) await db.close();
    throw err;
  }
}
