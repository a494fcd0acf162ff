// The integration screens in a real browser against a real server (demo plant, so the sample ERP
// and its pull jobs exist) and a real HTTP receiver on loopback: create an HTTP connector and test
// its connection, a flow with a live JSONata preview, emit a test event; the receiver refuses it
// with 422 (permanent), so the delivery is dead; inspect it, edit its payload, let the receiver
// accept, retry, and see it succeed with the edited payload; then the health dashboard (ECharts),
// master data, and the same screens on a 390×844 phone.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, onTestFailed, test } from 'vitest';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { ADMIN_PASSWORD, ADMIN_USERNAME, apiSession, horizontalOverflow, launchBrowser, newContext, PHONE, pickOption, repoRoot, signInUi, startServer, unlabelledInputs, type ApiSession, type TrellisServer } from './helpers.ts';

const OUT = path.join(repoRoot, 'test-output/e2e');
const DOCS = path.join(repoRoot, 'docs/screenshots');
const CONNECTOR = 'e2e-erp';
const FLOW = 'e2e-orders';

/** A destination on 127.0.0.1 that answers POSTs with `status` and keeps what it was sent. */
class Receiver {
  status = 422;
  readonly received: Array<{ method: string; key: string | undefined; body: unknown }> = [];
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (req.method === 'HEAD' || req.method === 'GET') {
        res.writeHead(200).end();
        return;
      }
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* kept as text */
      }
      this.received.push({ method: req.method ?? '', key: req.headers['idempotency-key'] as string | undefined, body });
      if (this.status >= 400) {
        res.writeHead(this.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'amount must be a positive decimal with two places' }));
      } else {
        res.writeHead(this.status, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `ERP-${this.received.length}` }));
      }
    });
  });
  url = '';
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** expect.poll with a timeout that allows for a chunk to load and the server to answer (default 1 s). */
function poll<T>(fn: () => T | Promise<T>, opts: { timeout: number } = { timeout: 15_000 }) {
  return expect.poll(fn, opts);
}

let server: TrellisServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let admin: ApiSession;
const rx = new Receiver();

async function shot(name: string, target: Page | Locator = page, alsoDocs?: string): Promise<string> {
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, `${name}.png`);
  await target.screenshot({ path: file });
  if (alsoDocs) {
    fs.mkdirSync(DOCS, { recursive: true });
    fs.copyFileSync(file, path.join(DOCS, alsoDocs));
  }
  return file;
}

const pick = pickOption;

/** Clicks a button of the open confirmation bubble (inside a drawer) and waits for it to go. */
async function popConfirm(name: string): Promise<void> {
  const pop = page.locator('.ant-popconfirm').filter({ visible: true });
  await pop.getByRole('button', { name }).click();
  await poll(() => page.locator('.ant-popconfirm').filter({ visible: true }).count()).toBe(0);
}

/** Clicks the primary button of the confirmation dialog that is open. */
async function confirm(name: string): Promise<void> {
  const dialog = page.locator('.ant-modal-confirm');
  await dialog.getByRole('button', { name }).click();
  await poll(() => dialog.count()).toBe(0);
}

async function noUnlabelled(where: string): Promise<void> {
  const missing = await unlabelledInputs(page);
  expect(missing, `inputs without a label on ${where}`).toEqual([]);
}

beforeAll(async () => {
  await rx.start();
  [server, browser] = await Promise.all([startServer({ demo: true }), launchBrowser()]);
  admin = await apiSession(server, ADMIN_USERNAME, ADMIN_PASSWORD);
  context = await newContext(browser, server, { viewport: { width: 1440, height: 1000 } });
  page = await context.newPage();
  await signInUi(page, ADMIN_USERNAME, ADMIN_PASSWORD);
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop();
  await rx.close();
});

