// Connectors: a named, configured instance of a driver (one ERP, one broker, one REST API).
// Config is validated by the driver's schema; secrets are validated by its secret schema, encrypted
// at rest (secrets.ts), handed to the driver only when a handle is opened, and never returned or
// logged. Open destination handles are cached per connector version and closed when it changes.
import { z } from 'zod';
import type { Sql, Tx } from '../db/index.ts';
import type { Actor, AppContext } from '../platform/context.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { badRequest, conflict, notFound, validationFailed, zodIssuesToFields } from '../platform/errors.ts';
import { driverKinds, getDriver } from './drivers/registry.ts';
import type { ConnectionTestResult, DestinationHandle, Driver, SourceHandle } from './types.ts';
import { decryptSecrets, encryptSecrets, secretKey } from './secrets.ts';
import type { ConnectorView } from '../../shared/integration-api.ts';

export const ConnectorName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'letters, digits and _ . - (at most 100, starting with a letter or digit)');

export const ConnectorCreate = z.strictObject({
  name: ConnectorName,
  kind: z.string().min(1).max(40),
  description: z.string().max(1000).nullish(),
  config: z.unknown(),
  secrets: z.unknown().optional(),
  enabled: z.boolean().default(true),
});
export type ConnectorCreate = z.infer<typeof ConnectorCreate>;

export const ConnectorPatch = z.strictObject({
  name: ConnectorName.optional(),
  description: z.string().max(1000).nullish(),
  config: z.unknown().optional(),
  /** Replaces all secrets; null removes them; absent keeps them. */
  secrets: z.unknown().optional(),
  enabled: z.boolean().optional(),
});
export type ConnectorPatch = z.infer<typeof ConnectorPatch>;

export interface ConnectorRow {
  id: string;
  name: string;
  kind: string;
  description: string | null;
  config: unknown;
  secrets_enc: string | null;
  enabled: boolean;
  version: number;
  created_at: Date;
  updated_at: Date;
}

/** What the API shows (src/shared/integration-api.ts): never the secrets, only whether there are some. */
export type { ConnectorView };

