// The Andon app (catalog/production-exception) is an ordinary app: a citizen developer changes it
// in the designers, without a file. In a real browser against the demo plant: open the installed
// app, see its five-stage form and its approval tree, add a field to the responsible-team stage,
// give the team stage the right to fill it and a longer reminder counted in business hours, check
// and publish — the new version keeps the seeded exceptions and the rest of the definition, and
// the new column is real.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, onTestFailed, test } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN_PASSWORD, ADMIN_USERNAME, apiSession, launchBrowser, newContext, pickOption, repoRoot, signInUi, startServer, unlabelledInputs, type ApiSession, type TrellisServer } from './helpers.ts';

const OUT = path.join(repoRoot, 'test-output/e2e');
const SESSION_MS = 240_000;
const REC = '/apps/andon/entities/exception/records';

let server: TrellisServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let admin: ApiSession;

async function shot(name: string): Promise<void> {
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, `${name}.png`) });
}

interface AppBody {
  version: number;
  definition: {
    entities: { name: string; fields: { name: string; type: string; label: { zh: string; en?: string } }[]; layout?: { kind: string; groups: { id: string; fields: string[] }[] } }[];
    workflows: { name: string; root: Record<string, any> }[];
  };
}

/** The node with this id anywhere in a workflow tree. */
function findNode(node: Record<string, any> | undefined, id: string): Record<string, any> | undefined {
  if (!node) return undefined;
  if (node.id === id) return node;
  for (const b of (node.branches as Record<string, any>[] | undefined) ?? []) {
    const hit = findNode(b.next, id);
    if (hit) return hit;
  }
  return findNode(node.next, id);
}

