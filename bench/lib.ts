// Shared pieces of the benchmarks: a fresh PostgreSQL database, a Trellis server spawned on a
// free port and timed to its first ready answer, clean-up that runs however a bench ends, and
// the result line. Each bench is its own process (bench/run.ts starts them one by one).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BENCH_ADMIN_PASSWORD = 'Bench-Admin-Pass-2026!';
/** Admin connection used to create and drop the per-run databases. */
export const pgAdminUrl = process.env.TRELLIS_BENCH_PG || 'postgres://postgres@127.0.0.1:5432/postgres';

// ---- clean-up ----------------------------------------------------------------------------------

const cleanups: Array<() => Promise<void> | void> = [];

/** Registers clean-up to run (last registered first) when the bench ends, fails or is interrupted. */
export function defer(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

async function runCleanups(): Promise<void> {
  while (cleanups.length) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (err) {
      console.error('clean-up failed:', err);
    }
  }
}

/**
 * Runs a benchmark body and prints its figures as the final line `{"bench": name, ...figures}`.
 * A failure prints a clear message (and a `{"bench", "error"}` line) and exits 1.
 */
export function runBench(name: string, body: () => Promise<Record<string, unknown>>): void {
  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true;
      console.error(`${name}: interrupted (${signal}), cleaning up`);
      void runCleanups().finally(() => process.exit(130));
    });
  }
  // Other work on the machine skews every figure: record how busy it was.
  const loadBefore = os.loadavg()[0]!;
  if (loadBefore > os.availableParallelism()) {
    console.error(`${name}: warning: load average ${loadBefore.toFixed(1)} on ${os.availableParallelism()} cores; figures will be pessimistic`);
  }
  body().then(
    async (figures) => {
      await runCleanups();
      if (interrupted) return;
      const machine = { cpus: os.availableParallelism(), loadAvg1mBefore: round(loadBefore, 1), loadAvg1mAfter: round(os.loadavg()[0]!, 1) };
      console.log(JSON.stringify({ bench: name, ...figures, machine }));
      process.exit(0);
    },
    async (err: unknown) => {
      await runCleanups();
      const message = err instanceof Error ? err.message : String(err);
      console.error(`\n${name} FAILED: ${message}`);
      console.log(JSON.stringify({ bench: name, error: message.split('\n')[0] }));
      process.exit(1);
    },
  );
}

// ---- small helpers -----------------------------------------------------------------------------

export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `trellis-bench-${prefix}-`));
  defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const round = (n: number, digits = 0): number => Number(n.toFixed(digits));

/** The p-th quantile (0..1) of an ascending list (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The server's output from its first error line on (or its last lines), at most `lines` lines. */
function tailOf(file: string, lines = 40): string {
  try {
    const all = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    const firstError = all.findIndex((l) => /^\s*(\w*Error\b|error:)|"level":[56]0/i.test(l));
    return (firstError >= 0 ? all.slice(firstError, firstError + lines) : all.slice(-lines)).join('\n');
  } catch {
    return '(no output)';
  }
}

