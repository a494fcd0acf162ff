// The calendar problems of an approval flow as the app designer shows them: the server words them in
// English (calendarProblems, src/server/workflow/calendar-store.ts); for a zh-CN user the designer
// says them the way the calendars page does (src/web/calendars/i18n.ts, problemText) — on the node,
// in the editor's problem list and in the publish dialog's summary — and leaves every other problem
// as the server wrote it. The problems come from the real server (in-process Trellis, demo plant):
// the function itself, the designer's check (/apps/validate), its preview of a publish (/apps/diff)
// and the publish.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calendarProblems } from '../src/server/workflow/calendar-store.ts';
import type { AppDef } from '../src/shared/definition.ts';
import { builderDetail, builderProblems, isCalendarProblem } from '../src/web/builder/i18n.ts';
import { problemText } from '../src/web/calendars/i18n.ts';
import { indexProblems } from '../src/web/builder/model.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { approver, flow, users } from './workflow-helpers.ts';

const NODE_PATH = 'workflows.bcm_flow.nodes.lead.sla.calendar';
const FLOW_PATH = 'workflows.bcm_flow.calendar';
const NIGHTSHIFT_ZH = '没有名为“nightshift”的工作日历：请先在“工作日历”页面新建它，或改用工厂默认日历';
const PLANT_B_ZH = '没有名为“plant-b”的工作日历：请先在“工作日历”页面新建它，或改用工厂默认日历';

/** An approval flow whose approver counts its SLA on "nightshift", the flow itself on "plant-b": neither exists. */
const wf = { ...flow('bcm_flow', approver('lead', users('li.teamlead'), { sla: { remind: { after: 60 }, calendar: 'nightshift' } })), calendar: 'plant-b' };
const app = {
  name: 'bcm_app',
  label: { zh: '日历提示', en: 'Calendar messages' },
  entities: [
    {
      name: 'expense',
      label: { zh: '费用报销' },
      submittable: true,
      fields: [{ name: 'amount', type: 'money', label: { zh: '金额' }, required: true }],
      permissions: [{ role: '*', actions: ['read', 'create', 'write', 'submit'] }],
    },
  ],
  workflows: [wf],
} as AppDef;

let t: TestTrellis;
let admin: TestSession;
beforeAll(async () => {
  t = await createTestTrellis({ seedDemo: true });
  admin = await loginAs(t);
}, 120_000);
afterAll(async () => {
  await t?.destroy();
});

/** The refused answer as the web's ApiError carries it (src/web/api.ts). */
async function refused(url: string, payload: object) {
  const r = await admin.inject({ method: 'POST', url: `/api/v1${url}`, payload });
  const b = r.json() as { title: string; detail?: string; errors?: Array<{ path: string; message: string }> };
  return { status: r.statusCode, title: b.title, detail: b.detail ?? '', errors: b.errors ?? [] };
}

describe('an approval flow naming a calendar that does not exist, as the designer says it', () => {
  it('the server’s own problems: Chinese for zh-CN, on the node they concern; the English unchanged', async () => {
    const problems = await calendarProblems(t.ctx.db, [wf]);
    expect(problems.map((p) => p.path).sort()).toEqual([FLOW_PATH, NODE_PATH]);
    expect(problems.every(isCalendarProblem)).toBe(true);

    const zh = builderProblems('zh-CN', problems);
    expect(Object.fromEntries(zh.map((p) => [p.path, p.message]))).toEqual({ [NODE_PATH]: NIGHTSHIFT_ZH, [FLOW_PATH]: PLANT_B_ZH });
    // where the flow designer looks for them: the node's card and drawer, the flow's own list
    const idx = indexProblems(zh);
    expect(idx.nodes.get('bcm_flow/lead')?.map((p) => p.message)).toEqual([NIGHTSHIFT_ZH]);
    expect(idx.nodes.get('bcm_flow/')?.map((p) => p.message)).toEqual([PLANT_B_ZH]);

    // English users read the server's words
    expect(builderProblems('en', problems)).toEqual(problems);
    expect(problems.find((p) => p.path === NODE_PATH)!.message).toMatch(/^unknown calendar "nightshift": create it first/);
  });

  it('the check (检查), the publish preview and the publish: the problems and the summary say the calendar in Chinese', async () => {
    for (const url of ['/apps/validate', '/apps/diff', '/apps/publish']) {
      const err = await refused(url, app);
      expect(err.status).toBe(400);
      expect(err.errors.map((p) => p.path).sort()).toEqual([FLOW_PATH, NODE_PATH]);
      const zh = builderProblems('zh-CN', err.errors);
      expect(zh.find((p) => p.path === NODE_PATH)!.message).toBe(NIGHTSHIFT_ZH);
      expect(zh.find((p) => p.path === FLOW_PATH)!.message).toBe(PLANT_B_ZH);

      // the dialog's summary names the problems: the calendar ones in Chinese, nothing else reworded
      const detail = builderDetail('zh-CN', err.detail, err.errors);
      expect(detail).toContain(`${NODE_PATH}: ${NIGHTSHIFT_ZH}`);
      expect(detail).toContain(`${FLOW_PATH}: ${PLANT_B_ZH}`);
      expect(detail).not.toContain('unknown calendar');
      expect(detail.startsWith(err.detail.slice(0, err.detail.indexOf(':')))).toBe(true);
      expect(builderDetail('en', err.detail, err.errors)).toBe(err.detail);
    }
    // nothing was published
    expect((await t.ctx.db.query('select 1 from apps where name = $1', ['bcm_app'])).rows).toHaveLength(0);
  });

  it('a refused check: the calendar name’s problem in Chinese; the node’s other problem as the server wrote it, though the calendars page knows its words', async () => {
    // a calendar name of 100 letters (too long) beside a key the SLA does not have
    const odd = { ...app, workflows: [{ ...wf, calendar: undefined, root: flow('x', approver('lead', users('li.teamlead'), { sla: { remind: { after: 60 }, bogus: 1, calendar: 'x'.repeat(100) } as never })).root }] } as AppDef;
    const err = await refused('/apps/validate', odd);
    expect(err.status).toBe(400);
    const key = err.errors.find((p) => p.path === 'workflows.bcm_flow.nodes.lead.sla')!;
    const name = err.errors.find((p) => p.path === NODE_PATH)!;
    expect(key.message).toMatch(/^Unrecognized key: "bogus"$/);
    expect(name.message).toMatch(/^Too big: expected string to have <=\d+ characters$/);
    expect(isCalendarProblem(key)).toBe(false);
    expect(problemText('zh-CN', key.message)).not.toBe(key.message); // the calendars page would reword it: the designer does not

    const zh = builderProblems('zh-CN', err.errors);
    expect(zh.find((p) => p.path === key.path)!.message).toBe(key.message);
    expect(zh.find((p) => p.path === NODE_PATH)!.message).toMatch(/^最多 \d+ 个字符$/);
    const detail = builderDetail('zh-CN', err.detail, err.errors);
    expect(detail).toContain(`${key.path}: ${key.message}`);
    expect(detail).toContain(`${NODE_PATH}: 最多`);
    expect(builderProblems('en', err.errors)).toEqual(err.errors);
  });
});
