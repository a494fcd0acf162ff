// Business-hours calendars in a real browser against the demo plant: an administrator creates a
// calendar with the National Day week off and a 调休 Saturday on the calendars page, is shown the
// server's problem (in Chinese) beside the working period that ends before it starts, checks due
// times that skip the holidays and count the make-up day, then picks the calendar for a node's
// deadline in the approval designer — the saved draft names it and the designer's check knows it.
// On a 390×844 phone an administrator reaches the page from the bottom menu and it fits the
// screen; people who are not administrators have no entry and are turned away.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, onTestFailed, test } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  ADMIN_PASSWORD,
  ADMIN_USERNAME,
  apiSession,
  DEMO_PASSWORD,
  horizontalOverflow,
  launchBrowser,
  newContext,
  PHONE,
  pickOption,
  repoRoot,
  signInUi,
  startServer,
  unlabelledInputs,
  type ApiSession,
  type TrellisServer,
} from './helpers.ts';

const OUT = path.join(repoRoot, 'test-output/e2e');
const CAL = 'plant-b';
const poll = expect.poll;

let server: TrellisServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let admin: ApiSession;

async function shot(p: Page, name: string): Promise<void> {
  fs.mkdirSync(OUT, { recursive: true });
  await p.screenshot({ path: path.join(OUT, `${name}.png`) });
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

interface Stored {
  name: string;
  definition: { label?: { zh: string }; timeZone: string; weekdays: number[]; hours: { from: string; to: string }[]; holidays: string[]; workdays: string[] };
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

describe('business-hours calendars', () => {
  test('creates a calendar with holidays, shows the server’s problem at the field, previews due times, and the approval designer names it', async () => {
    onTestFailed(async () => {
      await shot(page, 'calendars-failed').catch(() => undefined);
    });
    await page.getByTestId('top-nav-calendars').click();
    await page.waitForURL('**/calendars');
    // the plant default is always there, and cannot be deleted
    const plant = page.getByTestId('calendar-default');
    await plant.waitFor();
    expect(await plant.getByTestId('delete-default').count()).toBe(0);

    await page.getByTestId('calendar-create').click();
    const drawer = page.getByTestId('calendar-drawer');
    await drawer.getByLabel('日历标识').fill(CAL);
    await drawer.getByLabel('中文名称').fill('二厂');
    // a new calendar starts as the plant's week: Monday to Friday, 08:30–12:00 and 13:00–17:30
    expect(await drawer.getByLabel('时段 1 开始').inputValue()).toBe('08:30');
    expect(await drawer.getByLabel('周一').isChecked()).toBe(true);
    expect(await drawer.getByLabel('周六').isChecked()).toBe(false);
    // the National Day week typed as a run, the make-up Saturday as one date
    const holidays = drawer.getByLabel('节假日');
    await holidays.click();
    await page.keyboard.type('2026-10-01~2026-10-07');
    await page.keyboard.press('Enter');
    await poll(() => drawer.getByTestId('calendar-holidays').locator('.cal-date-tag').count()).toBe(7);
    await drawer.getByLabel('调休上班日').click();
    await page.keyboard.type('2026-10-10');
    await page.keyboard.press('Enter');
    await poll(() => drawer.getByTestId('calendar-workdays').locator('.cal-date-tag').count()).toBe(1);
    expect(await unlabelledInputs(page)).toEqual([]);

    // a morning period that ends before it starts: the server refuses it, the form says where, in
    // the user's language (the API words it in English)
    await drawer.getByLabel('时段 1 结束').fill('08:00');
    const refused = page.waitForResponse((r) => r.url().endsWith(`/api/v1/workflow/calendars/${CAL}`) && r.request().method() === 'PUT');
    await drawer.getByTestId('calendar-save').click();
    const problem = await refused;
    expect(problem.status()).toBe(400);
    expect(((await problem.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toContain('body.hours.0.to');
    const periodTo = drawer.getByTestId('period-0').locator('.ant-form-item').nth(1);
    await periodTo.locator('.ant-form-item-explain-error').filter({ hasText: '时段 08:30–08:00 的结束时间必须晚于开始时间' }).waitFor();
    expect(await periodTo.locator('.ant-form-item-explain-error').textContent()).not.toContain('working period');
    await drawer.getByTestId('calendar-error').getByText('请按字段旁的提示修改后再保存。').waitFor();
    await shot(page, 'calendars-field-error');
    // nothing was saved
    expect((await admin.call('GET', `/workflow/calendars/${CAL}`)).status).toBe(404);

    await drawer.getByLabel('时段 1 结束').fill('12:00');
    await poll(() => periodTo.locator('.ant-form-item-explain-error').count()).toBe(0);
    const saved = page.waitForResponse((r) => r.url().endsWith(`/api/v1/workflow/calendars/${CAL}`) && r.request().method() === 'PUT');
    await drawer.getByTestId('calendar-save').click();
    expect((await saved).status()).toBe(200);
    await page.getByText(`日历 ${CAL} 已保存`).waitFor();
    const card = page.getByTestId(`calendar-${CAL}`);
    await card.getByText('7 天', { exact: false }).waitFor();

    const stored = await admin.call<Stored>('GET', `/workflow/calendars/${CAL}`);
    expect(stored.status).toBe(200);
    expect(stored.body.definition).toMatchObject({
      label: { zh: '二厂' },
      timeZone: 'Asia/Shanghai',
      weekdays: [1, 2, 3, 4, 5],
      hours: [
        { from: '08:30', to: '12:00' },
        { from: '13:00', to: '17:30' },
      ],
      holidays: ['2026-10-01', '2026-10-02', '2026-10-03', '2026-10-04', '2026-10-05', '2026-10-06', '2026-10-07'],
      workdays: ['2026-10-10'],
    });

    // Wednesday 09-30 16:30 + 2 working hours: one hour that day, the holiday week skipped,
    // the other hour on Thursday 10-08 → 09:30 (UTC+8)
    await card.getByTestId(`preview-${CAL}`).click();
    const dialog = page.getByTestId('calendar-preview');
    await dialog.getByLabel('开始时间').fill('2026-09-30T16:30');
    await dialog.getByLabel('工作分钟数').fill('120');
    await dialog.getByTestId('preview-run').click();
    const due = dialog.getByTestId('preview-due');
    await poll(() => due.getAttribute('data-due')).toBe('2026-10-08T01:30:00.000Z');
    expect(await due.textContent()).toBe('2026-10-08 周四 09:30');
    await dialog.getByTestId('preview-result').getByText('实际经过 185 小时 0 分钟').waitFor();
    await shot(page, 'calendars-preview');
    // Friday 10-09 17:00 + 1 hour: half an hour that day, the rest on the make-up Saturday
    await dialog.getByLabel('开始时间').fill('2026-10-09T17:00');
    await dialog.getByLabel('工作分钟数').fill('60');
    await dialog.getByTestId('preview-run').click();
    await poll(() => due.getAttribute('data-due')).toBe('2026-10-10T01:00:00.000Z');
    // the plant default (no holidays) would have been due on Thursday 10-01 already
    const plainDue = await admin.call<{ due: string }>('GET', `/workflow/calendars/default/due?from=${encodeURIComponent('2026-09-30T16:30:00+08:00')}&minutes=120`);
    expect(plainDue.body.due).toBe('2026-10-01T01:30:00.000Z');
    await dialog.getByRole('button', { name: '关闭' }).click();
    await poll(() => dialog.count()).toBe(0);

    // the approval designer: the team stage of the Andon loop counts on the new calendar
    await page.goto('/builder/apps/andon');
    await page.getByTestId('app-editor').waitFor();
    await page.getByTestId('tab-flow').click();
    await page.getByTestId('node-team').locator('.flow-card-body').click();
    const nodeDrawer = page.locator('.ant-drawer-open');
    await nodeDrawer.getByTestId('node-name').waitFor();
    // the calendar is chosen only for business hours
    expect(await nodeDrawer.getByLabel('工作日历').count()).toBe(0);
    await pickOption(nodeDrawer.getByLabel('计时方式'), '工作时间 (按工厂工作日历)');
    const calendarSelect = nodeDrawer.getByLabel('工作日历');
    await nodeDrawer.getByTestId('sla-calendar').getByText('工厂默认日历').waitFor();
    await pickOption(calendarSelect, `二厂 (${CAL})`);
    expect(await unlabelledInputs(page)).toEqual([]);
    await shot(page, 'calendars-designer-sla');
    await nodeDrawer.getByRole('button', { name: '关闭' }).click();
    await nodeDrawer.waitFor({ state: 'detached' });

    // the designer's check knows the calendar (an unknown one would be a problem at the node)
    await page.getByTestId('validate').click();
    await page.getByText('定义检查通过').waitFor();
    await page.getByTestId('save-draft').click();
    await page.getByText('草稿已保存').waitFor();
    const draft = await admin.call<{ definition: { workflows: { name: string; root: Record<string, any> }[] } }>('GET', '/app-drafts/andon');
    expect(draft.status).toBe(200);
    const team = findNode(draft.body.definition.workflows.find((w) => w.name === 'exception_loop')!.root, 'team')!;
    expect(team.sla).toMatchObject({ businessHours: true, calendar: CAL });

    // back to wall-clock time: the calendar goes with it
    await page.getByTestId('node-team').locator('.flow-card-body').click();
    await nodeDrawer.getByTestId('node-name').waitFor();
    expect(await nodeDrawer.getByTestId('sla-calendar').textContent()).toContain(`二厂 (${CAL})`);
    await pickOption(nodeDrawer.getByLabel('计时方式'), '自然时间');
    await poll(() => nodeDrawer.getByLabel('工作日历').count()).toBe(0);
    await nodeDrawer.getByRole('button', { name: '关闭' }).click();
    await nodeDrawer.waitFor({ state: 'detached' });
    await page.getByTestId('save-draft').click();
    await poll(async () => {
      const d = await admin.call<{ definition: { workflows: { name: string; root: Record<string, any> }[] } }>('GET', '/app-drafts/andon');
      return findNode(d.body.definition.workflows.find((w) => w.name === 'exception_loop')!.root, 'team')!.sla;
    }).toMatchObject({ businessHours: false });
    const after = await admin.call<{ definition: { workflows: { name: string; root: Record<string, any> }[] } }>('GET', '/app-drafts/andon');
    expect(findNode(after.body.definition.workflows.find((w) => w.name === 'exception_loop')!.root, 'team')!.sla.calendar).toBeUndefined();
  });

  test('on a 390×844 phone an administrator opens it from the bottom menu and it fits; it is an administrator’s page only', async () => {
    const phone = await newContext(browser, server, PHONE);
    try {
      const p = await phone.newPage();
      onTestFailed(async () => {
        await shot(p, 'calendars-phone-failed').catch(() => undefined);
      });
      await signInUi(p, ADMIN_USERNAME, ADMIN_PASSWORD);
      // through the phone's own menu, not a typed address: the header links are hidden on a phone
      const entry = p.getByTestId('bottom-nav-calendars');
      await entry.waitFor();
      expect(await p.getByTestId('top-nav-calendars').isVisible()).toBe(false);
      expect(await entry.textContent()).toContain('工作日历');
      // the whole entry is on the screen and big enough to tap
      const box = (await entry.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
      expect(box.height).toBeGreaterThanOrEqual(44);
      await entry.click();
      await p.waitForURL('**/calendars');
      // the menu marks the page it is on once it has rendered the new route
      await expect.poll(() => entry.getAttribute('aria-current'), { timeout: 5_000 }).toBe('page');
      await p.getByTestId(`calendar-${CAL}`).waitFor();
      const page390 = await p.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
      expect(page390.innerWidth).toBe(390);
      expect(page390.scrollWidth).toBeLessThanOrEqual(page390.innerWidth);
      const list = await horizontalOverflow(p);
      expect(list.scrollWidth).toBeLessThanOrEqual(list.viewport);
      await shot(p, 'calendars-phone');
      await p.getByTestId(`edit-${CAL}`).click();
      const drawer = p.getByTestId('calendar-drawer');
      await drawer.getByLabel('时段 2 结束').waitFor();
      // slid in, it covers the whole phone screen
      const panel = p.locator('.ant-drawer-content-wrapper');
      await poll(async () => (await panel.boundingBox())?.x).toBe(0);
      expect((await panel.boundingBox())?.width).toBe(390);
      // the drawer fills the screen and its own content does not scroll sideways
      const body = drawer.locator('.ant-drawer-body');
      const widths = await body.evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
      expect(widths.scroll).toBeLessThanOrEqual(widths.client);
      const form = await horizontalOverflow(p);
      expect(form.scrollWidth).toBeLessThanOrEqual(form.viewport);
      // the form stacks: the two names one above the other, a period's two times on one line
      const zhName = (await drawer.getByLabel('中文名称').boundingBox())!;
      const enName = (await drawer.getByLabel('英文名称').boundingBox())!;
      expect(enName.y).toBeGreaterThan(zhName.y + zhName.height);
      expect(enName.x + enName.width).toBeLessThanOrEqual(390);
      await shot(p, 'calendars-phone-edit');
    } finally {
      await phone.close();
    }

    // an operator has no menu entry, and the page says why instead of showing calendars
    const other = await newContext(browser, server, { viewport: { width: 1280, height: 900 } });
    try {
      const p = await other.newPage();
      await signInUi(p, 'wang.operator', DEMO_PASSWORD);
      await p.getByTestId('top-nav-apps').waitFor();
      expect(await p.getByTestId('top-nav-calendars').count()).toBe(0);
      expect(await p.getByTestId('bottom-nav-calendars').count()).toBe(0);
      await p.goto('/calendars');
      await p.getByText('只有管理员可以管理工作日历。').waitFor();
      expect(await p.getByTestId('calendars-page').count()).toBe(0);
    } finally {
      await other.close();
    }
  });
});