/** How many exceptions the admin sees (every page of the list). */
async function countExceptions(): Promise<number> {
  let n = 0;
  let after: string | null = null;
  do {
    const r: { status: number; body: { items: unknown[]; nextCursor: string | null } } = await admin.call('GET', `${REC}?limit=200${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    expect(r.status).toBe(200);
    n += r.body.items.length;
    after = r.body.nextCursor;
  } while (after);
  return n;
}

/** Demo exceptions load in the background after start: wait until the count stops growing. */
async function settledCount(): Promise<number> {
  let last = -1;
  for (;;) {
    const n = await countExceptions();
    if (n > 0 && n === last) return n;
    last = n;
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
}

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer({ demo: true }), launchBrowser()]);
  admin = await apiSession(server, ADMIN_USERNAME, ADMIN_PASSWORD);
  context = await newContext(browser, server, { viewport: { width: 1440, height: 1000 } });
  page = await context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err.message));
  await signInUi(page, ADMIN_USERNAME, ADMIN_PASSWORD);
}, 240_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop();
});

describe('the Andon app in the designers', () => {
  test('adds a field to the team stage, grants it on the team node with a longer reminder, and publishes a new version that keeps the data', async () => {
    onTestFailed(async () => {
      await shot('andon-designer-failed').catch(() => undefined);
    });
    const before = await admin.call<AppBody>('GET', '/apps/andon');
    expect(before.status).toBe(200);
    const exceptionsBefore = await settledCount();
    expect(exceptionsBefore).toBeGreaterThan(10);

    await page.goto('/builder/apps/andon');
    await page.getByTestId('app-editor').waitFor();
    await pickOption(page.locator('#entity-select'), 'exception');
    // the five stages are the form's steps
    for (const group of ['describe', 'team', 'contain', 'cause', 'prevent']) await page.getByTestId(`group-${group}`).waitFor();
    for (const field of ['line', 'process_category', 'work_order', 'equipment', 'severity', 'downtime_minutes']) await page.getByTestId(`field-card-${field}`).waitFor();
    await shot('andon-designer-form');

    // a select field added to the responsible-team stage: that stage made the current group, then
    // the palette's select clicked (the keyboard-friendly way; dragging is covered by builder.e2e)
    const cards = await page.getByTestId('group-team').locator('[data-testid^="field-card-"]').count();
    const current = page.getByTestId('group-team').getByRole('button', { name: '当前分组' });
    await current.click();
    await expect.poll(() => current.getAttribute('aria-pressed')).toBe('true');
    await page.getByTestId('palette-select').click();
    await expect.poll(() => page.getByTestId('group-team').locator('[data-testid^="field-card-"]').count()).toBe(cards + 1);
    const panel = page.getByTestId('field-panel');
    await panel.getByTestId('prop-name').fill('shift');
    await panel.getByTestId('prop-label-zh').fill('班次');
    await panel.getByTestId('prop-label-en').fill('Shift');
    await page.getByTestId('group-team').getByTestId('field-card-shift').waitFor();
    expect(await unlabelledInputs(page)).toEqual([]);

    // the approval tree: the team stage may fill the new field, and is reminded after 20 minutes
    await page.getByTestId('tab-flow').click();
    for (const node of ['report', 'team', 'contain', 'cause', 'prevent', 'verify']) await page.getByTestId(`node-${node}`).waitFor();
    await page.getByTestId('node-team').locator('.flow-card-body').click();
    const drawer = page.locator('.ant-drawer-open');
    await drawer.getByTestId('node-name').waitFor();
    const remind = drawer.getByLabel('超时提醒 (分钟后)');
    expect(await remind.inputValue()).toBe('10');
    await remind.fill('20');
    // counted in business hours (the plant calendar): nights and weekends do not count
    await pickOption(drawer.getByLabel('计时方式'), '工作时间 (按工厂工作日历)');
    await drawer.getByLabel('字段权限 shift').getByText('可编辑').click();
    expect(await unlabelledInputs(page)).toEqual([]);
    await shot('andon-designer-team-node');
    await drawer.getByRole('button', { name: '关闭' }).click();
    await drawer.waitFor({ state: 'detached' });

    await page.getByTestId('validate').click();
    await page.getByText('定义检查通过').waitFor();
    await page.getByTestId('publish').click();
    const publishDialog = page.getByRole('dialog', { name: '发布应用' });
    await publishDialog.getByTestId('publish-changes').waitFor();
    expect(await publishDialog.getByTestId('publish-changes').textContent()).toContain('shift');
    const published = page.waitForResponse((r) => r.url().endsWith('/api/v1/apps/publish'));
    await publishDialog.getByTestId('publish-confirm').click();
    expect((await published).status()).toBe(200);
    await page.getByText(`已发布版本 ${before.body.version + 1}`).waitFor();

    // the published definition says what was designed, and nothing else moved
    const after = await admin.call<AppBody>('GET', '/apps/andon');
    expect(after.body.version).toBe(before.body.version + 1);
    const exception = after.body.definition.entities.find((e) => e.name === 'exception')!;
    expect(exception.fields.find((f) => f.name === 'shift')).toMatchObject({ type: 'select', label: { zh: '班次', en: 'Shift' } });
    expect(exception.layout?.groups.find((g) => g.id === 'team')?.fields).toContain('shift');
    const oldException = before.body.definition.entities.find((e) => e.name === 'exception')!;
    expect(exception.fields.filter((f) => f.name !== 'shift')).toEqual(oldException.fields);
    const team = findNode(after.body.definition.workflows.find((w) => w.name === 'exception_loop')!.root, 'team')!;
    expect(team.fields.shift).toBe('editable');
    expect(team.sla.remind.after).toBe(20);
    expect(team.sla.businessHours).toBe(true);
    const oldTeam = findNode(before.body.definition.workflows.find((w) => w.name === 'exception_loop')!.root, 'team')!;
    expect(team.sla.escalate).toEqual(oldTeam.sla.escalate);
    expect(team.approvers).toEqual(oldTeam.approvers);

    // the seeded exceptions are all still there, and the new column is real
    expect(await countExceptions()).toBe(exceptionsBefore);
    const list = await admin.call<{ items: { id: string; values: Record<string, unknown> }[] }>('GET', `${REC}?limit=5`);
    expect(list.status).toBe(200);
    expect(list.body.items.length).toBeGreaterThan(0);
    for (const item of list.body.items) expect(item.values.shift ?? null).toBeNull();
    const filtered = await admin.call<{ items: unknown[] }>('GET', `${REC}?limit=5&filter=${encodeURIComponent(JSON.stringify({ field: 'shift', op: 'empty' }))}`);
    expect(filtered.status, JSON.stringify(filtered.body)).toBe(200);
    expect(filtered.body.items.length).toBeGreaterThan(0);
  }, SESSION_MS);
});
