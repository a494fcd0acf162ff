// An approver changes a field from the task page (real browser, real server, demo plant): the
// step marks `qty` and `lot` editable and `remark` hidden. The operator submits an inspection
// with a photo; the team lead — who may not read the record through the entity's rights (own
// rows only) — sees the photo on the task page (file access through the approval), does not see
// the hidden field, gets the server's refusal of a duplicate lot number on the field itself,
// fixes it and approves; the record then holds the new values.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { ADMIN_PASSWORD, ADMIN_USERNAME, apiSession, DEMO_PASSWORD, horizontalOverflow, launchBrowser, newContext, PHONE, screenshot, signInUi, startServer, type ApiSession, type TrellisServer } from './helpers.ts';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');
const L = (zh: string, en: string) => ({ zh, en });

const APP = {
  name: 'te',
  label: L('来料检验', 'Incoming inspection'),
  entities: [
    {
      name: 'inspection',
      label: L('检验单', 'Inspection'),
      submittable: true,
      titleField: 'title',
      fields: [
        { name: 'title', type: 'text', label: L('物料', 'Material'), required: true },
        { name: 'qty', type: 'integer', label: L('抽检数量', 'Sample size'), min: 1, max: 500 },
        { name: 'lot', type: 'text', label: L('批号', 'Lot'), unique: true },
        { name: 'remark', type: 'text', label: L('内部备注', 'Internal remark') },
        { name: 'photo', type: 'image', label: L('现场照片', 'Photo') },
      ],
      permissions: [
        { role: 'operator', actions: ['read', 'create', 'write', 'submit'] },
        // team leads read only the rows they own: this document reaches them through the approval
        { role: 'team_lead', actions: ['read'], scope: 'own' },
      ],
    },
  ],
  workflows: [
    {
      name: 'inspection_approval',
      entity: 'inspection',
      label: L('检验审批', 'Inspection approval'),
      root: {
        id: 'start',
        type: 'initiator',
        next: {
          id: 'lead',
          type: 'approver',
          name: L('班组长复核', 'Team lead review'),
          approvers: [{ kind: 'users', users: ['li.teamlead'] }],
          fields: { qty: 'editable', lot: 'editable', remark: 'hidden' },
        },
      },
    },
  ],
};

const poll = <T,>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000, interval: 150 });

