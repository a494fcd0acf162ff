// The designers in a real browser against a real server (demo plant seeded, so roles such as
// cfo exist): build an entity with five field types by clicking and dragging, see a server
// problem on the offending field, publish (the table and the records API work), confirm a
// destructive change explicitly, then draw a two-level approval with an amount condition
// (amount > 50000 → CFO), see a node problem on the node, and publish it as a new version; a
// node naming a calendar that does not exist is refused at the publish preview, said in Chinese.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, onTestFailed, test } from 'vitest';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { ADMIN_PASSWORD, ADMIN_USERNAME, apiSession, dragTo, launchBrowser, newContext, pickOption, repoRoot, signInUi, startServer, unlabelledInputs, type ApiSession, type TrellisServer } from './helpers.ts';

const OUT = path.join(repoRoot, 'test-output/e2e');
const APP = 'e2e_purchase';
/** Each test is a whole design session: give a busy two-core machine room. */
const SESSION_MS = 180_000;

let server: TrellisServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let admin: ApiSession;

async function shot(name: string, target: Page | Locator = page): Promise<string> {
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, `${name}.png`);
  // The viewport, not the full page: the shell's sticky header would be painted mid-page.
  await target.screenshot({ path: file });
  return file;
}

const pick = (select: Locator, text: string | RegExp) => pickOption(select, text);
const drag = (from: Locator, to: Locator) => dragTo(page, from, to);

/** Closes the open drawer from the keyboard: focus its name input, press Escape. */
async function closeWithEscape(): Promise<void> {
  const drawer = page.locator('.ant-drawer-open');
  await drawer.getByTestId('node-name').focus();
  await expect
    .poll(async () => {
      if ((await drawer.count()) > 0) await page.keyboard.press('Escape');
      return drawer.count();
    })
    .toBe(0);
}

async function setProps(name: string, zh: string, en?: string): Promise<void> {
  const panel = page.getByTestId('field-panel');
  await panel.getByTestId('prop-name').fill(name);
  await panel.getByTestId('prop-label-zh').fill(zh);
  if (en) await panel.getByTestId('prop-label-en').fill(en);
  await page.getByTestId(`field-card-${name}`).waitFor();
}

beforeAll(async () => {
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
});