describe('integration screens', () => {
  beforeEach(() => {
    onTestFailed(async ({ task }) => {
      await shot(`integration-failed-${task.name.slice(0, 40).replace(/[^A-Za-z0-9]+/g, '-')}`).catch(() => undefined);
    });
  });

  test('creates an HTTP connector from its form, tests the connection, refuses a duplicate with the server message', async () => {
    await page.getByTestId('top-nav-integration').click();
    await page.waitForURL('**/integration/health');
    await page.getByTestId('int-tab-connectors').click();
    await page.getByTestId('integration-connectors').waitFor();
    // The demo plant's sample ERP is there already.
    await page.getByRole('row').filter({ hasText: 'sample-erp' }).first().waitFor();

    await page.getByTestId('connector-create').click();
    const drawer = page.getByTestId('connector-drawer');
    await drawer.getByLabel('名称', { exact: true }).fill(CONNECTOR);
    await drawer.getByLabel('目标地址 (URL)').fill(`${rx.url}/orders`);
    await pick(drawer.getByLabel('认证方式'), 'bearer');
    // The secret is a password input, and only the fields of the chosen authentication show.
    const token = drawer.getByLabel('Bearer 令牌');
    expect(await token.getAttribute('type')).toBe('password');
    await poll(() => drawer.getByLabel('密码', { exact: true }).count()).toBe(0);
    await token.fill('s3cret-token-4711');
    await noUnlabelled('the connector drawer');
    await shot('integration-connector-form', drawer);
    await drawer.getByTestId('connector-save').click();
    await poll(() => drawer.isVisible()).toBe(false);
    const row = page.getByRole('row').filter({ hasText: CONNECTOR });
    await row.getByText('有密钥').waitFor();

    // Connection test: the receiver answers, the result stays beside the row.
    await page.getByTestId(`test-${CONNECTOR}`).click();
    await poll(async () => (await page.getByTestId(`test-result-${CONNECTOR}`).textContent()) ?? '').toContain('连接成功');

    // Editing never shows the stored secret; the form says it is kept.
    await page.getByTestId(`edit-${CONNECTOR}`).click();
    await drawer.getByText('已保存密钥（不会显示）', { exact: false }).waitFor();
    expect(await drawer.getByLabel('Bearer 令牌').inputValue()).toBe('');
    expect(await drawer.getByLabel('目标地址 (URL)').inputValue()).toBe(`${rx.url}/orders`);
    await drawer.getByRole('button', { name: '取消' }).click();
    await poll(() => drawer.isVisible()).toBe(false);

    // A second connector with the same name: the server refuses it, the drawer says why.
    await page.getByTestId('connector-create').click();
    await drawer.getByLabel('名称', { exact: true }).fill(CONNECTOR);
    await drawer.getByLabel('目标地址 (URL)').fill(`${rx.url}/other`);
    await drawer.getByTestId('connector-save').click();
    await poll(async () => (await drawer.getByTestId('connector-error').textContent()) ?? '').toContain('already exists');
    await page.keyboard.press('Escape');
    await poll(() => drawer.isVisible()).toBe(false);

    // Every kind gets its form from the JSON Schema its driver publishes: e-mail (SMTP) had no
    // hand-written form, and shows its own labelled fields, choices at their defaults, secrets masked.
    await page.getByTestId('connector-create').click();
    await pick(drawer.getByTestId('connector-kind'), '电子邮件（SMTP）');
    await drawer.getByLabel('发件地址').waitFor();
    await poll(() => drawer.getByLabel('目标地址 (URL)').count()).toBe(0);
    expect(await drawer.getByTestId('cfg-security').textContent()).toContain('starttls');
    expect(await drawer.getByLabel('密码', { exact: true }).getAttribute('type')).toBe('password');
    await noUnlabelled('the SMTP connector drawer');
    await drawer.getByRole('button', { name: '取消' }).click();
    await poll(() => drawer.isVisible()).toBe(false);

    const list = await admin.call<{ items: Array<{ name: string; hasSecrets: boolean; config: { auth: string } }> }>('GET', '/integration/connectors');
    const made = list.body.items.find((c) => c.name === CONNECTOR)!;
    expect(made).toMatchObject({ hasSecrets: true, config: { auth: 'bearer' } });
    expect(JSON.stringify(list.body)).not.toContain('s3cret-token-4711');
  });

  test('creates a flow with a live mapping preview and emits a test event', async () => {
    await page.getByTestId('int-tab-flows').click();
    await page.getByTestId('flow-create').click();
    const drawer = page.getByTestId('flow-drawer');
    await drawer.getByLabel('名称', { exact: true }).fill(FLOW);
    await pick(drawer.getByLabel('连接器'), CONNECTOR);
    // Replace the suggested event type with ours.
    const events = drawer.getByLabel('事件类型');
    await events.click();
    await page.keyboard.press('Backspace');
    await page.keyboard.type('e2e.order.*');
    await page.keyboard.press('Enter');
    await drawer.locator('.ant-select-selection-item').filter({ hasText: 'e2e.order.*' }).waitFor();
    await drawer.getByLabel('字段映射 (JSONata)').fill('{ "order_no": subject, "amount": data.amount, "qty": data.qty }');
    // The preview evaluates the mapping against the sample event as one types.
    const preview = drawer.getByTestId('flow-preview');
    await poll(async () => (await preview.textContent()) ?? '').toContain('"order_no": "PO-2026-0001"');
    await drawer.getByLabel('字段映射 (JSONata)').fill('{ "order_no": subject, "amount": data.(');
    await poll(async () => (await preview.textContent()) ?? '').toContain('映射出错');
    await drawer.getByLabel('字段映射 (JSONata)').fill('{ "order_no": subject, "amount": data.amount, "qty": data.qty }');
    await poll(async () => (await preview.textContent()) ?? '').toContain('"order_no"');
    await drawer.getByLabel('最多尝试次数').fill('3');
    await drawer.getByLabel('积压超过 (条)').fill('50');
    await noUnlabelled('the flow drawer');
    await shot('integration-flow-form', drawer);
    await drawer.getByTestId('flow-save').click();
    await poll(() => drawer.isVisible()).toBe(false);
    await page.getByRole('row').filter({ hasText: FLOW }).waitFor();

    const flows = await admin.call<{ items: Array<{ name: string; eventTypes: string[]; maxAttempts: number; alerts: { backlog?: number } }> }>('GET', '/integration/flows');
    expect(flows.body.items.find((f) => f.name === FLOW)).toMatchObject({ eventTypes: ['e2e.order.*'], maxAttempts: 3, alerts: { backlog: 50 } });

    await page.getByTestId(`event-flow-${FLOW}`).click();
    const ev = page.getByTestId('event-drawer');
    await ev.getByLabel('事件类型').fill('e2e.order.created');
    await ev.getByLabel('单据标识 (subject，也用于按单据排序)').fill('SO-E2E-1');
    await ev.getByLabel('事件数据 (JSON)').fill('{ "amount": "-5", "qty": 3 }');
    await noUnlabelled('the test event drawer');
    await ev.getByTestId('event-send').click();
    await page.getByText('测试事件已写入发件箱').waitFor();
  });

  test('shows the dead delivery, edits its payload, retries once the receiver accepts, and sees it succeed', async () => {
    await page.getByTestId('int-tab-deliveries').click();
    await page.getByTestId('integration-deliveries').waitFor();
    await pick(page.getByLabel('流程', { exact: true }), FLOW);
    await page.waitForURL(`**/integration/deliveries?flow=${FLOW}`);
    // 422 is permanent: straight to dead (the list refreshes itself).
    const row = page.getByRole('row').filter({ hasText: 'SO-E2E-1' });
    await row.getByTestId('state-dead').waitFor({ timeout: 30_000 });
    expect(rx.received).toHaveLength(1);
    expect(rx.received[0]!.body).toEqual({ order_no: 'SO-E2E-1', amount: '-5', qty: 3 });
    await noUnlabelled('the deliveries list');
    await shot('integration-deliveries-dead');

    await row.getByRole('button', { name: '查看' }).click();
    const drawer = page.getByTestId('delivery-drawer');
    await poll(async () => (await drawer.getByTestId('delivery-last-error').textContent()) ?? '').toContain('422');
    await drawer.getByRole('tab', { name: /尝试记录/ }).click();
    const attempts = drawer.getByTestId('attempts');
    await attempts.getByRole('cell', { name: '422', exact: true }).waitFor();
    await attempts.getByText('permanent').waitFor();
    await drawer.getByRole('tab', { name: '原始事件' }).click();
    await drawer.getByText('"type": "e2e.order.created"').waitFor();
    await drawer.getByRole('tab', { name: '发送内容' }).click();

    // The editor refuses what is not JSON, then takes the fix.
    const editor = drawer.getByLabel('发送内容 (JSON)');
    await editor.fill('{ "order_no": "SO-E2E-1", "amount": ');
    await drawer.getByText('不是有效的 JSON').waitFor();
    expect(await drawer.getByTestId('payload-save').isDisabled()).toBe(true);
    await editor.fill('{ "order_no": "SO-E2E-1", "amount": "5.00", "qty": 3 }');
    await noUnlabelled('the delivery drawer');
    await drawer.getByRole('tab', { name: /尝试记录/ }).click();
    await attempts.waitFor();
    await poll(() => page.locator('.ant-message-notice').count(), { timeout: 10_000 }).toBe(0);
    await shot('integration-deliveries', page, 'integration-deliveries.png');
    await drawer.getByRole('tab', { name: '发送内容' }).click();
    await drawer.getByTestId('payload-save').click();
    await popConfirm('保存内容');
    await page.getByText('发送内容已保存').waitFor();
    await drawer.getByText('已改内容').waitFor();

    // The receiver is fixed; retry from the drawer (with its confirmation) and watch it succeed.
    rx.status = 201;
    await drawer.getByTestId('delivery-retry').click();
    await popConfirm('重试');
    await drawer.getByTestId('state-succeeded').waitFor({ timeout: 30_000 });
    expect(rx.received).toHaveLength(2);
    expect(rx.received[1]!.body).toEqual({ order_no: 'SO-E2E-1', amount: '5.00', qty: 3 });
    // Same document, same idempotency key on the retry.
    expect(rx.received[1]!.key).toBe(rx.received[0]!.key);
    expect(await drawer.getByTestId('delivery-retry').isDisabled()).toBe(true);
    await shot('integration-delivery-succeeded');

    // Keyboard: Escape closes the drawer and the URL forgets it.
    await drawer.getByTestId('delivery-retry').focus().catch(() => undefined);
    await page.keyboard.press('Escape');
    await poll(() => drawer.isVisible()).toBe(false);
    expect(new URL(page.url()).searchParams.get('delivery')).toBeNull();
    await row.getByTestId('state-succeeded').waitFor();

    // An action the server refuses shows its message: skipping a delivery that succeeded.
    const detail = await admin.call<{ items: Array<{ id: number }> }>('GET', `/integration/deliveries?flow=${FLOW}`);
    const skip = await admin.call<{ detail: string }>('POST', `/integration/deliveries/${detail.body.items[0]!.id}/skip`, {});
    expect(skip.status).toBe(409);
  });

  test('opens the health dashboard with today against yesterday and its charts', async () => {
    await page.getByTestId('int-tab-health').click();
    const card = page.getByTestId(`health-flow-${FLOW}`);
    await card.waitFor();
    // One permanent failure and one success today.
    await poll(async () => (await card.getByTestId('stat-successes').textContent()) ?? '').toContain('1');
    await poll(async () => (await card.getByTestId('stat-failures').textContent()) ?? '').toContain('1');
    for (const c of ['chart-volume', 'chart-latency', 'chart-backlog']) {
      await poll(() => page.getByTestId(c).getAttribute('data-ready')).toBe('true');
      expect(await page.getByTestId(c).locator('canvas').count()).toBeGreaterThan(0);
    }
    await page.getByTestId('alerts-none').or(page.getByTestId('alerts')).waitFor();
    await poll(() => page.locator('.ant-message-notice').count(), { timeout: 10_000 }).toBe(0);
    await page.waitForTimeout(600); // the charts' entry animation, for the screenshot only
    await noUnlabelled('the health dashboard');
    await shot('integration-health', page, 'integration-health.png');
    await page.getByText('按连接器').click();
    await page.getByTestId(`health-connector-${CONNECTOR}`).waitFor();
  });

  test('browses cached master data and runs a pull job now', async () => {
    await page.getByTestId('int-tab-masterdata').click();
    const cache = page.getByTestId('md-cache');
    await pick(page.getByLabel('主数据类型'), '设备');
    await cache.locator('tbody tr.ant-table-row').first().waitFor({ timeout: 30_000 });
    await page.getByLabel('按编码或名称搜索').fill('zz-no-such-thing');
    await page.getByLabel('按编码或名称搜索').press('Enter');
    await cache.getByText('缓存中没有数据').waitFor();
    await noUnlabelled('the master-data browser');

    await page.getByRole('tab', { name: '拉取任务' }).click();
    await page.getByTestId('run-material').click();
    await confirm('立即运行');
    await page.getByText('拉取完成').waitFor({ timeout: 30_000 });
    await page.getByRole('tab', { name: '运行记录' }).click();
    await page.getByTestId('md-runs').getByRole('cell', { name: 'manual' }).first().waitFor();
    await shot('integration-masterdata');
  });

  test('fits a 390×844 phone: deliveries, a delivery drawer and the health dashboard', async () => {
    const phone = await newContext(browser, server, PHONE);
    try {
      const p = await phone.newPage();
      await signInUi(p, ADMIN_USERNAME, ADMIN_PASSWORD);
      await p.goto(`/integration/deliveries?flow=${FLOW}`);
      const row = p.getByRole('row').filter({ hasText: 'SO-E2E-1' });
      await row.getByTestId('state-succeeded').waitFor();
      const o1 = await horizontalOverflow(p);
      expect(o1.scrollWidth).toBeLessThanOrEqual(o1.viewport);
      await row.getByRole('button', { name: '查看' }).click();
      await p.getByTestId('delivery-drawer').getByTestId('delivery-summary').waitFor();
      fs.mkdirSync(OUT, { recursive: true });
      await p.screenshot({ path: path.join(OUT, 'integration-phone-delivery.png') });
      await p.keyboard.press('Escape');
      await p.goto('/integration/health');
      await poll(() => p.getByTestId('chart-volume').getAttribute('data-ready')).toBe('true');
      const o2 = await horizontalOverflow(p);
      expect(o2.scrollWidth).toBeLessThanOrEqual(o2.viewport);
      await p.screenshot({ path: path.join(OUT, 'integration-phone-health.png') });
    } finally {
      await phone.close();
    }
  });
});
