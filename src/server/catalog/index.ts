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
    // weeks of demo documents go through the real services: done once, when the server first runs
    await loadPendingDemos(ctx);
    return async () => {};
  },
};