export function viewConnector(r: ConnectorRow): ConnectorView {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    description: r.description,
    config: r.config as Record<string, unknown>,
    hasSecrets: r.secrets_enc !== null,
    enabled: r.enabled,
    version: r.version,
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

function driverOf(kind: string): Driver<any, any> {
  const d = getDriver(kind);
  if (!d) {
    throw badRequest(`Unknown connector kind "${kind}". Use one of: ${driverKinds().join(', ') || '(no drivers registered)'}.`, [
      { path: 'body.kind', message: `unknown driver kind; known: ${driverKinds().join(', ')}` },
    ]);
  }
  return d;
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, where: string, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw validationFailed(`The ${what} is not valid for this connector kind; see errors.`, zodIssuesToFields(r.error.issues, where));
  return r.data;
}

export function validateConnectorConfig(kind: string, config: unknown, secrets: unknown): { config: unknown; secrets: unknown } {
  const d = driverOf(kind);
  const c = parseWith(d.configSchema, config, 'body.config', 'configuration');
  let s: unknown;
  if (secrets !== undefined && secrets !== null) {
    if (!d.secretSchema) throw badRequest(`Connectors of kind "${kind}" take no secrets; remove "secrets".`, [{ path: 'body.secrets', message: 'not accepted by this kind' }]);
    s = parseWith(d.secretSchema, secrets, 'body.secrets', 'secrets object');
  }
  return { config: c, secrets: s };
}

const COLS = 'id, name, kind, description, config, secrets_enc, enabled, version, created_at, updated_at';

export async function listConnectors(sql: Sql): Promise<ConnectorRow[]> {
  return (await sql.query<ConnectorRow>(`select ${COLS} from integration_connectors order by name`)).rows;
}

export async function getConnector(sql: Sql, idOrName: string): Promise<ConnectorRow> {
  const isId = /^[0-9a-f-]{36}$/i.test(idOrName);
  const r = await sql.query<ConnectorRow>(`select ${COLS} from integration_connectors where ${isId ? 'id = $1::uuid' : 'name = $1'}`, [idOrName]);
  if (!r.rows[0]) throw notFound(`No connector ${JSON.stringify(idOrName)}. List them with GET /api/v1/integration/connectors.`);
  return r.rows[0];
}

async function nameFree(tx: Tx, name: string, exceptId: string | null): Promise<void> {
  const r = await tx.query('select 1 from integration_connectors where name = $1 and id is distinct from $2::uuid', [name, exceptId]);
  if (r.rowCount) throw conflict(`A connector named "${name}" already exists; choose another name.`);
}

export async function createConnector(ctx: AppContext, tx: Tx, actor: Actor, input: ConnectorCreate): Promise<ConnectorRow> {
  const v = validateConnectorConfig(input.kind, input.config, input.secrets);
  await nameFree(tx, input.name, null);
  const enc = v.secrets === undefined ? null : encryptSecrets(secretKey(ctx.config), v.secrets, input.name);
  const r = await tx.query<ConnectorRow>(
    `insert into integration_connectors (name, kind, description, config, secrets_enc, enabled) values ($1,$2,$3,$4,$5,$6) returning ${COLS}`,
    [input.name, input.kind, input.description ?? null, JSON.stringify(v.config), enc, input.enabled],
  );
  const row = r.rows[0]!;
  await appendAudit(tx, actor, {
    action: 'integration.connector.create',
    targetType: 'integration_connector',
    targetId: row.id,
    detail: { name: row.name, kind: row.kind, secrets: enc ? 'set' : 'none' },
  });
  return row;
}

export async function updateConnector(ctx: AppContext, tx: Tx, actor: Actor, idOrName: string, patch: ConnectorPatch): Promise<ConnectorRow> {
  const cur = await getConnector(tx, idOrName);
  await tx.query('select 1 from integration_connectors where id = $1 for update', [cur.id]);
  const name = patch.name ?? cur.name;
  if (name !== cur.name) await nameFree(tx, name, cur.id);
  const key = secretKey(ctx.config);
  let secrets: unknown = undefined;
  let secretsChange: 'kept' | 'replaced' | 'removed' = 'kept';
  if (patch.secrets === null) secretsChange = 'removed';
  else if (patch.secrets !== undefined) {
    secrets = patch.secrets;
    secretsChange = 'replaced';
  } else if (cur.secrets_enc) secrets = decryptSecrets(key, cur.secrets_enc, cur.name);
  const v = validateConnectorConfig(cur.kind, patch.config === undefined ? cur.config : patch.config, secretsChange === 'removed' ? undefined : secrets);
  const enc = v.secrets === undefined ? null : encryptSecrets(key, v.secrets, name);
  const r = await tx.query<ConnectorRow>(
    `update integration_connectors set name = $2, description = $3, config = $4, secrets_enc = $5, enabled = $6, version = version + 1, updated_at = now()
      where id = $1 returning ${COLS}`,
    [cur.id, name, patch.description === undefined ? cur.description : patch.description, JSON.stringify(v.config), enc, patch.enabled ?? cur.enabled],
  );
  await appendAudit(tx, actor, {
    action: 'integration.connector.update',
    targetType: 'integration_connector',
    targetId: cur.id,
    detail: { name, changed: Object.keys(patch).filter((k) => k !== 'secrets'), secrets: secretsChange },
  });
  return r.rows[0]!;
}

export async function deleteConnector(tx: Tx, actor: Actor, idOrName: string): Promise<void> {
  const cur = await getConnector(tx, idOrName);
  const flows = await tx.query<{ name: string }>('select name from integration_flows where connector_id = $1 order by name', [cur.id]);
  if (flows.rowCount) {
    throw conflict(`The connector "${cur.name}" is used by the flows ${flows.rows.map((f) => `"${f.name}"`).join(', ')}; delete or move them first.`);
  }
  await tx.query('delete from integration_connectors where id = $1', [cur.id]);
  await appendAudit(tx, actor, { action: 'integration.connector.delete', targetType: 'integration_connector', targetId: cur.id, detail: { name: cur.name, kind: cur.kind } });
}

/** The decrypted secrets of a connector, for opening a handle only. */
export function connectorSecrets(ctx: AppContext, row: ConnectorRow): unknown {
  return row.secrets_enc ? decryptSecrets(secretKey(ctx.config), row.secrets_enc, row.name) : undefined;
}

// ---- open handles ---------------------------------------------------------------------------

interface Cached {
  version: number;
  handle: Promise<DestinationHandle>;
}

/** Destination handles of this process, one per connector, reopened when the connector changes. */
export class HandleCache {
  private readonly ctx: AppContext;
  private readonly open = new Map<string, Cached>();
  constructor(ctx: AppContext) {
    this.ctx = ctx;
  }

  async destination(connectorId: string, version: number): Promise<DestinationHandle> {
    const c = this.open.get(connectorId);
    if (c && c.version === version) return c.handle;
    if (c) {
      this.open.delete(connectorId);
      void c.handle.then((h) => h.close()).catch(() => {});
    }
    const handle = (async () => {
      const row = await getConnector(this.ctx.db, connectorId);
      return openDestinationOf(this.ctx, row);
    })();
    const entry = { version, handle };
    this.open.set(connectorId, entry);
    handle.catch(() => {
      if (this.open.get(connectorId) === entry) this.open.delete(connectorId); // try again next time
    });
    return handle;
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((c) => c.handle.then((h) => h.close()).catch(() => {})));
  }
}

export async function openDestinationOf(ctx: AppContext, row: ConnectorRow): Promise<DestinationHandle> {
  const d = driverOf(row.kind);
  if (!d.openDestination) throw badRequest(`Connectors of kind "${row.kind}" cannot receive deliveries (source only).`);
  const config = d.configSchema.parse(row.config);
  return d.openDestination(config, connectorSecrets(ctx, row), { ctx, connectorId: row.id, connectorName: row.name });
}

export async function openSourceOf(ctx: AppContext, row: ConnectorRow): Promise<SourceHandle> {
  const d = driverOf(row.kind);
  if (!d.openSource) throw badRequest(`Connectors of kind "${row.kind}" cannot be pulled from (destination only).`);
  const config = d.configSchema.parse(row.config);
  return d.openSource(config, connectorSecrets(ctx, row), { ctx, connectorId: row.id, connectorName: row.name });
}

/** Connection test: opens a handle (destination, else source), runs its test, closes it. Never throws. */
export async function testConnector(ctx: AppContext, row: ConnectorRow): Promise<ConnectionTestResult> {
  const t0 = performance.now();
  let handle: DestinationHandle | SourceHandle | undefined;
  try {
    const d = driverOf(row.kind);
    handle = d.openDestination ? await openDestinationOf(ctx, row) : await openSourceOf(ctx, row);
    return await handle.test();
  } catch (err) {
    return { ok: false, message: String((err as Error)?.message ?? err).slice(0, 500), latencyMs: Math.round(performance.now() - t0) };
  } finally {
    await handle?.close().catch(() => {});
  }
}
