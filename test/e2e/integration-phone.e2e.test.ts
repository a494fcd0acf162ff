// The connector form on a 390×844 phone (plant IT sometimes sets a connector up from one): the
// page and the drawer never scroll sideways, every field the chosen driver publishes can be
// scrolled to with its label whole and its input on screen (not under the sticky save bar), a
// missing required field is named beside that field, and a connector saved from the phone shows
// in the list within the screen's width. Two kinds: HTTP with OAuth2 (a nested section, secrets)
// and Tryton ERP (a required secret).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, onTestFailed, test } from 'vitest';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import type { DriverInfo } from '../../src/web/integration/api.ts';
import { fieldsOf, visible } from '../../src/web/integration/schemaForm.ts';
import { ADMIN_PASSWORD, ADMIN_USERNAME, apiSession, horizontalOverflow, launchBrowser, newContext, PHONE, pickOption, repoRoot, signInUi, startServer, unlabelledInputs, type ApiSession, type TrellisServer } from './helpers.ts';

const OUT = path.join(repoRoot, 'test-output/e2e');
const WIDTH = PHONE.viewport!.width;
const HEIGHT = PHONE.viewport!.height;

let server: TrellisServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let admin: ApiSession;
let drivers: DriverInfo[];

function poll<T>(fn: () => T | Promise<T>, opts: { timeout: number } = { timeout: 15_000 }) {
  return expect.poll(fn, opts);
}

async function shot(name: string, target: Page | Locator = page): Promise<void> {
  fs.mkdirSync(OUT, { recursive: true });
  await target.screenshot({ path: path.join(OUT, `${name}.png`) });
}

/** The labels (zh) of the fields a driver's form shows for these config values. */
function expectedLabels(kind: string, config: Record<string, unknown>): string[] {
  const d = drivers.find((x) => x.kind === kind);
  if (!d) throw new Error(`no driver ${kind}`);
  const fields = [...fieldsOf(d.configSchema), ...(d.secrets ? fieldsOf(d.secretSchema) : [])];
  return fields.filter((f) => visible(f, config)).map((f) => f.label.zh);
}

interface FieldReport {
  label: string;
  problems: string[];
}

/**
 * Scrolls each form item of the drawer into view, one after another, and reports what is wrong
 * with it on this screen: a label cut off or outside the screen, an input outside the screen or
 * covered by something else (the sticky save bar) where a finger would tap it.
 */
async function checkFields(drawer: Locator): Promise<FieldReport[]> {
  return drawer.locator('.ant-drawer-body').evaluate(
    (body, [w, h]) => {
      const out: Array<{ label: string; problems: string[] }> = [];
      const inside = (r: DOMRect) => r.left >= -0.5 && r.right <= w + 0.5 && r.top >= -0.5 && r.bottom <= h + 0.5;
      for (const item of body.querySelectorAll<HTMLElement>('.ant-form-item')) {
        const label = item.querySelector<HTMLElement>('.ant-form-item-label > label');
        // The input itself (a select that was opened leaves an empty sibling behind).
        const control = [...item.querySelectorAll<HTMLElement>('.ant-form-item-control-input-content > *')].find((e) => e.getBoundingClientRect().width > 0);
        // The label's own words, without antd's "(optional)" mark.
        const own = label?.cloneNode(true) as HTMLElement | undefined;
        own?.querySelector('.ant-form-item-optional')?.remove();
        const text = own?.textContent?.trim() ?? item.textContent?.trim().slice(0, 40) ?? '';
        const problems: string[] = [];
        if (!control) {
          out.push({ label: text, problems: ['no control'] });
          continue;
        }
        control.scrollIntoView({ block: 'center', inline: 'nearest' });
        const c = control.getBoundingClientRect();
        if (!inside(c)) problems.push(`control at ${Math.round(c.left)}..${Math.round(c.right)} × ${Math.round(c.top)}..${Math.round(c.bottom)}`);
        if (c.width < 20 || c.height < 14) problems.push(`control too small ${Math.round(c.width)}×${Math.round(c.height)}`);
        // What a tap in the middle of the input would hit.
        const hit = document.elementFromPoint(Math.min(c.left + c.width / 2, w - 1), Math.min(c.top + c.height / 2, h - 1));
        if (!hit || !(control.contains(hit) || hit.contains(control))) problems.push(`covered by ${hit ? `${hit.tagName}.${String(hit.className).slice(0, 60)}` : 'nothing'}`);
        if (label) {
          const l = label.getBoundingClientRect();
          if (!inside(l)) problems.push(`label at ${Math.round(l.left)}..${Math.round(l.right)} × ${Math.round(l.top)}..${Math.round(l.bottom)}`);
          if (label.scrollWidth > label.clientWidth + 1) problems.push(`label cut off (${label.scrollWidth} > ${label.clientWidth})`);
          if (getComputedStyle(label).visibility === 'hidden' || l.height < 8) problems.push('label not shown');
        }
        out.push({ label: text, problems });
      }
      return out;
    },
    [WIDTH, HEIGHT] as const,
  );
}

