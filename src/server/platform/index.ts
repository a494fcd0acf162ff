// Platform engine: organisation, accounts, sessions, API keys, audit.
import type { Engine } from '../engine.ts';
import { platformMigrations } from './migrations.ts';

export * from './errors.ts';
export * from './context.ts';

export const platformEngine: Engine = {
  name: 'platform',
  migrations: platformMigrations,
};
