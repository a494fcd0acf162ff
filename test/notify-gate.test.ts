// A notification no channel could take costs no fan-out request: whether an enabled channel
// takes its kind (and app) is known in memory, and a channel created, changed or disabled in this
// process counts for the very next notification. PGlite, PostgreSQL with TRELLIS_TEST_PG.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPrincipalData } from '../src/server/platform/org/index.ts';
import type { Actor } from '../src/server/platform/context.ts';
import { workflowService as svc } from '../src/server/workflow/index.ts';
import { notifyChannels, sendNotification } from '../src/server/notify/index.ts';
import { testTarget } from './helpers/db.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { approver, flow, users } from './workflow-helpers.ts';

describe(`notification fan-out gate (${testTarget})`, () => {
  let t: TestTrellis;
  let admin: TestSession;
  let wang: Actor;

  beforeAll(async () => {
    t = await createTestTrellis({ seedDemo: true, env: { TRELLIS_SECRET_KEY: 'notify-gate-key' } });
    admin = await loginAs(t);
    const row = (await t.ctx.db.query<{ id: string; display_name: string }>(`select id, display_name from users where username = 'wang.operator'`)).rows[0]!;
    const pd = await loadPrincipalData(t.ctx.db, row.id);
    wang = { principal: { kind: 'user', userId: row.id, username: 'wang.operator', displayName: row.display_name, ...pd, scopes: null }, meta: { ip: '10.0.0.1', userAgent: 'vitest', requestId: null } };
  });
  afterAll(async () => {
    await t?.destroy();
  });

  /** Starts a one-step approval (a 'task' notification to li.teamlead); how many fan-out requests it wrote. */
  async function requestsForNewTask(): Promise<number> {
    const title = `Gate ${randomUUID().slice(0, 8)}`;
    await svc.start(t.ctx, wang, { app: 'demo', appVersion: 1, workflow: flow('gate', approver('lead', users('li.teamlead'))), recordId: randomUUID(), record: {}, title });
    const inApp = await t.ctx.db.query(`select 1 from wf_notifications where title = $1 and kind = 'task'`, [title]);
    expect(inApp.rowCount).toBe(1); // in-app notifications do not depend on channels
    return (await t.ctx.db.query(`select 1 from outbox where type = 'trellis.notify.requested' and data->>'title' = $1`, [title])).rowCount;
  }

  const couldTake = (kind: string, app: string | null) => t.ctx.db.tx((tx) => notifyChannels.channelCouldTake(tx, kind, app));

  it('writes no request while no channel takes the kind, and one as soon as a channel does', async () => {
    expect(await couldTake('task', 'demo')).toBe(false); // so the fan-out request is not even tried
    expect(await requestsForNewTask()).toBe(0);
    const conn = await admin.inject({ method: 'POST', url: '/api/v1/integration/connectors', payload: { name: 'wecom-gate', kind: 'wecom', config: { baseUrl: 'http://127.0.0.1:9', timeoutMs: 1000 }, secrets: { key: 'k' } } });
    expect(conn.statusCode, conn.body).toBe(201);
    const ch = await admin.inject({ method: 'POST', url: '/api/v1/notify/channels', payload: { name: 'gate-outcomes', connector: 'wecom-gate', kinds: ['outcome'] } });
    expect(ch.statusCode, ch.body).toBe(201);
    expect(await requestsForNewTask()).toBe(0); // the channel takes outcomes, not tasks
    const changed = await admin.inject({ method: 'PATCH', url: '/api/v1/notify/channels/gate-outcomes', payload: { kinds: ['task'] } });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(await couldTake('task', 'demo')).toBe(true);
    expect(await requestsForNewTask()).toBe(1);
    const disabled = await admin.inject({ method: 'PATCH', url: '/api/v1/notify/channels/gate-outcomes', payload: { enabled: false } });
    expect(disabled.statusCode, disabled.body).toBe(200);
    expect(await couldTake('task', 'demo')).toBe(false);
    expect(await requestsForNewTask()).toBe(0);
  });

  it('a channel limited to one app takes that app only', async () => {
    const ch = await admin.inject({ method: 'POST', url: '/api/v1/notify/channels', payload: { name: 'gate-andon', connector: 'wecom-gate', kinds: ['*'], app: 'andon' } });
    expect(ch.statusCode, ch.body).toBe(201);
    const uid = (await t.ctx.db.query<{ id: string }>(`select id from users where username = 'zhou.quality'`)).rows[0]!.id;
    const sent = async (app: string) => {
      const title = `Gate ${app} ${randomUUID().slice(0, 8)}`;
      await t.ctx.db.tx((tx) => sendNotification(tx, { kind: 'andon.opened', userIds: [uid], title, app }));
      return (await t.ctx.db.query(`select 1 from outbox where type = 'trellis.notify.requested' and data->>'title' = $1`, [title])).rowCount;
    };
    expect(await sent('andon')).toBe(1);
    expect(await sent('finance')).toBe(0);
  });
});
