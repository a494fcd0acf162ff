// End-to-end harness: a real Trellis server in a child process, Debian's Chromium driven by
// playwright-core, and screenshots into test-output/e2e/.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Locator, type Page } from 'playwright-core';
import pino from 'pino';
import { expect } from 'vitest';
import { loadPendingDemos } from '../../src/server/catalog/index.ts';
import { loadConfig } from '../../src/server/config.ts';
import { createTrellis, type Trellis } from '../../src/server/main.ts';
import { TimerWorker } from '../../src/server/workflow/index.ts';
import { ManualClock } from '../workflow-helpers.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ADMIN_USERNAME = 'admin';
export const ADMIN_PASSWORD = 'Admin-Pass-2026!';
export const CHROMIUM_PATH = process.env.TRELLIS_E2E_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = path.join(repoRoot, 'test-output/e2e');
export const DEMO_PASSWORD = 'Trellis-Demo-2026';
export const PHONE: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const OUTPUT_LIMIT = 64 * 1024;

export interface TrellisServer {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  dataDir: string;
  /** The last 64 KB the server wrote to stdout and stderr. */
  output(): string;
  /** Stops exactly this server (SIGTERM, then SIGKILL after 15 s) and removes its data. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Seed the demo plant (default: no, TRELLIS_SKIP_DEMO=1). */
  demo?: boolean;
  /** Extra environment for the server. */
  env?: Record<string, string>;
  /** How long to wait for /readyz (default 90 s). */
  readyTimeoutMs?: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** A fresh PostgreSQL database when TRELLIS_E2E_DATABASE_URL is set; PGlite in the data folder otherwise. */
export async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> } | null> {
  const adminUrl = process.env.TRELLIS_E2E_DATABASE_URL;
  if (!adminUrl) return null;
  const name = `trellis_e2e_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts `node src/server/cli.ts start` on a free port with a fresh data folder and waits for /readyz. */
export async function startServer(opts: StartOptions = {}): Promise<TrellisServer> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-e2e-'));
  const database = await freshDatabase();
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  Object.assign(env, {
    PORT: String(port),
    TRELLIS_DATA_DIR: dataDir,
    TRELLIS_ADMIN_PASSWORD: ADMIN_PASSWORD,
    TRELLIS_LOG_LEVEL: process.env.TRELLIS_E2E_LOG_LEVEL ?? 'info',
    ...(opts.demo ? {} : { TRELLIS_SKIP_DEMO: '1' }),
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...opts.env,
  });
  if (opts.demo) delete env.TRELLIS_SKIP_DEMO;

  const child = spawn(process.execPath, ['src/server/cli.ts', 'start'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => {
    output += d.toString();
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 15_000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 5_000);
      }
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
    await database?.drop();
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`Trellis exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`);
      }
      try {
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`Trellis was not ready within ${opts.readyTimeoutMs ?? 90_000} ms:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, port, dataDir, output: () => output, stop };
}

/**
 * A copy of the built web console for a server run in the test process (createTrellis with a
 * webRoot, as the Andon tests do to move a ManualClock): the global setup built src/web/dist,
 * and another test run that rebuilds it (sources changed) must not take the files away from a
 * running browser. Waits until a build in progress has finished (index.html and its scripts there).
 */
export async function webSnapshot(into: string): Promise<string> {
  const dist = path.join(repoRoot, 'src/web/dist');
  for (let i = 0; i < 240; i++) {
    try {
      const before = fs.statSync(path.join(dist, 'index.html')).mtimeMs;
      fs.rmSync(into, { recursive: true, force: true });
      fs.cpSync(dist, into, { recursive: true });
      const html = fs.readFileSync(path.join(into, 'index.html'), 'utf8');
      const refs = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]!);
      if (refs.length && refs.every((r) => fs.existsSync(path.join(into, r))) && fs.statSync(path.join(dist, 'index.html')).mtimeMs === before) return into;
    } catch {
      /* being rebuilt */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('src/web/dist did not settle: is a web build stuck?');
}

/** A demo-plant Trellis run inside the test process on a clock the test moves. */
export interface PlantInProcess {
  trellis: Trellis;
  url: string;
  clock: ManualClock;
  /** Fires what fell due on `clock` (one step per runOnce). */
  timers: TimerWorker;
  /** Closes the server, drops its database and removes its folder. */
  close(): Promise<void>;
}

