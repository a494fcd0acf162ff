// The runtime and the inbox in a real browser against a real server (demo plant): an operator
// fills an expense claim with many field types on a 390×844 phone (photo, signature pad) and
// submits it into a two-step approval; the team lead approves from the phone inbox; the director
// approves with the e-signature dialog; the operator sees the document submitted and the trail.
// Also: the list view with a filter and a saved view, labelled inputs, keyboard-operable dialogs.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
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
  screenshot,
  signInUi,
  startServer,
  unlabelledInputs,
  type TrellisServer,
} from './helpers.ts';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');
const L = (zh: string, en: string) => ({ zh, en });

const APP = {
  name: 'e2e',
  label: L('费用报销', 'Expenses'),
  entities: [
    {
      name: 'expense_line',
      label: L('费用明细', 'Expense line'),
      child: true,
      fields: [
        { name: 'item', type: 'text', label: L('项目', 'Item'), required: true },
        { name: 'cost', type: 'decimal', label: L('金额', 'Cost'), scale: 2 },
      ],
    },
    {
      name: 'expense',
      label: L('报销单', 'Expense claim'),
      submittable: true,
      namingSeries: 'EX-{YYYY}-{####}',
      titleField: 'title',
      fields: [
        { name: 'title', type: 'text', label: L('事由', 'Purpose'), required: true, searchable: true },
        { name: 'amount', type: 'money', label: L('金额', 'Amount'), required: true, min: '0.01', filterable: true },
        { name: 'category', type: 'select', label: L('类别', 'Category'), required: true, options: [
          { value: 'travel', label: L('差旅', 'Travel') },
          { value: 'tooling', label: L('工装', 'Tooling') },
          { value: 'other', label: L('其他', 'Other') },
        ] },
        { name: 'note', type: 'long_text', label: L('说明', 'Details'), visibleIf: { field: 'category', op: 'eq', value: 'other' }, requiredIf: { field: 'category', op: 'eq', value: 'other' } },
        { name: 'spent_on', type: 'date', label: L('日期', 'Date'), default: { $ctx: 'today' } },
        { name: 'urgent', type: 'boolean', label: L('加急', 'Urgent') },
        { name: 'qty', type: 'integer', label: L('件数', 'Pieces'), min: 1, max: 99 },
        { name: 'hours', type: 'duration', label: L('工时', 'Hours') },
        { name: 'requester', type: 'user', label: L('申请人', 'Requester'), default: { $ctx: 'user' } },
        { name: 'dept', type: 'department', label: L('部门', 'Department'), default: { $ctx: 'user_departments' } },
        { name: 'lines', type: 'child_table', label: L('明细', 'Lines'), target: 'expense_line' },
        { name: 'photos', type: 'image', label: L('票据照片', 'Receipt photos') },
        { name: 'sign', type: 'signature', label: L('申请人签名', 'Signature') },
        { name: 'code', type: 'qr_code', label: L('二维码', 'QR code') },
        { name: 'total', type: 'formula', label: L('含税', 'With tax'), formula: 'amount * 1.13', resultType: 'money' },
      ],
      permissions: [{ role: '*', actions: ['read', 'create', 'write', 'submit', 'cancel', 'delete', 'export', 'import'] }],
      listView: { columns: ['title', 'amount', 'category', 'spent_on'] },
    },
  ],
  workflows: [
    {
      name: 'expense_approval',
      entity: 'expense',
      label: L('报销审批', 'Expense approval'),
      root: {
        id: 'start',
        type: 'initiator',
        next: {
          id: 'lead',
          type: 'approver',
          name: L('班组长审批', 'Team lead'),
          approvers: [{ kind: 'users', users: ['li.teamlead'] }],
          next: {
            id: 'by_amount',
            type: 'condition',
            branches: [
              { id: 'big', when: { field: 'amount', op: 'gt', value: '5000' }, next: { id: 'director', type: 'approver', name: L('车间主任审批', 'Director'), signature: true, approvers: [{ kind: 'users', users: ['zhao.director'] }] } },
              { id: 'normal', default: true },
            ],
          },
        },
      },
    },
  ],
};

/** Waits for a value in the page (the machine may be busy: vitest's default of 1 s is too short). */
const poll = <T,>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000, interval: 150 });