/** Sideways overflow of the page, the drawer's panel and its scrolling body. */
async function noSidewaysScroll(drawer: Locator | null, where: string): Promise<void> {
  const o = await horizontalOverflow(page);
  expect(o.scrollWidth, `page scrolls sideways on ${where}`).toBeLessThanOrEqual(o.viewport);
  if (!drawer) return;
  // The test id sits on the drawer's panel (antd 6: .ant-drawer-section).
  const d = await drawer.evaluate((el) => {
    const body = el.querySelector<HTMLElement>('.ant-drawer-body')!;
    const r = el.getBoundingClientRect();
    const wide = [...body.querySelectorAll<HTMLElement>('*')]
      .filter((e) => e.getBoundingClientRect().right > r.right + 0.5 && getComputedStyle(e).visibility !== 'hidden')
      .map((e) => `${e.tagName}.${String(e.className).slice(0, 50)}`)
      .slice(0, 5);
    return { left: r.left, right: r.right, scrollWidth: body.scrollWidth, clientWidth: body.clientWidth, wide };
  });
  expect(d.left, `drawer left edge on ${where}`).toBeGreaterThanOrEqual(0);
  expect(d.right, `drawer right edge on ${where}`).toBeLessThanOrEqual(WIDTH);
  expect(d.scrollWidth, `drawer body scrolls sideways on ${where}: ${d.wide.join(', ')}`).toBeLessThanOrEqual(d.clientWidth);
  expect(d.wide, `elements wider than the drawer on ${where}`).toEqual([]);
}

/** Save and cancel stay on screen (the sticky bar) wherever the drawer is scrolled. */
async function actionsOnScreen(drawer: Locator, where: string): Promise<void> {
  for (const name of ['保存', '取消']) {
    const b = (await drawer.getByRole('button', { name, exact: true }).boundingBox())!;
    expect(b, `${name} on ${where}`).not.toBeNull();
    expect(b.x, `${name} left on ${where}`).toBeGreaterThanOrEqual(0);
    expect(b.x + b.width, `${name} right on ${where}`).toBeLessThanOrEqual(WIDTH);
    expect(b.y, `${name} top on ${where}`).toBeGreaterThanOrEqual(0);
    expect(b.y + b.height, `${name} bottom on ${where}`).toBeLessThanOrEqual(HEIGHT);
    expect(b.height, `${name} is a finger-sized target on ${where}`).toBeGreaterThanOrEqual(32);
  }
}

/** Whether the element is within the screen, where the person looks after tapping save. */
function onScreen(el: Locator): Promise<boolean> {
  return el.evaluate((e) => {
    const r = e.getBoundingClientRect();
    return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth;
  });
}

/** The form item whose label is exactly `label`. */
function itemOf(drawer: Locator, label: string): Locator {
  return drawer.locator('.ant-form-item').filter({ has: page.locator('.ant-form-item-label > label').getByText(label, { exact: true }) });
}

async function openNewConnector(): Promise<Locator> {
  await page.goto('/integration/connectors');
  await page.getByTestId('integration-connectors').waitFor();
  await noSidewaysScroll(null, 'the connectors page');
  const create = page.getByTestId('connector-create');
  await poll(() => create.isEnabled()).toBe(true);
  await create.click();
  const drawer = page.getByTestId('connector-drawer');
  await drawer.getByTestId('connector-save').waitFor();
  // Slid in from the right: measured once it has arrived.
  await poll(async () => (await drawer.boundingBox())?.x).toBe(0);
  return drawer;
}