/**
 * Starts the demo plant in this process (createTrellis with a ManualClock; PostgreSQL when
 * TRELLIS_E2E_DATABASE_URL is set, else PGlite in a fresh folder), with the demo's pending data
 * loaded as a real server's first run does, listening on a free port. `beforeStart` sees the
 * address before anything starts (e.g. to set TRELLIS_PUBLIC_URL); `env` adds configuration.
 */
export async function startPlantInProcess(o: { tag: string; env?: Record<string, string>; beforeStart?: (url: string) => void }): Promise<PlantInProcess> {
  const clock = new ManualClock(new Date().toISOString());
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `trellis-${o.tag}-e2e-`));
  const webRoot = await webSnapshot(path.join(dataDir, 'web'));
  const database = await freshDatabase();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  o.beforeStart?.(url);
  const config = loadConfig({
    TRELLIS_DATA_DIR: dataDir,
    TRELLIS_ADMIN_PASSWORD: ADMIN_PASSWORD,
    TRELLIS_LOG_LEVEL: process.env.TRELLIS_E2E_LOG_LEVEL ?? 'warn',
    ...o.env,
    ...(database ? { DATABASE_URL: database.url } : {}),
  });
  const trellis = await createTrellis(config, { seedDemo: true, clock, webRoot, announce: () => {}, logger: pino({ level: config.logLevel }) });
  // what the catalog engine's start does (in the background) on a real server's first run
  const demos = await loadPendingDemos(trellis.ctx);
  expect(demos.andon, 'the Andon demo data loads').toBeTruthy();
  await trellis.app.listen({ port, host: '127.0.0.1' });
  return {
    trellis,
    url,
    clock,
    timers: new TimerWorker(trellis.ctx.db, clock, { workerId: `${o.tag}-e2e` }),
    async close() {
      await trellis.close();
      await database?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium through playwright-core. Never downloads a browser. */
export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: apt-get install -y chromium (tests never download a browser)`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs], timeout: 60_000 });
}

/** A fresh browser context (own cookies and storage) pointed at the server. */
export async function newContext(browser: Browser, server: Pick<TrellisServer, 'url'>, options: BrowserContextOptions = {}): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL: server.url, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', ...options });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(30_000);
  return context;
}

/** Saves a full-page PNG to test-output/e2e/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<string> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  await page.screenshot({ path: file, fullPage: opts.fullPage ?? true });
  return file;
}

export interface ScriptTally {
  /** Files loaded so far: url, raw bytes, gzip bytes. */
  files: Array<{ url: string; bytes: number; gzipBytes: number }>;
  gzipBytes(): number;
}

/** Records every JavaScript file the page loads, with its gzipped size (level 9, like a CDN). */
export function tallyScripts(page: Page): ScriptTally {
  const files: ScriptTally['files'] = [];
  page.on('response', (res) => {
    const type = res.headers()['content-type'] ?? '';
    if (!type.includes('javascript')) return;
    res.body().then(
      (body) => files.push({ url: res.url(), bytes: body.length, gzipBytes: gzipSync(body, { level: 9 }).length }),
      () => {},
    );
  });
  return { files, gzipBytes: () => files.reduce((n, f) => n + f.gzipBytes, 0) };
}

/** Inputs (and selects, textareas) without an accessible name: none on a good form. */
export async function unlabelledInputs(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const nameOf = (el: HTMLElement): string => {
      const labelledBy = el.getAttribute('aria-labelledby');
      if (labelledBy) {
        const text = labelledBy
          .split(/\s+/)
          .map((id) => document.getElementById(id)?.textContent ?? '')
          .join(' ')
          .trim();
        if (text) return text;
      }
      const aria = el.getAttribute('aria-label')?.trim();
      if (aria) return aria;
      const labels = (el as HTMLInputElement).labels;
      if (labels) {
        const text = [...labels].map((l) => l.textContent ?? '').join(' ').trim();
        if (text) return text;
      }
      return el.getAttribute('title')?.trim() ?? '';
    };
    return [...document.querySelectorAll<HTMLElement>('input, select, textarea')]
      .filter((el) => (el as HTMLInputElement).type !== 'hidden')
      // not in the accessibility tree (e.g. a text area's hidden measuring clone)
      .filter((el) => !el.closest('[aria-hidden="true"]'))
      .filter((el) => !nameOf(el))
      .map((el) => el.outerHTML.slice(0, 200));
  });
}

/** True when the page is wider than its viewport (horizontal scrolling). */
export async function horizontalOverflow(page: Page): Promise<{ scrollWidth: number; viewport: number }> {
  return page.evaluate(() => ({ scrollWidth: document.scrollingElement?.scrollWidth ?? 0, viewport: window.innerWidth }));
}

/** Signs in through the login page and waits until the app left it. */
export async function signInUi(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('用户名', { exact: true }).fill(username);
  await page.getByLabel('密码', { exact: true }).fill(password);
  await page.getByRole('button', { name: '登录', exact: true }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

export interface ApiSession {
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

/** Signs in over HTTP (cookie + CSRF token) for set-up steps that need no browser. */
export async function apiSession(server: Pick<TrellisServer, 'url'>, username: string, password: string): Promise<ApiSession> {
  const r = await fetch(`${server.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${await r.text()}`);
  const { csrfToken } = (await r.json()) as { csrfToken: string };
  const cookie = r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  return {
    async call<T>(method: string, p: string, body?: unknown) {
      const res = await fetch(`${server.url}/api/v1${p}`, {
        method,
        headers: { cookie, 'x-csrf-token': csrfToken, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
    },
  };
}

/**
 * Opens an antd Select and picks the option whose text contains `text` (in that select's own
 * list), then waits until the select shows it; a click lost to an opening animation on a busy
 * machine is tried again.
 */
export async function pickOption(select: Locator, text: string | RegExp): Promise<void> {
  const page = select.page();
  const root = select.locator('xpath=ancestor-or-self::*[contains(concat(" ", normalize-space(@class), " "), " ant-select ")][1]');
  const input = root.locator('input').first();
  for (let attempt = 1; ; attempt++) {
    if ((await input.getAttribute('aria-expanded')) !== 'true') await select.click();
    let list: string | null = null;
    await expect.poll(async () => (list = await input.getAttribute('aria-controls'))).toBeTruthy();
    const dropdown = page.locator('.ant-select-dropdown').filter({ has: page.locator(`[id="${list}"]`) });
    await dropdown.locator('.ant-select-item-option').filter({ hasText: text }).first().click();
    try {
      await root.locator('.ant-select-content, .ant-select-selection-item').filter({ hasText: text }).first().waitFor({ timeout: 3000 });
      return;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

/** Drags with real pointer events (dnd-kit's pointer sensor needs movement past its threshold). */
export async function dragTo(page: Page, from: Locator, to: Locator): Promise<void> {
  const a = (await from.boundingBox())!;
  const b = (await to.boundingBox())!;
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move(a.x + a.width / 2 + 10, a.y + a.height / 2 + 10, { steps: 4 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height - 12, { steps: 12 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height - 10, { steps: 2 });
  await page.mouse.up();
}

/**
 * Demo-plant people working one approval through the API, each signed in on first use (the
 * admin with `adminPassword`, everyone else with `password`): who holds it, a person's task of
 * it, a person's action on a task.
 */
export function approvalPeople(server: () => Pick<TrellisServer, 'url'>, passwords: { admin: string; others: string }) {
  const sessions = new Map<string, ApiSession>();
  const as = async (username: string): Promise<ApiSession> => {
    if (!sessions.has(username)) sessions.set(username, await apiSession(server(), username, username === 'admin' ? passwords.admin : passwords.others));
    return sessions.get(username)!;
  };
  type TodoItem = { id: string; instanceId: string; nodeId: string; escalationLevel: number; onBehalfOf: string | null };
  const todo = async (username: string): Promise<TodoItem[]> => {
    const r = await (await as(username)).call<{ items: TodoItem[] }>('GET', '/workflow/inbox/todo?limit=100');
    expect(r.status).toBe(200);
    return r.body.items;
  };
  return {
    as,
    /** A user's id, through the organisation API (as the admin). */
    async userId(username: string): Promise<string> {
      const r = await (await as('admin')).call<{ items: Array<{ id: string; username: string }> }>('GET', `/org/users?q=${encodeURIComponent(username)}`);
      const u = r.body.items.find((x) => x.username === username);
      if (!u) throw new Error(`no user ${username}`);
      return u.id;
    },
    /** Who of `people` has this instance in their to-do list (asked as each of them). */
    async holders(people: readonly string[], instanceId: string): Promise<string[]> {
      const out: string[] = [];
      for (const p of people) if ((await todo(p)).some((x) => x.instanceId === instanceId)) out.push(p);
      return out;
    },
    /** The one task of this instance in the person's to-do list (fails the test otherwise). */
    async taskOf(username: string, instanceId: string, what = 'the approval'): Promise<TodoItem> {
      const mine = (await todo(username)).filter((x) => x.instanceId === instanceId);
      expect(mine, `${username} should hold one task of ${what}`).toHaveLength(1);
      return mine[0]!;
    },
    /** POST a task action as the person; the HTTP status. */
    async act(username: string, taskId: string, body: Record<string, unknown>): Promise<number> {
      return (await (await as(username)).call('POST', `/workflow/tasks/${taskId}/actions`, body)).status;
    },
  };
}


/**
 * Moves a plant's ManualClock `minutes` ahead in steps of `step` minutes, firing what fell due
 * after each step (the timer worker's single step, until nothing is due), as the running worker
 * would at each minute.
 */
export async function advanceClock(plant: Pick<PlantInProcess, 'clock' | 'timers'>, minutes: number, step = minutes): Promise<void> {
  let left = minutes;
  do {
    const m = Math.min(Math.max(step, 1), left);
    plant.clock.advanceMinutes(m);
    left -= m;
    while ((await plant.timers.runOnce()) > 0) {
      /* a batch at a time */
    }
  } while (left > 0);
}

/** How the web console prints a time (zh-CN, plant time): runtime/model.ts formatDateTime. */
export function shownDateTime(d: Date): string {
  return new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(d);
}

export interface ShownTrailEntry {
  /** What happened (已升级, 委托, 已催办, …). */
  word: string;
  /** The step's name. */
  node: string;
  who: string;
  /** The person a hand-over (escalation, transfer, delegation) went to, as the trail names them ('' for other entries). */
  to: string;
  at: string;
}

/** The approval trail as the page shows it (runtime/Trail.tsx): what happened, at which step, by whom, to whom, when. */
export async function shownTrail(page: Page): Promise<ShownTrailEntry[]> {
  const trail = page.getByTestId('approval-trail');
  await trail.waitFor();
  return trail.locator('.trail-entry').evaluateAll((entries) =>
    entries.map((e) => {
      const texts = [...e.querySelectorAll(':scope > div > .ant-typography:not(.trail-to)')].map((x) => x.textContent ?? '');
      return {
        word: e.querySelector(':scope > .ant-typography')?.textContent ?? '',
        node: e.querySelector('.trail-node')?.textContent ?? '',
        who: texts[0] ?? '',
        to: (e.querySelector('.trail-to')?.textContent ?? '').replace('→', '').trim(),
        at: texts[1] ?? '',
      };
    }),
  );
}

/** The person's to-do list in the browser (/inbox/todo, loaded): the cards whose text contains `title`. */
export async function inboxCards(page: Page, title: string): Promise<Locator> {
  await page.goto('/inbox/todo');
  await page.locator('section.inbox').waitFor();
  // the list has loaded (the spinner shows until the first page arrives)
  await expect.poll(() => page.locator('.list-spin').count(), { timeout: 15_000, interval: 150 }).toBe(0);
  return page.getByTestId('inbox-item').filter({ hasText: title });
}

/** One signed-in browser page per person (each in its own context, `options` e.g. PHONE), kept until close(). */
export function signedInPages(browser: () => Browser, server: () => Pick<TrellisServer, 'url'>, password: string, options: BrowserContextOptions = {}) {
  const pages = new Map<string, Page>();
  const contexts: BrowserContext[] = [];
  return {
    async of(username: string): Promise<Page> {
      if (!pages.has(username)) {
        const context = await newContext(browser(), server(), options);
        contexts.push(context);
        const page = await context.newPage();
        await signInUi(page, username, password);
        pages.set(username, page);
      }
      return pages.get(username)!;
    },
    async close(): Promise<void> {
      for (const c of contexts) await c.close().catch(() => {});
    },
  };
}
