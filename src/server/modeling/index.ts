// Modeling engine: app definitions → validated, versioned, published as real tables.
// Other engines import from this file only.
import type { Engine } from '../engine.ts';
import { seedCatalog } from './catalog.ts';
import { modelingMigrations } from './migrations.ts';
import { modelingRoutes } from './routes.ts';
import { clearAppCache as clearCache } from './registry.ts';

export { validateApp, namedPath, checkNamingPattern, ROLE_CODE_RE, type ValidationResult } from './validate.ts';
export { publishApp, rollbackApp, diffApp, registerPublishCheck, type PublishCheck, type PublishOptions, type PublishResult } from './publish.ts';
export type { SchemaChange, ChangeKind } from './diff.ts';
export {
  getPublishedApp,
  getPublishedVersion,
  listApps,
  listAppVersions,
  getAppVersion,
  clearAppCache,
  forgetPublished,
  STALE_MS,
  type PublishedApp,
  type AppSummary,
  type AppVersionInfo,
} from './registry.ts';
export { columnSqlType, physicalColumns, tableSpec, SYSTEM_COLUMN_SPECS, CHILD_COLUMN_SPECS, type ColumnSpec, type TableSpec } from './physical.ts';
export { parseDefinition, serializeDefinition, formatOfPath, DefinitionParseError, type DefinitionFormat } from './files.ts';
export { readCatalog, seedCatalog, catalogDir } from './catalog.ts';
export { PUBLISH_ROLES } from './routes.ts';
export { modelingMigrations } from './migrations.ts';

export const modelingEngine: Engine = {
  name: 'modeling',
  migrations: modelingMigrations,
  routes: modelingRoutes,
  bootstrap: async (ctx, opts) => {
    // The published-app cache is per process and keyed by app name: a new Trellis in this
    // process (tests open several databases one after another) starts from an empty cache.
    clearCache();
    // The role that may publish apps besides administrators (granted like any other role).
    await ctx.db.query(
      `insert into roles (code, name, name_en, description, builtin)
       values ('app_builder', '应用搭建者', 'App builder', 'Designs and publishes low-code apps (entities, forms, permissions).', true)
       on conflict (code) do nothing`,
    );
    if (!opts.seedDemo) return;
    const published = await seedCatalog(ctx);
    if (published.length) ctx.log.info({ apps: published }, 'catalog apps published');
  },
};