describe('app builder', () => {
  beforeEach(() => {
    onTestFailed(async ({ task }) => {
      await shot(`failed-${task.name.slice(0, 40)}`).catch(() => undefined);
    });
  });

  test('builds an entity with five field types by click and drag, shows server problems on the field, publishes, confirms a destructive change', async () => {
    await page.getByTestId('top-nav-builder').click();
    await page.waitForURL('**/builder');
    await page.getByTestId('builder-apps').waitFor();

    // A new app starts as a server-side draft.
    await page.getByTestId('app-create').click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('应用标识').fill(APP);
    await dialog.getByLabel('中文名称', { exact: true }).fill('采购申请');
    await dialog.getByLabel('英文名称', { exact: true }).fill('Purchase request');
    await dialog.getByLabel('第一个实体 (单据类型) 标识').fill('request');
    await dialog.getByLabel('实体中文名称').fill('采购单');
    await dialog.getByRole('button', { name: '确定' }).click();
    await page.waitForURL(`**/builder/apps/${APP}`);
    await page.getByTestId('field-card-title').waitFor();

    // Click-to-add (keyboard friendly) for three types ...
    await page.getByTestId('palette-integer').click();
    await setProps('qty', '数量', 'Quantity');
    await page.getByTestId('palette-money').click();
    // A name another field has is refused while typing; the field keeps its name.
    await page.getByTestId('field-panel').getByTestId('prop-name').fill('qty');
    await page.getByTestId('field-panel').getByText('已有同名字段').waitFor();
    await page.getByTestId('field-card-money_1').waitFor();
    await setProps('amount', '金额', 'Amount');
    await page.getByTestId('field-panel').getByTestId('prop-required').click();
    await page.getByTestId('palette-select').click();
    await setProps('category', '类别', 'Category');
    // ... and drag and drop from the palette onto the section for the fifth.
    const before = await page.locator('[data-testid^="field-card-"]').count();
    await drag(page.getByTestId('palette-date'), page.getByTestId('group-main'));
    await expect.poll(() => page.locator('[data-testid^="field-card-"]').count()).toBe(before + 1);
    await page.getByTestId('field-card-date_1').waitFor();
    await setProps('need_date', '需求日期', 'Needed by');

    // Required-if built from fields without code: needed by is required when amount > 10000.
    await page.getByTestId('field-panel').getByText('显示条件 / 必填条件').click();
    await page.getByTestId('required-if-add').click();
    await pick(page.getByTestId('required-if-field-0'), '金额');
    await pick(page.getByTestId('required-if-op-0'), '大于');
    await page.getByLabel('比较值 1').fill('10000');

    // A second step of a multi-stage form, and the phone preview.
    await pick(page.getByTestId('layout-kind'), '分步');
    await page.getByTestId('add-group').click();
    await drag(page.getByTestId('field-card-category').locator('.drag-handle'), page.getByTestId('group-group_1'));
    await page.getByTestId('group-group_1').getByTestId('field-card-category').waitFor();
    // a click that lands while the drop animation still runs can be swallowed: click until the tab shows
    await expect
      .poll(async () => {
        await page.getByTestId('panel-tab-preview').click();
        return page.getByTestId('form-preview').count();
      })
      .toBeGreaterThan(0);
    await page.getByTestId('form-preview').getByText('手机').click();
    await page.getByTestId('preview-phone').waitFor();
    // The preview is live: the step's fields are there, and required-if follows the typed amount.
    const preview = page.getByTestId('preview-phone');
    await preview.getByLabel('金额').fill('20000');
    await expect.poll(() => preview.locator('label[for="preview-request-need_date"]').getAttribute('class')).toContain('required');
    expect(await unlabelledInputs(page)).toEqual([]);
    await shot('designer-form');
    await page.getByTestId('field-card-need_date').locator('.field-card-body').click();
    await page.getByTestId('field-panel').waitFor();
    expect(await unlabelledInputs(page)).toEqual([]);
    await shot('designer-form-properties');

    // A broken pattern is refused by the server and shown on the offending field.
    await page.getByTestId('field-card-title').locator('.field-card-body').click();
    await page.getByTestId('field-panel').getByLabel('格式 (正则表达式)').fill('([a-z');
    const checked = page.waitForResponse((r) => r.url().endsWith('/api/v1/apps/validate'));
    await page.getByTestId('validate').click();
    const problem = (await (await checked).json()) as { errors: { path: string; message: string }[] };
    expect(problem.errors.map((e) => e.path)).toContain('entities.request.fields.title.pattern');
    await expect.poll(() => page.getByTestId('field-card-title').getAttribute('class')).toContain('has-error');
    await page.getByTestId('field-panel').getByText('is not a valid regular expression', { exact: false }).waitFor();
    await shot('designer-field-error');
    await page.getByTestId('field-panel').getByLabel('格式 (正则表达式)').fill('');

    // The draft survives a reload.
    await page.getByTestId('save-draft').click();
    await page.getByText('草稿已保存').waitFor();
    await page.reload();
    await page.getByTestId('field-card-need_date').waitFor();

    // Naming series, permissions (role × action × scope, field rights) and the list view.
    await page.getByTestId('tab-settings').click();
    await page.getByTestId('settings-naming').fill('pr-{YYYY}-{####}');
    await page.getByTestId('entity-settings').getByText(/示例：PR-\d{4}-0001/).waitFor();
    expect(await unlabelledInputs(page)).toEqual([]);
    await page.getByRole('tab', { name: '权限' }).click();
    await pick(page.getByTestId('perm-role-select'), '(employee)');
    await page.getByTestId('perm-add-role').click();
    await page.getByLabel('employee：新建').check();
    await page.getByLabel('employee：导出').check();
    await pick(page.getByLabel('数据范围 employee'), '本人的');
    await page.getByTestId('perm-editor').locator('tr[data-row-key="employee"] .ant-table-row-expand-icon').click();
    await pick(page.getByLabel('字段权限 employee amount'), '只读');
    expect(await unlabelledInputs(page)).toEqual([]);
    await shot('designer-permissions');
    await page.getByRole('tab', { name: '列表视图' }).click();
    const columns = page.getByLabel('列表显示的列 (按顺序)');
    await pick(columns, '标题 (title)');
    await pick(columns, '金额 (amount)');
    await page.keyboard.press('Escape');
    await pick(page.getByLabel('默认排序字段'), '金额 (amount)');
    expect(await unlabelledInputs(page)).toEqual([]);
    await page.getByRole('tab', { name: '表单设计' }).click();

    // Publish: the schema change is shown first.
    await page.getByTestId('publish').click();
    const publishDialog = page.getByRole('dialog', { name: '发布应用' });
    await publishDialog.getByTestId('publish-changes').waitFor();
    expect(await publishDialog.getByTestId('publish-changes').textContent()).toContain('add_entity');
    await shot('designer-publish-preview');
    const published = page.waitForResponse((r) => r.url().endsWith('/api/v1/apps/publish'));
    await publishDialog.getByTestId('publish-confirm').click();
    expect((await published).status()).toBe(200);
    await page.getByText('已发布版本 1').waitFor();

    const def = await admin.call<{ version: number; definition: { entities: { name: string; fields: { name: string; type: string; requiredIf?: unknown }[]; layout?: { kind: string; groups: { fields: string[] }[] } }[] } }>(
      'GET',
      `/apps/${APP}`,
    );
    expect(def.status).toBe(200);
    expect(def.body.version).toBe(1);
    const request = def.body.definition.entities[0]!;
    expect(request.fields.map((f) => [f.name, f.type])).toEqual([
      ['title', 'text'],
      ['qty', 'integer'],
      ['amount', 'money'],
      ['category', 'select'],
      ['need_date', 'date'],
    ]);
    expect(request.fields.find((f) => f.name === 'need_date')!.requiredIf).toEqual({ field: 'amount', op: 'gt', value: '10000' });
    expect(request.layout?.kind).toBe('steps');
    expect(request.layout?.groups[1]?.fields).toEqual(['category']);
    expect(request).toMatchObject({
      namingSeries: 'PR-{YYYY}-{####}',
      listView: { columns: ['title', 'amount'], sort: { field: 'amount', dir: 'desc' } },
      permissions: [
        { role: '*', actions: ['read', 'create', 'write'] },
        { role: 'employee', actions: ['read', 'create', 'export'], scope: 'own', fields: { amount: 'read' } },
      ],
    });
    // The draft is gone after publishing.
    expect((await admin.call('GET', `/app-drafts/${APP}`)).status).toBe(404);

    // The table is real: create and list a record through the records API.
    const created = await admin.call<{ id: string; values?: Record<string, unknown> }>('POST', `/apps/${APP}/entities/request/records`, {
      values: { title: '刀具采购', qty: 12, amount: '86000.50', category: 'a', need_date: '2026-12-01' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(JSON.stringify(created.body)).toMatch(/"PR-\d{4}-0001"/);
    const list = await admin.call<{ items: Record<string, unknown>[] }>('GET', `/apps/${APP}/entities/request/records`);
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body.items)).toContain('86000.50');
    // Required-if is enforced at run time: a big amount without a date is refused.
    const refused = await admin.call('POST', `/apps/${APP}/entities/request/records`, { values: { title: '无日期', amount: '20000' } });
    expect(refused.status).toBe(400);

    // Removing a field with data is destructive: publishing needs an explicit confirmation.
    await page.getByTestId('field-card-qty').locator('.field-card-body').click();
    await page.getByTestId('prop-delete').click();
    await page.getByTestId('publish').click();
    await publishDialog.getByTestId('confirm-destructive').waitFor();
    expect(await publishDialog.getByTestId('publish-changes').textContent()).toContain('drop_field');
    expect(await publishDialog.getByTestId('publish-confirm').isDisabled()).toBe(true);
    await shot('designer-destructive');
    await publishDialog.getByTestId('confirm-destructive').click();
    expect(await publishDialog.getByTestId('publish-confirm').isDisabled()).toBe(false);
    await publishDialog.getByTestId('publish-confirm').click();
    await page.getByText('已发布版本 2').waitFor();
    const v2 = await admin.call<{ version: number; definition: { entities: { fields: { name: string }[] }[] } }>('GET', `/apps/${APP}`);
    expect(v2.body.version).toBe(2);
    expect(v2.body.definition.entities[0]!.fields.map((f) => f.name)).not.toContain('qty');
  }, SESSION_MS);

  test('designs a two-level approval with an amount condition (> 50000 → CFO), shows a node problem on the node, publishes a new version', async () => {
    await page.getByTestId('tab-flow').click();
    await page.getByTestId('flow-create').click();
    const dialog = page.getByRole('dialog', { name: '新建审批流程' });
    await dialog.getByLabel('流程名称').fill('采购审批');
    await dialog.getByRole('button', { name: '确定' }).click();
    await page.getByTestId('node-start').waitFor();

    // Level 1: the department head (the default source of a new approver).
    await page.getByTestId('add-after-start').click();
    await page.getByRole('menuitem', { name: '审批人' }).click();
    const drawer = page.locator('.ant-drawer-open');
    await drawer.getByTestId('node-name').fill('部门负责人审批');
    await drawer.getByText('会签 (需所有人同意)').click();
    expect(await unlabelledInputs(page)).toEqual([]);
    await closeWithEscape(); // the drawer closes from the keyboard
    await page.getByTestId('node-approver1').getByText('部门负责人审批').waitFor();

    // A condition after it: amount > 50000 goes to the CFO, everything else goes on.
    await page.getByTestId('add-after-approver1').click();
    await page.getByRole('menuitem', { name: '条件分支' }).click();
    await pick(page.getByTestId('branch-field-0'), '金额');
    await pick(page.getByTestId('branch-op-0'), '大于');
    await page.locator('.ant-drawer-open').getByLabel('比较值 1').fill('50000');
    await page.locator('.ant-drawer-open').getByTestId('node-name').fill('大额');
    await closeWithEscape();
    await page.getByTestId('branch-branch1').getByText('金额 大于 50000').waitFor();

    // Level 2 inside the branch: a role source left without a role is a server problem on that node.
    await page.getByTestId('add-in-branch1').click();
    await page.getByRole('menuitem', { name: '审批人' }).click();
    const d2 = page.locator('.ant-drawer-open');
    await d2.getByTestId('node-name').fill('财务总监审批');
    await pick(d2.getByTestId('source-0').getByLabel('来源类型 1'), '角色');
    await closeWithEscape();
    const checked = page.waitForResponse((r) => r.url().endsWith('/api/v1/apps/validate'));
    await page.getByTestId('validate').click();
    const problem = (await (await checked).json()) as { errors: { path: string }[] };
    const wfName = `${APP}_approval`; // the name the designer proposes
    expect(problem.errors.map((e) => e.path)).toContain(`workflows.${wfName}.nodes.approver2.approvers.0.role`);
    await page.getByTestId('node-approver2-errors').waitFor();
    await shot('designer-approval-error', page.getByTestId('flow-canvas'));

    // Fix it: the CFO role.
    await page.getByTestId('node-approver2').locator('.flow-card-body').click();
    await pick(page.locator('.ant-drawer-open').getByTestId('source-0-role'), '财务总监');
    await page.locator('.ant-drawer-open').getByRole('button', { name: '关闭' }).click();
    await page.locator('.ant-drawer-open').waitFor({ state: 'detached' });
    await page.getByTestId('node-approver2').getByText('角色: cfo').waitFor();
    await page.getByTestId('validate').click();
    await page.getByText('定义检查通过').waitFor();
    await expect.poll(() => page.getByTestId('node-approver2-errors').count()).toBe(0);
    await shot('designer-approval', page.getByTestId('flow-canvas'));

    await page.getByTestId('publish').click();
    const publishDialog = page.getByRole('dialog', { name: '发布应用' });
    await publishDialog.getByText(/将要执行的结构变更|没有表结构变更/).waitFor();
    await publishDialog.getByTestId('publish-confirm').click();
    await page.getByText('已发布版本 3').waitFor();

    const got = await admin.call<{ version: number; definition: { entities: { submittable?: boolean }[]; workflows: any[] } }>('GET', `/apps/${APP}`);
    expect(got.body.version).toBe(3);
    expect(got.body.definition.entities[0]!.submittable).toBe(true);
    const wf = got.body.definition.workflows[0];
    expect(wf).toMatchObject({ name: wfName, entity: 'request', label: { zh: '采购审批' } });
    expect(wf.root).toMatchObject({ id: 'start', type: 'initiator' });
    const level1 = wf.root.next;
    expect(level1).toMatchObject({ id: 'approver1', type: 'approver', mode: 'all', name: { zh: '部门负责人审批' }, approvers: [{ kind: 'department_head', levelsUp: 0 }] });
    const cond = level1.next;
    expect(cond.type).toBe('condition');
    expect(cond.branches).toHaveLength(2);
    expect(cond.branches[0]).toMatchObject({ id: 'branch1', when: { field: 'amount', op: 'gt', value: '50000' } });
    expect(cond.branches[0].next).toMatchObject({ id: 'approver2', type: 'approver', name: { zh: '财务总监审批' }, approvers: [{ kind: 'role', role: 'cfo' }] });
    expect(cond.branches[1]).toMatchObject({ default: true });
    expect(cond.branches[1].next).toBeUndefined();

    const versions = await admin.call<{ versions: { version: number }[] }>('GET', `/apps/${APP}/versions`);
    expect(versions.body.versions.map((v) => v.version)).toEqual([3, 2, 1]);

    // The app list shows every published version; rolling back republishes v2 as v4.
    await page.getByRole('button', { name: '返回' }).click();
    await page.waitForURL('**/builder');
    await page.locator(`tr[data-row-key="${APP}"] .ant-table-row-expand-icon`).click();
    const history = page.locator('.ant-table-expanded-row');
    await history.getByText('v3').waitFor();
    expect(await history.locator('tbody tr.ant-table-row').count()).toBe(3);
    await shot('designer-apps');
    await history.locator('tbody tr.ant-table-row').filter({ hasText: 'v2' }).getByRole('button', { name: '回滚到此版本' }).click();
    await page.getByRole('dialog').getByRole('button', { name: '确定' }).click();
    await page.getByText('已回滚，新版本 4').waitFor();
    const rolled = await admin.call<{ version: number; definition: { workflows?: unknown[] } }>('GET', `/apps/${APP}`);
    expect(rolled.body.version).toBe(4);
    expect(rolled.body.definition.workflows ?? []).toEqual([]);

    fs.mkdirSync(path.join(repoRoot, 'docs/screenshots'), { recursive: true });
    fs.copyFileSync(path.join(OUT, 'designer-form.png'), path.join(repoRoot, 'docs/screenshots/designer-form.png'));
    fs.copyFileSync(path.join(OUT, 'designer-approval.png'), path.join(repoRoot, 'docs/screenshots/designer-approval.png'));
  }, SESSION_MS);

  test('an approval node naming a calendar that does not exist: the publish preview says so in Chinese, on the node too', async () => {
    // a draft (saved over the API) whose approver counts its SLA on "nightshift", a calendar there is none of
    const cal = 'e2e_cal';
    const definition = {
      name: cal,
      label: { zh: '日历检查' },
      entities: [{ name: 'expense', label: { zh: '费用报销' }, submittable: true, fields: [{ name: 'amount', type: 'money', label: { zh: '金额' } }], permissions: [{ role: '*', actions: ['read', 'create', 'write', 'submit'] }] }],
      workflows: [{ name: `${cal}_flow`, entity: 'expense', label: { zh: '报销审批' }, root: { id: 'start', type: 'initiator', next: { id: 'lead', type: 'approver', approvers: [{ kind: 'department_head', levelsUp: 0 }], sla: { remind: { after: 60 }, calendar: 'nightshift' } } } }],
    };
    expect((await admin.call('PUT', `/app-drafts/${cal}`, { definition })).status).toBe(200);
    await page.goto(`/builder/apps/${cal}`);
    await page.getByTestId('publish').click();
    const zh = '没有名为“nightshift”的工作日历：请先在“工作日历”页面新建它，或改用工厂默认日历';
    const publishDialog = page.getByRole('dialog', { name: '发布应用' });
    await publishDialog.getByTestId('publish-error').getByText(zh).waitFor();
    await publishDialog.getByRole('button', { name: '取消' }).click();
    expect(await page.getByTestId('problem-list').textContent()).toContain(`workflows.${cal}_flow.nodes.lead.sla.calendar ${zh}`);
    await page.getByTestId('tab-flow').click();
    expect(await page.getByTestId('node-lead').textContent()).toContain(zh);
    expect(await page.getByTestId('node-lead').textContent()).not.toContain('unknown calendar');
  }, SESSION_MS);
});
