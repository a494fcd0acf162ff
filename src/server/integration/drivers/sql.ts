// Direct SQL read from an ERP's database: PostgreSQL (pg) and MariaDB/MySQL (mysql2) behind one
// dialect adapter; SQL Server would be a third adapter (the `mssql` package is not installed here,
// so it answers with a clear "not available" error).
//
//  - Read-only sessions: PostgreSQL `default_transaction_read_only=on` at connect, MySQL
//    `SET SESSION TRANSACTION READ ONLY`; the source never writes, whatever its account may do.
//  - Schema introspection (tables, columns, types, primary keys) from information_schema.
//  - Identifiers (table, columns) come from the configuration, are checked against the
//    introspected schema and quoted; values are parameters. No user text becomes SQL.
//  - Incremental pulls ordered by (watermark, key): the cursor is the last row's pair, so rows
//    that share a watermark value across a page boundary are neither lost nor repeated. A plain
//    watermark (not a cursor from this driver) is taken inclusively (>=): at worst a row comes
//    twice, never lost; the master-data cache's change detection absorbs it.
import pg from 'pg';
import mysql from 'mysql2/promise';
import { z } from 'zod';
import type { ConnectionTestResult, Driver, PulledRow, PullRequest, PullResult, SourceHandle } from '../types.ts';
import { registerDriver } from './registry.ts';
import { ui } from '../../../shared/integration-api.ts';

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,127}$/;

const ObjectSchema = z.strictObject({
  /** `table` or `schema.table` as it exists in the database. */
  table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,127}(\.[A-Za-z_][A-Za-z0-9_$]{0,127})?$/, 'table or schema.table'),
  /** Column that grows when a row changes (write_date, updated_at, a rowversion). */
  watermark: z.string().regex(IDENT),
  /** Unique key column; default the table's single-column primary key. */
  key: z.string().regex(IDENT).optional(),
  /** Columns to read; default all. */
  columns: z.array(z.string().regex(IDENT)).min(1).max(500).optional(),
});

export const sqlConfigSchema = z.strictObject({
  dialect: z.enum(['postgres', 'mysql', 'mssql']).meta(ui(['数据库类型', 'Database type'])),
  host: z.string().min(1).max(255).meta(ui(['主机', 'Host'])),
  port: z.number().int().min(1).max(65535).optional().meta(ui(['端口', 'Port'])),
  database: z.string().min(1).max(128).meta(ui(['数据库名', 'Database name'])),
  ssl: z.boolean().default(false).meta(ui(['使用 SSL', 'Use SSL'])),
  /** What can be pulled, by the object name the master-data cache asks for (material, bom, …). */
  objects: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,62}$/), ObjectSchema).meta(ui(['可拉取的对象 (JSON)', 'Objects to pull (JSON)'], { help: ['按对象名：table、watermark，可选 key、columns', 'by object name: table, watermark, optional key and columns'], placeholder: '{"material": {"table": "product", "watermark": "write_date"}}' })),
  statementTimeoutMs: z.number().int().min(100).max(600_000).default(30_000).meta(ui(['语句超时 (毫秒)', 'Statement timeout (ms)'])),
});
export type SqlConfig = z.infer<typeof sqlConfigSchema>;

export const sqlSecretSchema = z.strictObject({
  user: z.string().min(1).max(128).meta(ui(['用户名', 'User name'])),
  password: z.string().max(500).meta(ui(['密码', 'Password'])),
});
export type SqlSecrets = z.infer<typeof sqlSecretSchema>;

export interface ColumnInfo {
  name: string;
  type: string;
  nullable: boolean;
}
export interface TableInfo {
  schema: string;
  name: string;
  columns: ColumnInfo[];
  primaryKey: string[];
}

/** What differs between databases. */
interface Dialect {
  quote(id: string): string;
  param(i: number): string;
  /** The expression of a column as text (watermarks and keys travel as text). */
  asText(col: string): string;
  query(text: string, params: unknown[]): Promise<Record<string, unknown>[]>;
  introspect(): Promise<TableInfo[]>;
  readOnly(): Promise<boolean>;
  close(): Promise<void>;
}

export class SqlSourceError extends Error {}

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 500);
}

function group(rows: Array<{ s: string; t: string; c: string; ty: string; n: string; pk?: unknown }>, pks: Array<{ s: string; t: string; c: string }>): TableInfo[] {
  const tables = new Map<string, TableInfo>();
  for (const r of rows) {
    const k = `${r.s}.${r.t}`;
    let t = tables.get(k);
    if (!t) tables.set(k, (t = { schema: r.s, name: r.t, columns: [], primaryKey: [] }));
    t.columns.push({ name: r.c, type: r.ty, nullable: r.n === 'YES' });
  }
  for (const p of pks) tables.get(`${p.s}.${p.t}`)?.primaryKey.push(p.c);
  return [...tables.values()];
}