// ---- PostgreSQL ----------------------------------------------------------------------------------

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** Creates `trellis_bench_<random>` on the bench PostgreSQL; it is dropped when the bench ends. */
export async function freshPgDatabase(): Promise<BenchDatabase> {
  const name = `trellis_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgAdminUrl });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`cannot connect to PostgreSQL at ${pgAdminUrl} (set TRELLIS_BENCH_PG): ${(err as Error).message}`, { cause: err });
  }
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(pgAdminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    const c = new pg.Client({ connectionString: pgAdminUrl });
    await c.connect();
    try {
      await c.query(`drop database if exists ${name} with (force)`);
    } finally {
      await c.end();
    }
  };
  defer(drop);
  return { name, url: url.toString(), drop };
}

// ---- the server --------------------------------------------------------------------------------

export interface StartOptions {
  /** PGlite data folder (ignored when databaseUrl is set). */
  dataDir?: string;
  databaseUrl?: string;
  /** Extra environment (TRELLIS_SKIP_DEMO, TRELLIS_LOG_LEVEL, ...). */
  env?: Record<string, string>;
  args?: string[];
  /** Where server output goes; a file in a temp folder when not given. */
  logFile?: string;
  readyTimeoutMs?: number;
}

export interface RunningServer {
  port: number;
  baseUrl: string;
  proc: ChildProcess;
  logFile: string;
  /** From spawn to the first 200 from /readyz. */
  readyMs: number;
  /** SIGTERM, wait for the exit (SIGKILL after 15 s); resolves the time it took. */
  stop(): Promise<number>;
}

/** Spawns `node src/server/cli.ts start` on a free loopback port and waits for /readyz to answer 200. */
export async function startServer(opts: StartOptions): Promise<RunningServer> {
  const port = await freePort();
  const logFile = opts.logFile ?? process.env.BENCH_SERVER_LOG ?? path.join(tempDir('log'), 'server.log'); // BENCH_SERVER_LOG: keep the server's output
  const out = fs.openSync(logFile, 'a');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    TRELLIS_ADMIN_PASSWORD: BENCH_ADMIN_PASSWORD,
    TRELLIS_LOG_LEVEL: process.env.TRELLIS_LOG_LEVEL || 'info',
    ...opts.env,
  };
  delete env.DATABASE_URL;
  if (opts.databaseUrl) env.DATABASE_URL = opts.databaseUrl;
  if (opts.dataDir) env.TRELLIS_DATA_DIR = opts.dataDir;

  const t0 = performance.now();
  // BENCH_SERVER_NODE_ARGS: flags for the server's node (e.g. --trace-gc), for a diagnosis, not a figure
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, path.join(repoRoot, 'src/server/cli.ts'), 'start', ...(opts.args ?? [])], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  const stop = async (): Promise<number> => {
    const s0 = performance.now();
    if (!exited) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(timer);
    }
    return performance.now() - s0;
  };
  defer(async () => {
    await stop();
  });

  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = t0 + (opts.readyTimeoutMs ?? 120_000);
  let lastStatus = 'no answer';
  for (;;) {
    if (exited) {
      const output = tailOf(logFile);
      const cause = output.split('\n').find((l) => /^\s*(\w*Error\b|error:)|"level":[56]0/i.test(l)) ?? output.split('\n').at(-1);
      throw new Error(`server exited (code ${exited.code}, signal ${exited.signal}) before it was ready: ${cause?.trim()}\nits output:\n${output}`);
    }
    try {
      const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
      lastStatus = `HTTP ${res.status}`;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`server not ready after ${opts.readyTimeoutMs ?? 120_000} ms (last: ${lastStatus}); its output:\n${tailOf(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const readyMs = performance.now() - t0;
  return { port, baseUrl, proc, logFile, readyMs, stop };
}

/** Logs in with a username and password; returns the cookie header and the CSRF token. */
export async function login(baseUrl: string, username = 'admin', password = BENCH_ADMIN_PASSWORD): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const body = await res.text();
  if (res.status === 404) throw new Error(`POST /api/v1/auth/login answered 404: the login endpoint does not exist (yet). ${body.slice(0, 200)}`);
  if (res.status !== 200) throw new Error(`POST /api/v1/auth/login answered ${res.status}: ${body.slice(0, 300)}`);
  const cookies = new Map<string, string>();
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const eq = pair!.indexOf('=');
    if (eq > 0) cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
  }
  const session = cookies.get('trellis_session');
  const csrf = cookies.get('trellis_csrf');
  if (!session) throw new Error(`login answered 200 but set no trellis_session cookie (got: ${[...cookies.keys()].join(', ') || 'none'})`);
  const cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  return { cookie, csrf: csrf ?? '' };
}

/** Publishes an app definition through the API as a signed-in admin; throws with the server's answer otherwise. */
export async function publishApp(baseUrl: string, auth: { cookie: string; csrf: string }, definition: unknown): Promise<void> {
  const r = await fetch(`${baseUrl}/api/v1/apps/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: auth.cookie, 'x-csrf-token': auth.csrf },
    body: JSON.stringify({ definition }),
  });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`publishing the bench app answered ${r.status}: ${text.slice(0, 400)}`);
}