async function checkForm(drawer: Locator, kind: string, config: Record<string, unknown>, where: string): Promise<void> {
  await noSidewaysScroll(drawer, where);
  await actionsOnScreen(drawer, `${where} (top)`);
  const report = await checkFields(drawer);
  const shown = report.map((r) => r.label);
  for (const label of expectedLabels(kind, config)) expect(shown, `field "${label}" on ${where}`).toContain(label);
  expect(report.filter((r) => r.problems.length), `fields hard to reach on ${where}`).toEqual([]);
  // checkFields left the drawer scrolled to its last field.
  await actionsOnScreen(drawer, `${where} (bottom)`);
  expect(await unlabelledInputs(page), `inputs without a label on ${where}`).toEqual([]);
}

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
  admin = await apiSession(server, ADMIN_USERNAME, ADMIN_PASSWORD);
  drivers = (await admin.call<{ items: DriverInfo[] }>('GET', '/integration/drivers')).body.items;
  context = await newContext(browser, server, PHONE);
  page = await context.newPage();
  await signInUi(page, ADMIN_USERNAME, ADMIN_PASSWORD);
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop();
});

describe('the connector form on a 390×844 phone', () => {
  beforeEach(() => {
    onTestFailed(async ({ task }) => {
      await shot(`integration-phone-failed-${task.name.slice(0, 40).replace(/[^A-Za-z0-9]+/g, '-')}`).catch(() => undefined);
    });
  });

  test('HTTP with OAuth2: every field reachable, nothing sideways, a missing token URL named beside it, saved and listed', async () => {
    const drawer = await openNewConnector();
    // HTTP is the kind a new connector starts with.
    expect(await drawer.getByTestId('connector-kind').textContent()).toContain('通用 REST 接口');
    await checkForm(drawer, 'http', { auth: 'none' }, 'the HTTP form');

    // OAuth2 opens a nested section (token URL, scope …) and its secrets.
    await pickOption(drawer.getByLabel('认证方式'), 'oauth2');
    await drawer.getByLabel('OAuth2 令牌地址').waitFor();
    await drawer.getByLabel('名称', { exact: true }).fill('phone-webhook');
    await drawer.getByLabel('目标地址 (URL)').fill('https://erp.plant.local/api/orders');
    await drawer.getByLabel('客户端 ID').fill('trellis');
    await drawer.getByLabel('客户端密钥').fill('phone-secret-0815');
    await checkForm(drawer, 'http', { auth: 'oauth2' }, 'the HTTP form with OAuth2');
    await shot('integration-phone-connector-http', page);

    // The token URL is required once OAuth2 is chosen: saving names it, beside it, on screen.
    await drawer.getByTestId('connector-save').click();
    const tokenItem = itemOf(drawer, 'OAuth2 令牌地址');
    const err = tokenItem.locator('.ant-form-item-explain-error');
    await poll(async () => (await err.textContent()) ?? '').toContain('必填');
    await poll(() => onScreen(err)).toBe(true);
    await noSidewaysScroll(drawer, 'the HTTP form with an error');
    await shot('integration-phone-connector-http-error', page);

    await drawer.getByLabel('OAuth2 令牌地址').fill('https://sso.plant.local/token');
    await drawer.getByTestId('connector-save').click();
    await poll(() => drawer.isVisible()).toBe(false);
    await listed('phone-webhook');

    const list = await admin.call<{ items: Array<{ name: string; hasSecrets: boolean; config: Record<string, unknown> }> }>('GET', '/integration/connectors');
    expect(list.body.items.find((c) => c.name === 'phone-webhook')).toMatchObject({
      hasSecrets: true,
      config: { url: 'https://erp.plant.local/api/orders', auth: 'oauth2', oauth2: { tokenUrl: 'https://sso.plant.local/token' } },
    });
  });

  test('Tryton ERP: every field reachable, missing database and password named beside them, a bad URL refused by the server beside it, saved and listed', async () => {
    const drawer = await openNewConnector();
    await pickKind(drawer, 'Tryton ERP');
    await drawer.getByLabel('Tryton 服务器地址').waitFor();
    await checkForm(drawer, 'tryton', {}, 'the Tryton form');

    await drawer.getByLabel('名称', { exact: true }).fill('phone-tryton');
    await drawer.getByLabel('Tryton 服务器地址').fill('erp plant 8000');
    await drawer.getByLabel('登录用户', { exact: true }).fill('trellis');
    // Database and password left empty: both are named where they are, the first on screen.
    await drawer.getByTestId('connector-save').click();
    const dbErr = itemOf(drawer, '数据库').locator('.ant-form-item-explain-error');
    const pwErr = itemOf(drawer, '密码').locator('.ant-form-item-explain-error');
    await poll(async () => (await dbErr.textContent()) ?? '').toContain('必填');
    await poll(async () => (await pwErr.textContent()) ?? '').toContain('必填');
    await poll(() => onScreen(dbErr)).toBe(true);
    await noSidewaysScroll(drawer, 'the Tryton form with errors');
    await shot('integration-phone-connector-tryton-error', page);

    // The server's check (zod) refuses an address without a scheme; its words go beside the field.
    await drawer.getByLabel('数据库', { exact: true }).fill('plant');
    await drawer.getByLabel('密码', { exact: true }).fill('tryton-pass-4711');
    await drawer.getByTestId('connector-save').click();
    const urlErr = itemOf(drawer, 'Tryton 服务器地址').locator('.ant-form-item-explain-error');
    await poll(async () => (await urlErr.textContent()) ?? '').toContain('Tryton server address');
    await poll(() => onScreen(urlErr)).toBe(true);
    await noSidewaysScroll(drawer, 'the Tryton form with a server error');

    await drawer.getByLabel('Tryton 服务器地址').fill('http://erp.plant.local:8000');
    await drawer.getByTestId('connector-save').click();
    await poll(() => drawer.isVisible()).toBe(false);
    await listed('phone-tryton');
    await shot('integration-phone-connectors', page);

    const list = await admin.call<{ items: Array<{ name: string; kind: string; hasSecrets: boolean; config: Record<string, unknown> }> }>('GET', '/integration/connectors');
    expect(list.body.items.find((c) => c.name === 'phone-tryton')).toMatchObject({
      kind: 'tryton',
      hasSecrets: true,
      config: { url: 'http://erp.plant.local:8000', database: 'plant', username: 'trellis' },
    });
  });
});