let server: TrellisServer;
let browser: Browser;
let op: ApiSession;

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer({ demo: true }), launchBrowser()]);
  const admin = await apiSession(server, ADMIN_USERNAME, ADMIN_PASSWORD);
  const pub = await admin.call('POST', '/apps/publish', { definition: APP });
  expect(pub.status, JSON.stringify(pub.body)).toBe(200);
  op = await apiSession(server, 'wang.operator', DEMO_PASSWORD);
  // another inspection already has lot L-0001: the unique lot number is refused by the server
  const other = await op.call('POST', '/apps/te/entities/inspection/records', { values: { title: '垫片', lot: 'L-0001' } });
  expect(other.status, JSON.stringify(other.body)).toBe(201);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('approver edits fields from the task page', () => {
  let recordPath = '';

  test('operator submits an inspection with a photo', async () => {
    const context = await newContext(browser, server, PHONE);
    const page = await context.newPage();
    try {
      await signInUi(page, 'wang.operator', DEMO_PASSWORD);
      await page.goto('/a/te/inspection/new');
      await page.getByLabel('物料', { exact: true }).fill('法兰盘');
      await page.getByLabel('抽检数量', { exact: true }).fill('5');
      await page.getByLabel('批号', { exact: true }).fill('L-0002');
      await page.getByLabel('内部备注', { exact: true }).fill('供应商第二次送检');
      await page.getByLabel('现场照片: 拍照/选择图片').setInputFiles({ name: 'flange.png', mimeType: 'image/png', buffer: PNG });
      await page.locator('img.file-thumb').waitFor();
      await page.getByTestId('record-submit').click();
      await page.waitForURL(/\/a\/te\/inspection\/[0-9a-f-]{36}$/);
      await page.getByText('已提交审批').first().waitFor();
      recordPath = new URL(page.url()).pathname;
    } finally {
      await context.close();
    }
  });

  test('team lead changes the editable fields on approve; 422-style refusals land on the field', async () => {
    expect(recordPath).not.toBe('');
    const context = await newContext(browser, server, PHONE);
    const page = await context.newPage();
    try {
      await signInUi(page, 'li.teamlead', DEMO_PASSWORD);
      await page.goto('/inbox/todo');
      await page.getByTestId('inbox-item').first().locator('a').click();
      await page.waitForURL('**/tasks/*');
      await page.getByText('本步骤可以修改带输入框的字段').waitFor();

      // editable: inputs with the document's values; read-only: shown; hidden: absent
      await poll(() => page.getByLabel('抽检数量', { exact: true }).inputValue()).toBe('5');
      expect(await page.getByLabel('批号', { exact: true }).inputValue()).toBe('L-0002');
      await page.getByText('法兰盘', { exact: true }).first().waitFor();
      expect(await page.getByLabel('物料', { exact: true }).count()).toBe(0);
      expect(await page.getByText('内部备注').count()).toBe(0);
      // the photo loads for the approver (the file is served through the approval)
      const img = page.locator('.task-document img.file-thumb');
      await img.waitFor();
      await poll(() => img.evaluate((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth)).toBe(1);

      // then the server: a lot number another inspection has is refused, on the field
      await page.getByLabel('抽检数量', { exact: true }).fill('8');
      await page.getByLabel('批号', { exact: true }).fill('L-0001');
      await page.getByTestId('task-approve').click();
      const dialog = page.getByRole('dialog');
      await dialog.getByLabel('审批意见').fill('抽检数量改为 8');
      await page.locator('#task-confirm').click();
      await dialog.waitFor({ state: 'hidden' });
      const lotItem = page.locator('.ant-form-item', { has: page.getByLabel('批号', { exact: true }) });
      await poll(() => lotItem.locator('.ant-form-item-explain-error').textContent()).toContain('unique');
      await page.getByRole('alert').first().waitFor();
      await screenshot(page, 'task-edit-refused', { fullPage: true });
      expect(page.url()).toContain('/tasks/');

      await page.getByLabel('批号', { exact: true }).fill('L-0002A');
      await poll(() => lotItem.locator('.ant-form-item-explain-error').count()).toBe(0);
      await screenshot(page, 'task-edit-phone', { fullPage: true });
      expect((await horizontalOverflow(page)).scrollWidth).toBeLessThanOrEqual(390);
      await page.getByTestId('task-approve').click();
      await dialog.getByLabel('审批意见').fill('抽检数量改为 8，批号更正');
      await page.locator('#task-confirm').click();
      await page.waitForURL('**/inbox/todo');
    } finally {
      await context.close();
    }
  });

  test('the record holds the approver’s values, submitted', async () => {
    const id = recordPath.split('/').pop()!;
    const r = await op.call<{ status: string; values: Record<string, unknown> }>('GET', `/apps/te/entities/inspection/records/${id}`);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('submitted');
    expect(r.body.values).toMatchObject({ qty: 8, lot: 'L-0002A', remark: '供应商第二次送检', title: '法兰盘' });

    const context = await newContext(browser, server, PHONE);
    const page = await context.newPage();
    try {
      await signInUi(page, 'wang.operator', DEMO_PASSWORD);
      await page.goto(recordPath);
      await poll(() => page.getByLabel('抽检数量', { exact: true }).inputValue()).toBe('8');
      expect(await page.getByLabel('批号', { exact: true }).inputValue()).toBe('L-0002A');
      await page.locator('img.file-thumb').waitFor();
      await screenshot(page, 'task-edit-record-after', { fullPage: true });
    } finally {
      await context.close();
    }
  });
});
