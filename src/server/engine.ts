// The contract between the composition root and each engine: its migrations, its routes,
// what it sets up on first start, and background work it runs while the process lives.
import type { Migration } from './db/index.ts';
import type { RoutePlugin } from './http/app.ts';
import type { AppContext } from './platform/context.ts';

export interface Engine {
  name: string;
  migrations?: Migration[];
  routes?: RoutePlugin;
  /** Idempotent set-up after migrations (first admin, demo data, catalog apps). */
  bootstrap?: (ctx: AppContext, opts: BootstrapOptions) => Promise<void>;
  /** Background workers; the returned function stops them cleanly. */
  start?: (ctx: AppContext) => Promise<() => Promise<void>>;
}

export interface BootstrapOptions {
  /** Seed the demo plant when the database is new (false with TRELLIS_SKIP_DEMO or `--no-demo`). */
  seedDemo: boolean;
  /** Prints a one-time message to the operator (the generated admin password). */
  announce: (message: string) => void;
}
