// Published apps as the other engines see them. The records engine asks on every request, so the
// answer comes from a per-process cache; another process's publish is noticed within
// STALE_MS by re-reading apps.current_version (one indexed row) at most that often.
import { AppDef, type EntityDef, type Label } from '../../shared/definition.ts';
import type { Sql } from '../db/index.ts';

export interface PublishedApp {
  name: string;
  version: number;
  def: AppDef;
  entities: Map<string, EntityDef>;
}

export interface AppSummary {
  name: string;
  label: Label;
  currentVersion: number;
  status: string;
  entities: number;
  createdAt: string;
  updatedAt: string;
}

export interface AppVersionInfo {
  app: string;
  version: number;
  publishedAt: string;
  publishedBy: string | null;
  changes: unknown[];
  definition?: AppDef;
}

/** How long a cached app is trusted before checking its version again. */
export const STALE_MS = 2000;

interface Entry {
  app: PublishedApp | null;
  checkedAt: number;
}

const cache = new Map<string, Entry>();
const now = () => performance.now();

/**
 * jsonb keeps keys in its own order (short keys first); parsing with the schema puts them back
 * in the definition's order (name, type, label, ...) so exports read like the files people write.
 */
export function inSchemaOrder(def: AppDef): AppDef {
  const r = AppDef.safeParse(def);
  return r.success ? r.data : def;
}

export function toPublished(name: string, version: number, def: AppDef): PublishedApp {
  return { name, version, def, entities: new Map(def.entities.map((e) => [e.name, e])) };
}

/** Puts a just-published version in this process's cache (after commit). */
export function rememberPublished(app: PublishedApp): void {
  cache.set(app.name, { app, checkedAt: now() });
}

/** Forgets this process's copy of one app: the next read checks the database (a publish elsewhere). */
export function forgetPublished(appName: string): void {
  cache.delete(appName);
}

/** Forgets everything (tests that reset the database). */
export function clearAppCache(): void {
  cache.clear();
  versions.clear();
}

// Published versions never change: kept by `app@version` (bounded), for what is pinned to one.
const versions = new Map<string, PublishedApp>();
const MAX_VERSIONS = 256;

function keepVersion(app: PublishedApp): PublishedApp {
  if (versions.size >= MAX_VERSIONS) versions.delete(versions.keys().next().value!);
  versions.set(`${app.name}@${app.version}`, app);
  return app;
}

/** One published version of an app (running approvals are pinned to theirs); null if there is none. */
export async function getPublishedVersion(sql: Sql, appName: string, version: number): Promise<PublishedApp | null> {
  const hit = versions.get(`${appName}@${version}`) ?? (cache.get(appName)?.app?.version === version ? cache.get(appName)!.app : null);
  if (hit) return hit;
  const v = await sql.query<{ definition: AppDef }>('select definition from app_versions where app_name = $1 and version = $2', [appName, version]);
  const def = v.rows[0]?.definition;
  return def ? keepVersion(toPublished(appName, version, inSchemaOrder(def))) : null;
}

export async function getPublishedApp(sql: Sql, appName: string): Promise<PublishedApp | null> {
  const hit = cache.get(appName);
  if (hit && now() - hit.checkedAt < STALE_MS) return hit.app;
  const r = await sql.query<{ current_version: number }>('select current_version from apps where name = $1', [appName]);
  const version = r.rows[0]?.current_version;
  if (version === undefined) {
    cache.set(appName, { app: null, checkedAt: now() });
    return null;
  }
  if (hit?.app && hit.app.version === version) {
    hit.checkedAt = now();
    return hit.app;
  }
  const app = await getPublishedVersion(sql, appName, version);
  if (!app) return null;
  cache.set(appName, { app, checkedAt: now() });
  return app;
}

const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : String(d));

export async function listApps(sql: Sql): Promise<AppSummary[]> {
  const r = await sql.query<{ name: string; label: Label; current_version: number; status: string; created_at: Date; updated_at: Date; entities: number }>(
    `select a.name, a.label, a.current_version, a.status, a.created_at, a.updated_at,
            jsonb_array_length(v.definition->'entities') as entities
       from apps a join app_versions v on v.app_name = a.name and v.version = a.current_version
      order by a.name`,
  );
  return r.rows.map((x) => ({
    name: x.name,
    label: x.label,
    currentVersion: x.current_version,
    status: x.status,
    entities: Number(x.entities),
    createdAt: iso(x.created_at),
    updatedAt: iso(x.updated_at),
  }));
}

export async function listAppVersions(sql: Sql, appName: string): Promise<AppVersionInfo[]> {
  const r = await sql.query<{ version: number; published_at: Date; published_by: string | null; changes: unknown[] }>(
    'select version, published_at, published_by, changes from app_versions where app_name = $1 order by version desc',
    [appName],
  );
  return r.rows.map((x) => ({ app: appName, version: x.version, publishedAt: iso(x.published_at), publishedBy: x.published_by, changes: x.changes }));
}

export async function getAppVersion(sql: Sql, appName: string, version: number): Promise<AppVersionInfo | null> {
  const r = await sql.query<{ version: number; published_at: Date; published_by: string | null; changes: unknown[]; definition: AppDef }>(
    'select version, published_at, published_by, changes, definition from app_versions where app_name = $1 and version = $2',
    [appName, version],
  );
  const x = r.rows[0];
  if (!x) return null;
  return { app: appName, version: x.version, publishedAt: iso(x.published_at), publishedBy: x.published_by, changes: x.changes, definition: inSchemaOrder(x.definition) };
}
