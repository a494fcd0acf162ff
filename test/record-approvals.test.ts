// GET /api/v1/workflow/instances?app&entity&recordId: the approvals of one document, as the
// record page's trail tab reads them — only those the caller may read (PGlite and PostgreSQL).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishApp } from '../src/server/modeling/index.ts';
import { DEMO_PASSWORD, systemActor } from '../src/server/platform/index.ts';
import { testTarget } from './helpers/db.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';

const app = {
  name: 'ra',
  label: { zh: '报销' },
  entities: [
    {
      name: 'claim',
      label: { zh: '报销单' },
      submittable: true,
      fields: [{ name: 'amount', type: 'money', label: { zh: '金额' }, required: true }],
      permissions: [{ role: '*', actions: ['read', 'create', 'write', 'submit'] }],
    },
  ],
  workflows: [
    {
      name: 'claim_approval',
      entity: 'claim',
      label: { zh: '报销审批' },
      root: { id: 'start', type: 'initiator', next: { id: 'lead', type: 'approver', approvers: [{ kind: 'users', users: ['li.teamlead'] }] } },
    },
  ],
};

describe(`a document's approvals (${testTarget})`, () => {
  let t: TestTrellis;
  let op: TestSession;
  let lead: TestSession;
  let other: TestSession;
  let recordId: string;
  let instanceId: string;

  beforeAll(async () => {
    t = await createTestTrellis({ seedDemo: true });
    await publishApp(t.ctx, systemActor, app as never);
    [op, lead, other] = [await loginAs(t, 'wang.operator', DEMO_PASSWORD), await loginAs(t, 'li.teamlead', DEMO_PASSWORD), await loginAs(t, 'yang.operator', DEMO_PASSWORD)];
    const c = await op.inject({ method: 'POST', url: '/api/v1/apps/ra/entities/claim/records', payload: { values: { amount: '88.00' } } });
    expect(c.statusCode, c.body).toBe(201);
    recordId = c.json().id as string;
    const s = await op.inject({ method: 'POST', url: `/api/v1/apps/ra/entities/claim/records/${recordId}/submit`, payload: { version: c.json().version as number } });
    expect(s.statusCode, s.body).toBe(202);
    instanceId = s.json().intercepted.workflow.instanceId as string;
  });
  afterAll(async () => {
    await t?.destroy();
  });

  const lookup = (s: TestSession, q = `app=ra&entity=claim&recordId=${recordId}`) => s.inject(`/api/v1/workflow/instances?${q}`);

  it('the initiator and the approver see the running approval', async () => {
    for (const s of [op, lead]) {
      const r = await lookup(s);
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json().items).toEqual([expect.objectContaining({ id: instanceId, recordId, status: 'running', app: 'ra', entity: 'claim' })]);
    }
  });

  it('someone with no part in it sees nothing; another record has none', async () => {
    expect((await lookup(other)).json().items).toEqual([]);
    expect((await lookup(op, 'app=ra&entity=claim&recordId=00000000-0000-4000-8000-000000000000')).json().items).toEqual([]);
  });

  it('refuses a lookup without the record with 400', async () => {
    const r = await lookup(op, 'app=ra&entity=claim');
    expect(r.statusCode).toBe(400);
    expect(r.headers['content-type']).toContain('application/problem+json');
    expect((await t.app.inject(`/api/v1/workflow/instances?app=ra&entity=claim&recordId=${recordId}`)).statusCode).toBe(401);
  });
});