/**
 * Picks a connector kind the way a thumb does: the list of kinds is longer than its dropdown
 * (a virtual list), so it is swiped (wheeled) down until the kind shows.
 */
async function pickKind(drawer: Locator, text: string): Promise<void> {
  const select = drawer.getByTestId('connector-kind');
  await select.click();
  const list = await select.locator('xpath=ancestor-or-self::*[contains(concat(" ", normalize-space(@class), " "), " ant-select ")][1]').locator('input').first().getAttribute('aria-controls');
  const dropdown = page.locator('.ant-select-dropdown').filter({ has: page.locator(`[id="${list}"]`) });
  const option = dropdown.locator('.ant-select-item-option').filter({ hasText: text });
  await dropdown.waitFor();
  for (let i = 0; (await option.count()) === 0; i++) {
    if (i > 10) throw new Error(`no kind "${text}" in the list`);
    const box = (await dropdown.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, 150);
    await page.waitForTimeout(100);
  }
  await option.first().click();
  await poll(async () => (await select.textContent()) ?? '').toContain(text);
}

/** The saved connector shows as a row within the screen's width, its actions on screen. */
async function listed(name: string): Promise<void> {
  const row = page.getByRole('row').filter({ hasText: name });
  await row.waitFor();
  await noSidewaysScroll(null, 'the connectors list');
  await row.scrollIntoViewIfNeeded();
  const r = (await row.boundingBox())!;
  expect(r.x, `row of ${name} left`).toBeGreaterThanOrEqual(0);
  expect(r.x + r.width, `row of ${name} right`).toBeLessThanOrEqual(WIDTH);
  for (const id of [`test-${name}`, `edit-${name}`]) {
    const b = (await page.getByTestId(id).boundingBox())!;
    expect(b.x + b.width, `${id} on screen`).toBeLessThanOrEqual(WIDTH);
    expect(b.x, `${id} on screen`).toBeGreaterThanOrEqual(0);
  }
}