let server: TrellisServer;
let browser: Browser;
let recordPath = '';

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer({ demo: true }), launchBrowser()]);
  const admin = await apiSession(server, ADMIN_USERNAME, ADMIN_PASSWORD);
  const pub = await admin.call('POST', '/apps/publish', { definition: APP });
  expect(pub.status, JSON.stringify(pub.body)).toBe(200);
  // a few drafts so the list has something to show
  const op = await apiSession(server, 'wang.operator', DEMO_PASSWORD);
  for (const [title, amount, category] of [['刀具采购', '1280.00', 'tooling'], ['出差上海', '3560.40', 'travel'], ['夹具维修', '460.00', 'tooling']] as const) {
    const r = await op.call('POST', '/apps/e2e/entities/expense/records', { values: { title, amount, category } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function phone(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await newContext(browser, server, PHONE);
  return { context, page: await context.newPage() };
}

async function pickOption(page: Page, fieldLabel: string, option: string): Promise<void> {
  await page.getByLabel(fieldLabel, { exact: true }).click();
  await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: option }).first().click();
}

describe('runtime on a phone, inbox, approval trail', () => {
  test('operator creates and submits a claim on a 390×844 phone', async () => {
    const { context, page } = await phone();
    try {
      await signInUi(page, 'wang.operator', DEMO_PASSWORD);
      await page.getByTestId('entity-e2e-expense').click();
      await page.waitForURL('**/a/e2e/expense');
      await page.getByTestId('list-new').click();
      await page.waitForURL('**/a/e2e/expense/new');
      await page.getByLabel('事由', { exact: true }).waitFor();
      expect(await unlabelledInputs(page)).toEqual([]);

      // required fields are checked before anything is sent
      await page.getByTestId('record-submit').click();
      await poll(() => page.getByText('请填写此项').count()).toBeGreaterThan(0);

      await page.getByLabel('事由', { exact: true }).fill('首件检验工装');
      await page.getByLabel('金额', { exact: true }).fill('6800.50');
      await pickOption(page, '类别', '其他');
      // visible-if: the details field appears for "other" and is then required
      await page.getByLabel('说明', { exact: true }).fill('三坐标测量夹具');
      await page.getByLabel('件数', { exact: true }).fill('2');
      await page.getByLabel('工时', { exact: true }).fill('1:30');
      await page.getByLabel('二维码', { exact: true }).fill('EQ-0042');
      await page.getByRole('button', { name: '添加一行' }).click();
      await page.getByLabel('项目', { exact: true }).fill('V 型块');
      await page.getByLabel('金额', { exact: true }).nth(1).fill('120.5');
      await page.getByLabel('票据照片: 拍照/选择图片').setInputFiles({ name: 'receipt.png', mimeType: 'image/png', buffer: PNG });
      await page.locator('img.file-thumb').waitFor();
      expect(await page.getByLabel('票据照片: 拍照/选择图片').getAttribute('capture')).toBe('environment');

      // signature pad: draw a stroke with the finger (pointer events), then use it
      await page.getByRole('button', { name: '签名' }).click();
      const pad = page.getByRole('img', { name: '请在此处签名' });
      await pad.waitFor();
      const box = (await pad.boundingBox())!;
      await page.mouse.move(box.x + 30, box.y + 60);
      await page.mouse.down();
      for (let i = 1; i <= 10; i++) await page.mouse.move(box.x + 30 + i * 20, box.y + 60 + (i % 2) * 40);
      await page.mouse.up();
      await page.getByRole('button', { name: '确定' }).click();
      await page.locator('img.signature-image').waitFor();
      await poll(() => page.getByText('请填写此项').count()).toBe(0);
      await screenshot(page, 'form-phone-full');
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot(page, 'form-phone', { fullPage: false });
      expect((await horizontalOverflow(page)).scrollWidth).toBeLessThanOrEqual(390);

      await page.getByTestId('record-submit').click();
      await page.waitForURL(/\/a\/e2e\/expense\/[0-9a-f-]{36}$/);
      await page.getByText('已提交审批').first().waitFor();
      recordPath = new URL(page.url()).pathname;
      await poll(() => page.getByTestId('record-title').textContent()).toMatch(/^EX-\d{4}-0004$/);
      await page.getByRole('tab', { name: '审批记录' }).click();
      await page.getByTestId('approval-trail').getByText('发起审批').waitFor();
      await screenshot(page, 'record-phone-in-approval');
    } finally {
      await context.close();
    }
  });

  test('team lead approves from the phone inbox (unread count in the menu)', async () => {
    expect(recordPath).not.toBe('');
    const { context, page } = await phone();
    try {
      await signInUi(page, 'li.teamlead', DEMO_PASSWORD);
      await poll(() => page.getByTestId('bottom-nav-inbox').textContent()).toContain('1');
      await page.getByTestId('bottom-nav-inbox').click();
      await page.getByTestId('inbox-item').first().waitFor();
      expect(await page.getByTestId('inbox-item').first().textContent()).toContain('报销单');
      await screenshot(page, 'inbox-phone', { fullPage: false });
      await page.getByTestId('inbox-item').first().locator('a').click();
      await page.waitForURL('**/tasks/*');
      await page.getByText('首件检验工装', { exact: true }).first().waitFor();

      // the dialog is keyboard-operable: opens with Enter, focus moves into it, Escape closes it
      await page.getByTestId('task-approve').focus();
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      await poll(() => page.evaluate(() => Boolean(document.activeElement?.closest('.ant-modal')))).toBe(true);
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });

      await page.getByTestId('task-approve').click();
      await dialog.getByLabel('审批意见').fill('同意，尽快安排');
      expect(await unlabelledInputs(page)).toEqual([]);
      await page.locator('#task-confirm').click();
      await page.waitForURL('**/inbox/todo');
      await page.getByText('这里没有事项').waitFor();
    } finally {
      await context.close();
    }
  });

  test('director approves with the e-signature dialog; the initiator sees the trail', async () => {
    const context = await newContext(browser, server);
    try {
      const page = await context.newPage();
      await signInUi(page, 'zhao.director', DEMO_PASSWORD);
      await page.goto('/inbox/todo');
      await page.getByTestId('inbox-item').first().locator('a').click();
      await page.waitForURL('**/tasks/*');
      await page.getByTestId('task-approve').click();
      const dialog = page.getByRole('dialog');
      await dialog.getByText('电子签名确认').waitFor();
      await dialog.getByLabel('审批意见').fill('金额核实无误');
      // a wrong password is refused on the dialog, nothing is decided
      await dialog.getByLabel('登录密码').fill('wrong-password');
      await page.locator('#task-confirm').click();
      await dialog.getByRole('alert').filter({ hasText: /password|密码/i }).and(dialog.locator('.ant-alert-error')).waitFor();
      await screenshot(page, 'task-signature-dialog');
      await dialog.getByLabel('登录密码').fill(DEMO_PASSWORD);
      await page.locator('#task-confirm').click();
      await page.waitForURL('**/inbox/todo');

      const op = await newContext(browser, server, PHONE);
      try {
        const p = await op.newPage();
        await signInUi(p, 'wang.operator', DEMO_PASSWORD);
        await p.goto(recordPath);
        await p.getByText('已提交', { exact: true }).first().waitFor();
        await p.getByRole('tab', { name: '审批记录' }).click();
        const trail = p.getByTestId('approval-trail');
        await trail.getByText('同意，尽快安排').waitFor();
        await trail.getByText('金额核实无误').waitFor();
        await trail.getByText('已电子签名').waitFor();
        expect(await trail.textContent()).toContain('李娜');
        expect(await trail.textContent()).toContain('赵刚');
        await screenshot(p, 'trail-phone', { fullPage: false });
        await p.getByRole('tab', { name: '变更历史' }).click();
        await p.getByText('创建', { exact: true }).first().waitFor();
      } finally {
        await op.close();
      }
    } finally {
      await context.close();
    }
  });

  test('return to the initiator (choosing the step), the record is editable again, resubmit', async () => {
    const op = await apiSession(server, 'wang.operator', DEMO_PASSWORD);
    const c = await op.call<{ id: string; version: number }>('POST', '/apps/e2e/entities/expense/records', { values: { title: '劳保用品', amount: '320.00', category: 'other', note: '手套' } });
    expect(c.status).toBe(201);
    expect((await op.call('POST', `/apps/e2e/entities/expense/records/${c.body.id}/submit`, { version: c.body.version })).status).toBe(202);

    const lead = await newContext(browser, server, PHONE);
    try {
      const page = await lead.newPage();
      await signInUi(page, 'li.teamlead', DEMO_PASSWORD);
      await page.goto('/inbox/todo');
      await page.getByTestId('inbox-item').first().locator('a').click();
      await page.getByRole('button', { name: '退回', exact: true }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('radio', { name: '发起人' }).check();
      await dialog.getByLabel('审批意见').fill('请补充发票');
      await page.locator('#task-confirm').click();
      await page.waitForURL('**/inbox/todo');
    } finally {
      await lead.close();
    }

    const mine = await newContext(browser, server, PHONE);
    try {
      const page = await mine.newPage();
      await signInUi(page, 'wang.operator', DEMO_PASSWORD);
      // while it is back with the initiator the document can be changed
      await page.goto(`/a/e2e/expense/${c.body.id}`);
      await page.getByLabel('事由', { exact: true }).fill('劳保用品（附发票）');
      await page.getByTestId('record-save').click();
      await page.getByText('已保存').first().waitFor();
      await page.goto('/inbox/todo');
      await page.getByTestId('inbox-item').first().locator('a').click();
      await page.getByText('单据已退回给你').waitFor();
      await page.getByRole('button', { name: '重新提交' }).click();
      await page.waitForURL('**/inbox/todo');
    } finally {
      await mine.close();
    }
    const leadApi = await apiSession(server, 'li.teamlead', DEMO_PASSWORD);
    const todo = await leadApi.call<{ items: Array<{ title: string }> }>('GET', '/workflow/inbox/todo');
    expect(todo.body.items).toHaveLength(1);
    const rec = await op.call<{ values: { title: string } }>('GET', `/apps/e2e/entities/expense/records/${c.body.id}`);
    expect(rec.body.values.title).toBe('劳保用品（附发票）');
  });

  test('list view: search, filter from the fields, saved view; phone cards without sideways scrolling', async () => {
    const context = await newContext(browser, server, { viewport: { width: 1280, height: 860 } });
    try {
      const page = await context.newPage();
      await signInUi(page, 'wang.operator', DEMO_PASSWORD);
      await page.goto('/a/e2e/expense');
      await page.locator('.plain-row').nth(3).waitFor();
      await screenshot(page, 'list');
      expect(await unlabelledInputs(page)).toEqual([]);

      await page.getByRole('button', { name: /筛选/ }).click();
      await page.getByRole('button', { name: '添加条件' }).click();
      await page.getByLabel('字段 1').click();
      await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: '类别' }).first().click();
      await page.getByLabel('值 1').click();
      await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: '工装' }).first().click();
      await page.getByTestId('filter-apply').click();
      await poll(() => page.locator('.plain-row').count()).toBe(2);

      await page.getByRole('button', { name: '更多' }).click();
      await page.getByText('保存视图').click();
      await page.getByLabel('视图名称').fill('工装费用');
      await page.getByTestId('view-save').click();
      await page.getByText('视图已保存').waitFor();

      // the saved view lives on the server: a phone session of the same person sees it
      const p = await (await newContext(browser, server, PHONE)).newPage();
      await signInUi(p, 'wang.operator', DEMO_PASSWORD);
      await p.goto('/a/e2e/expense');
      await p.locator('.record-card-item').first().waitFor();
      await poll(() => p.getByLabel('视图').locator('option').count()).toBe(2);
      await p.getByLabel('视图').selectOption({ label: '工装费用' });
      await poll(() => p.locator('.record-card-item').count()).toBe(2);
      await p.getByLabel('搜索').fill('刀具');
      await p.getByLabel('搜索').press('Enter');
      await poll(() => p.locator('.record-card-item').count()).toBe(1);
      expect((await horizontalOverflow(p)).scrollWidth).toBeLessThanOrEqual(390);
      await screenshot(p, 'list-phone');
      await p.context().close();
    } finally {
      await context.close();
    }
  });

  test('scan page: a typed record address opens the record; other codes are refused', async () => {
    const { context, page } = await phone();
    try {
      await signInUi(page, 'wang.operator', DEMO_PASSWORD);
      await page.getByTestId('bottom-nav-scan').click();
      await page.getByLabel('或手动输入二维码内容').fill('https://evil.example/phish');
      await page.getByRole('button', { name: '打开', exact: true }).click();
      await page.getByText(/无法识别的二维码/).waitFor();
      await screenshot(page, 'scan-phone');
      await page.getByLabel('或手动输入二维码内容').fill(`${server.url}${recordPath}`);
      await page.getByRole('button', { name: '打开', exact: true }).click();
      await page.waitForURL(`**${recordPath}`);
      await poll(() => page.getByTestId('record-title').textContent()).toMatch(/^EX-\d{4}-0004$/);
      expect(await page.getByLabel('事由', { exact: true }).inputValue()).toBe('首件检验工装');
    } finally {
      await context.close();
    }
  });
});