async function postgresDialect(config: SqlConfig, secrets: SqlSecrets | undefined): Promise<Dialect> {
  const raw = (v: string) => v;
  const client = new pg.Client({
    host: config.host,
    port: config.port ?? 5432,
    database: config.database,
    user: secrets?.user,
    password: secrets?.password,
    ssl: config.ssl ? { rejectUnauthorized: true } : undefined,
    connectionTimeoutMillis: 10_000,
    // Read-only for every transaction of this session, and a statement time limit.
    options: `-c default_transaction_read_only=on -c statement_timeout=${config.statementTimeoutMs}`,
    application_name: 'trellis-sql-source',
    // Dates and times exactly as the database has them (no local-time-zone conversion).
    types: { getTypeParser: ((oid: number, format?: string) => ([1082, 1083, 1114, 1184, 1700, 20].includes(oid) ? raw : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser },
  });
  client.on('error', () => {});
  await client.connect();
  return {
    quote: (id) => `"${id.replace(/"/g, '""')}"`,
    param: (i) => `$${i}`,
    asText: (col) => `${col}::text`,
    query: async (text, params) => (await client.query(text, params)).rows as Record<string, unknown>[],
    async introspect() {
      const cols = await client.query(
        `select c.table_schema as s, c.table_name as t, c.column_name as c, c.data_type as ty, c.is_nullable as n
           from information_schema.columns c
           join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
          where c.table_schema not in ('pg_catalog', 'information_schema') and t.table_type in ('BASE TABLE', 'VIEW')
          order by 1, 2, c.ordinal_position`,
      );
      const pks = await client.query(
        `select k.table_schema as s, k.table_name as t, k.column_name as c
           from information_schema.table_constraints tc
           join information_schema.key_column_usage k on k.constraint_schema = tc.constraint_schema and k.constraint_name = tc.constraint_name
          where tc.constraint_type = 'PRIMARY KEY' order by 1, 2, k.ordinal_position`,
      );
      return group(cols.rows, pks.rows);
    },
    async readOnly() {
      return (await client.query<{ transaction_read_only: string }>('show transaction_read_only')).rows[0]?.transaction_read_only === 'on';
    },
    close: () => client.end(),
  };
}

async function mysqlDialect(config: SqlConfig, secrets: SqlSecrets | undefined): Promise<Dialect> {
  const conn = await mysql.createConnection({
    host: config.host,
    port: config.port ?? 3306,
    database: config.database,
    user: secrets?.user,
    password: secrets?.password,
    ssl: config.ssl ? {} : undefined,
    connectTimeout: 10_000,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  conn.on('error', () => {});
  await conn.query('SET SESSION TRANSACTION READ ONLY');
  await conn.query(`SET SESSION max_statement_time = ${Math.ceil(config.statementTimeoutMs / 1000)}`).catch(() => {
    // MySQL (not MariaDB) has max_execution_time instead; the read is still bounded by the engine's timeouts.
  });
  const run = async (text: string, params: unknown[]) => (await conn.query(text, params))[0] as Record<string, unknown>[];
  return {
    quote: (id) => `\`${id.replace(/`/g, '``')}\``,
    param: () => '?',
    asText: (col) => `CAST(${col} AS CHAR)`,
    query: run,
    async introspect() {
      const cols = (await run(
        `select table_schema as s, table_name as t, column_name as c, data_type as ty, is_nullable as n, column_key as pk
           from information_schema.columns where table_schema = database() order by table_name, ordinal_position`,
        [],
      )) as Array<{ s: string; t: string; c: string; ty: string; n: string; pk: string }>;
      return group(cols, cols.filter((c) => c.pk === 'PRI'));
    },
    async readOnly() {
      // MariaDB before 11.1 calls it tx_read_only.
      const r = await run('select @@session.transaction_read_only as r', []).catch(() => run('select @@session.tx_read_only as r', []));
      return Number(r[0]?.r) === 1;
    },
    close: () => conn.end(),
  };
}

async function openDialect(config: SqlConfig, secrets: SqlSecrets | undefined): Promise<Dialect> {
  if (config.dialect === 'postgres') return postgresDialect(config, secrets);
  if (config.dialect === 'mysql') return mysqlDialect(config, secrets);
  throw new SqlSourceError(
    'SQL Server is not available in this installation: its client library (mssql) is not installed. 本安装未包含 SQL Server 驱动。Use PostgreSQL or MySQL/MariaDB, or ask the administrator to add the mssql adapter.',
  );
}

function plain(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (typeof v === 'bigint') return v.toString();
  return v;
}

interface Cursor {
  w: string;
  k: string;
}
function parseCursor(since: string | null): Cursor | string | null {
  if (since === null) return null;
  if (since.startsWith('{')) {
    try {
      const c = JSON.parse(since) as Cursor;
      if (typeof c.w === 'string' && typeof c.k === 'string') return c;
    } catch {
      // a plain watermark
    }
  }
  return since;
}

export interface SqlSource extends SourceHandle {
  /** Tables and views the account can see, with columns, types and primary keys. */
  schema(): Promise<TableInfo[]>;
}

export async function openSqlSource(config: SqlConfig, secrets: SqlSecrets | undefined): Promise<SqlSource> {
  let db: Dialect | null = null;
  let tables: TableInfo[] | null = null;
  const connect = async (): Promise<Dialect> => {
    if (db) return db;
    try {
      db = await openDialect(config, secrets);
    } catch (err) {
      if (err instanceof SqlSourceError) throw err;
      throw new SqlSourceError(`Cannot connect to ${config.dialect} database "${config.database}" on ${config.host}: ${describe(err)}`);
    }
    return db;
  };
  const schema = async (): Promise<TableInfo[]> => {
    const d = await connect();
    tables ??= await d.introspect();
    return tables;
  };
  const resolve = async (objectName: string) => {
    const obj = Object.hasOwn(config.objects, objectName) ? config.objects[objectName] : undefined;
    if (!obj) throw new SqlSourceError(`Unknown object "${objectName}". Configured: ${Object.keys(config.objects).join(', ') || '(none)'}.`);
    const [schemaName, tableName] = obj.table.includes('.') ? obj.table.split('.') : [null, obj.table];
    const found = (await schema()).filter((t) => t.name === tableName && (schemaName === null || t.schema === schemaName));
    if (found.length !== 1) {
      throw new SqlSourceError(found.length ? `Table "${obj.table}" exists in several schemas; write it as schema.table.` : `Table "${obj.table}" not found in database "${config.database}" (or not visible to this account).`);
    }
    const table = found[0]!;
    const has = new Set(table.columns.map((c) => c.name));
    const key = obj.key ?? (table.primaryKey.length === 1 ? table.primaryKey[0]! : null);
    if (!key) throw new SqlSourceError(`Table "${obj.table}" has no single-column primary key; set "key" to a unique column.`);
    const columns = obj.columns ?? table.columns.map((c) => c.name);
    for (const c of [obj.watermark, key, ...columns]) {
      if (!has.has(c)) throw new SqlSourceError(`Column "${c}" does not exist in table "${obj.table}". Its columns: ${[...has].join(', ')}.`);
    }
    return { table, key, watermark: obj.watermark, columns };
  };

  return {
    schema,
    async pull(req: PullRequest): Promise<PullResult> {
      const d = await connect();
      const o = await resolve(req.object);
      const q = d.quote;
      const from = o.table.schema && config.dialect === 'postgres' ? `${q(o.table.schema)}.${q(o.table.name)}` : q(o.table.name);
      const wm = q(o.watermark);
      const key = q(o.key);
      const limit = Math.max(1, Math.min(req.limit, 10_000));
      const cursor = parseCursor(req.since);
      const params: unknown[] = [];
      let where = `${wm} is not null`;
      if (typeof cursor === 'string') {
        params.push(cursor);
        where += ` and ${wm} >= ${d.param(1)}`;
      } else if (cursor) {
        params.push(cursor.w, cursor.w, cursor.k);
        where += ` and (${wm} > ${d.param(1)} or (${wm} = ${d.param(2)} and ${key} > ${d.param(3)}))`;
      }
      const text = `select ${o.columns.map(q).join(', ')}, ${d.asText(wm)} as ${q('__trellis_wm')}, ${d.asText(key)} as ${q('__trellis_key')}
        from ${from} where ${where} order by ${wm}, ${key} limit ${limit + 1}`;
      let rows: Record<string, unknown>[];
      try {
        rows = await d.query(text, params);
      } catch (err) {
        throw new SqlSourceError(`Reading ${req.object} (${o.table.name}) failed: ${describe(err)}`);
      }
      const more = rows.length > limit;
      const page = rows.slice(0, limit);
      const out: PulledRow[] = page.map((r) => {
        const data: Record<string, unknown> = {};
        for (const c of o.columns) data[c] = plain(r[c]);
        return { key: String(r.__trellis_key), watermark: JSON.stringify({ w: String(r.__trellis_wm), k: String(r.__trellis_key) }), data };
      });
      return { rows: out, nextWatermark: out.at(-1)?.watermark ?? null, more };
    },
    async test(): Promise<ConnectionTestResult> {
      const t0 = performance.now();
      try {
        const d = await connect();
        const ro = await d.readOnly();
        const n = (await schema()).length;
        for (const name of Object.keys(config.objects)) await resolve(name);
        return { ok: true, message: `连接成功 Connected; read-only session: ${ro ? 'yes' : 'NO'}; ${n} tables visible; every configured object resolved`, latencyMs: performance.now() - t0 };
      } catch (err) {
        return { ok: false, message: describe(err), latencyMs: performance.now() - t0 };
      }
    },
    async close() {
      const d = db;
      db = null;
      await d?.close().catch(() => {});
    },
  };
}

export const sqlDriver: Driver<SqlConfig, SqlSecrets> = {
  kind: 'sql',
  label: { zh: '数据库直读 (PostgreSQL / MySQL)', en: 'Direct SQL read (PostgreSQL / MySQL)' },
  configSchema: sqlConfigSchema as unknown as z.ZodType<SqlConfig>,
  secretSchema: sqlSecretSchema,
  openSource: (config, secrets) => openSqlSource(config, secrets),
};

registerDriver(sqlDriver);
