// Catalog packages engine: after the catalog apps are published (modeling) and the integration hub
// is set up, installs what a package folder brings besides its app: integration flows and demo
// data (see packages.ts). Other folders import only this file.
import type { Engine } from '../engine.ts';
import { installPackages, loadPendingDemos } from './packages.ts';

export { installPackages, loadPendingDemos, loadDemo, installFlows, demoInstant, CatalogDemo, CatalogFlows, type DemoReport } from './packages.ts';

export const catalogEngine: Engine = {
  name: 'catalog',
  bootstrap: async (ctx, opts) => {
    if (opts.seedDemo) await installPackages(ctx);
  },
  start: async (ctx) => {
    // Weeks of demo documents go through the real services, once, when the server first runs.
    // Deferred a little and in the background: on PGlite (one connection) the load would otherwise
    // queue ahead of every other engine's start-up and keep the server from listening.
    let loading: Promise<unknown> = Promise.resolve();
    const timer = setTimeout(() => {
      loading = loadPendingDemos(ctx).catch((err: unknown) => ctx.log.error({ err }, 'loading catalog demo data failed'));
    }, 1500);
    return async () => {
      clearTimeout(timer);
      await loading;
    };
  },
};
