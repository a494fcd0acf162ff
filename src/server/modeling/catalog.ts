// The app catalog: definition files in catalog/ that a new installation publishes on first start
// (the demo plant), and that an operator can import later with `trellis app import`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemActor, type AppContext } from '../platform/index.ts';
import { formatOfPath, parseDefinition } from './files.ts';
import { publishApp } from './publish.ts';

export const catalogDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../catalog');

export interface CatalogEntry {
  file: string;
  name: string | undefined;
  definition: unknown;
  /** A package folder (catalog/<folder>/app.yaml), which may also hold flows.yaml and demo.yaml. */
  packageDir?: string;
}

const PACKAGE_APP_FILES = ['app.yaml', 'app.yml', 'app.json'];

/**
 * Every definition file directly in catalog/ (YAML or JSON), and every package folder's
 * `app.yaml` (or app.json), sorted by file or folder name.
 */
export function readCatalog(dir = catalogDir): CatalogEntry[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((d): Array<{ file: string; packageDir?: string; key: string }> => {
      if (d.isFile() && /\.(ya?ml|json)$/i.test(d.name)) return [{ file: path.join(dir, d.name), key: d.name }];
      if (!d.isDirectory()) return [];
      const appFile = PACKAGE_APP_FILES.map((f) => path.join(dir, d.name, f)).find((f) => fs.existsSync(f));
      return appFile ? [{ file: appFile, packageDir: path.join(dir, d.name), key: d.name }] : [];
    })
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ file, packageDir }) => {
      const definition = parseDefinition(fs.readFileSync(file, 'utf8'), formatOfPath(file));
      const name = definition && typeof definition === 'object' ? (definition as { name?: unknown }).name : undefined;
      return { file, name: typeof name === 'string' ? name : undefined, definition, ...(packageDir ? { packageDir } : {}) };
    });
}

/** Publishes every catalog app that is not published yet. Returns the names published. */
export async function seedCatalog(ctx: AppContext, dir = catalogDir): Promise<string[]> {
  const entries = readCatalog(dir);
  if (!entries.length) return [];
  const have = new Set((await ctx.db.query<{ name: string }>('select name from apps')).rows.map((r) => r.name));
  const done: string[] = [];
  for (const e of entries) {
    if (!e.name || have.has(e.name)) continue;
    try {
      await publishApp(ctx, systemActor, e.definition);
      done.push(e.name);
    } catch (err) {
      // A broken catalog file must not stop the server: report it and carry on.
      ctx.log.error({ err, file: e.file }, 'catalog app could not be published');
    }
  }
  return done;
}
