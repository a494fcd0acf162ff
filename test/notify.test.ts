// Notifications end to end: a workflow task → in-app row + WeCom, DingTalk and Feishu group robots
// and an email, each through its own channel flow as a delivery, against local receivers that
// verify the signatures the way the real services do (test/helpers/robots.ts) and a real SMTP
// server (smtp-server, STARTTLS + sign-in). Also: a failing robot is retried and posts once,
// preferences (email off, quiet hours, language), templates in the reader's language, the
// test-send endpoint, connection tests, and 4xx on bad input. PGlite, PostgreSQL with TRELLIS_TEST_PG.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIntegration } from '../src/server/integration/index.ts';
import { DEMO_PASSWORD, loadPrincipalData } from '../src/server/platform/org/index.ts';
import type { Actor } from '../src/server/platform/context.ts';
import { TimerWorker, workflowService as svc } from '../src/server/workflow/index.ts';
import { sendNotification } from '../src/server/notify/index.ts';
import { testTarget } from './helpers/db.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { startMailServer, startRobots, type MailServer, type Robots } from './helpers/robots.ts';
import { ManualClock, approver, flow, users } from './workflow-helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for: ${what}`);
    await sleep(25);
  }
}

describe(`notifications (${testTarget})`, () => {
  let t: TestTrellis;
  let clock: ManualClock;
  let admin: TestSession;
  let robots: Robots;
  let mail: MailServer;
  let stop: () => Promise<void>;
  const ids = new Map<string, string>();

  async function actor(username: string): Promise<Actor> {
    const row = (await t.ctx.db.query<{ id: string; display_name: string }>('select id, display_name from users where username = $1', [username])).rows[0]!;
    const pd = await loadPrincipalData(t.ctx.db, row.id);
    return {
      principal: { kind: 'user', userId: row.id, username, displayName: row.display_name, roles: pd.roles, departmentIds: pd.departmentIds, primaryDepartmentId: pd.primaryDepartmentId, scopes: null },
      meta: { ip: '10.9.9.9', userAgent: 'vitest', requestId: null },
    };
  }
  /** Starts a one-step approval whose task goes to `assignee`; returns the instance title. */
  async function taskFor(assignee: string, title = `Order ${randomUUID().slice(0, 8)}`): Promise<string> {
    await svc.start(t.ctx, await actor('wang.operator'), {
      app: 'demo',
      appVersion: 1,
      workflow: flow('expense_claim', approver('lead', users(assignee))),
      recordId: randomUUID(),
      record: { amount: '120.00' },
      title,
    });
    return title;
  }
  /** Every notification delivery (fan-out and channel flows) has finished. */
  async function settled(): Promise<void> {
    await waitFor('notification deliveries to settle', async () => {
      const r = await t.ctx.db.query<{ n: number }>(
        `select count(*)::int as n from integration_deliveries where event_type like 'trellis.notify.%' and state not in ('succeeded', 'dead', 'cancelled')`,
      );
      const o = await t.ctx.db.query<{ n: number }>(`select count(*)::int as n from outbox where relayed_at is null and type like 'trellis.notify.%'`);
      return r.rows[0]!.n === 0 && o.rows[0]!.n === 0;
    });
  }
  const robotsWith = (service: 'wecom' | 'dingtalk' | 'feishu', needle: string) => robots.of(service).filter((m) => m.title.includes(needle) || m.text.includes(needle));
  const mailsWith = (needle: string) => mail.mails.filter((m) => m.subject.includes(needle));

  async function post(url: string, payload: unknown, s: TestSession = admin) {
    return s.inject({ method: 'POST', url, payload: payload as Record<string, unknown> });
  }

  beforeAll(async () => {
    clock = new ManualClock('2026-03-02T01:00:00.000Z'); // 09:00 in Shanghai
    t = await createTestTrellis({ seedDemo: true, clock, env: { TRELLIS_SECRET_KEY: 'notify-test-key' } });
    for (const r of (await t.ctx.db.query<{ id: string; username: string }>('select id, username from users')).rows) ids.set(r.username, r.id);
    admin = await loginAs(t);
    robots = await startRobots();
    mail = await startMailServer();
    stop = await startIntegration(t.ctx, { leaseMs: 4000, compensationIntervalMs: 3_600_000, healthIntervalMs: 3_600_000, relayPollMs: 100 });

    const connectors: Array<[string, string, Record<string, unknown>, Record<string, unknown>]> = [
      ['wecom-line1', 'wecom', { baseUrl: robots.url, timeoutMs: 2000 }, { key: robots.wecom.key }],
      ['ding-line1', 'dingtalk', { baseUrl: robots.url, timeoutMs: 2000 }, robots.dingtalk],
      ['feishu-line1', 'feishu', { baseUrl: robots.url, timeoutMs: 2000 }, robots.feishu],
      ['mail', 'smtp', { host: '127.0.0.1', port: mail.port, security: 'starttls', from: 'trellis@hdjj.example.com', fromName: 'Trellis', rejectUnauthorized: false, timeoutMs: 5000 }, { user: mail.user, password: mail.password }],
    ];
    for (const [name, kind, config, secrets] of connectors) {
      const r = await post('/api/v1/integration/connectors', { name, kind, config, secrets });
      expect(r.statusCode, r.body).toBe(201);
    }
    const fast = { backoffBaseMs: 30, backoffCapMs: 200, maxAttempts: 5, ratePerSecond: null };
    const channels = [
      { name: 'line1-wecom', connector: 'wecom-line1', kinds: ['task', 'escalation'], language: 'zh-CN' },
      { name: 'line1-ding', connector: 'ding-line1', kinds: ['task'], language: 'zh-CN' },
      { name: 'line1-feishu', connector: 'feishu-line1', kinds: ['task'], language: 'en' },
      { name: 'email', connector: 'mail', audience: 'recipients', kinds: ['*'] },
    ];
    for (const c of channels) {
      const r = await post('/api/v1/notify/channels', { ...c, delivery: fast });
      expect(r.statusCode, r.body).toBe(201);
    }
  });
  afterAll(async () => {
    await stop?.();
    await robots?.close();
    await mail?.close();
    await t?.destroy();
  });

  it('connection tests reach the local services without posting a message', async () => {
    for (const name of ['wecom-line1', 'ding-line1', 'feishu-line1', 'mail']) {
      const r = await post(`/api/v1/integration/connectors/${name}/test`, {});
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json(), name).toMatchObject({ ok: true });
    }
    // a wrong signing secret is caught by the test, with a message that says what to check
    const bad = await post('/api/v1/integration/connectors', { name: 'ding-bad', kind: 'dingtalk', config: { baseUrl: robots.url }, secrets: { accessToken: robots.dingtalk.accessToken, secret: 'SECwrong' } });
    expect(bad.statusCode, bad.body).toBe(201);
    const tr = await post('/api/v1/integration/connectors/ding-bad/test', {});
    expect(tr.json()).toMatchObject({ ok: false });
    expect(tr.json().message).toMatch(/signature/);
    const badMail = await post('/api/v1/integration/connectors', { name: 'mail-bad', kind: 'smtp', config: { host: '127.0.0.1', port: mail.port, from: 'x@hdjj.example.com', rejectUnauthorized: false }, secrets: { user: mail.user, password: 'wrong' } });
    expect(badMail.statusCode).toBe(201);
    const tm = await post('/api/v1/integration/connectors/mail-bad/test', {});
    expect(tm.json()).toMatchObject({ ok: false });
    expect(robots.messages).toHaveLength(0);
    expect(mail.mails).toHaveLength(0);
  });

  it('a new workflow task reaches every robot once, signed, and the assignee by email; the in-app row is written', async () => {
    const title = await taskFor('li.teamlead');
    await waitFor('one message per robot and one email', () =>
      robotsWith('wecom', title).length >= 1 && robotsWith('dingtalk', title).length >= 1 && robotsWith('feishu', title).length >= 1 && mailsWith(title).length >= 1,
    );
    await settled();
    expect(robotsWith('wecom', title)).toHaveLength(1);
    expect(robotsWith('dingtalk', title)).toHaveLength(1);
    expect(robotsWith('feishu', title)).toHaveLength(1);
    const mails = mailsWith(title);
    expect(mails).toHaveLength(1);
    // rendered from the built-in templates: zh-CN for the zh channels and the zh-CN user, English for the English channel
    expect(robotsWith('wecom', title)[0]!.text).toContain(`【待办】${title}`);
    expect(robotsWith('dingtalk', title)[0]!.title).toBe(`【待办】${title}`);
    expect(robotsWith('feishu', title)[0]!.title).toBe(`[To do] ${title}`);
    expect(robotsWith('feishu', title)[0]!.text).toContain('Started by: Wang Qiang');
    expect(mails[0]!.subject).toBe(`【待办】${title}`);
    expect(mails[0]!.to).toEqual(['li.teamlead@hdjj.example.com']);
    expect(mails[0]!.text).toContain('发起人：王强');
    expect(mails[0]!.messageId).toMatch(/^<[0-9a-f]{40}@trellis\.notify>$/);
    // the in-app notification (the inbox's)
    const inApp = await t.ctx.db.query<{ kind: string }>('select kind from wf_notifications where user_id = $1 and title = $2', [ids.get('li.teamlead'), title]);
    expect(inApp.rows.map((r) => r.kind)).toEqual(['task']);
    // each send is a delivery of its channel's flow, succeeded, with an idempotency key
    const d = await t.ctx.db.query<{ flow: string; state: string; idempotency_key: string }>(
      `select f.name as flow, d.state, d.idempotency_key from integration_deliveries d join integration_flows f on f.id = d.flow_id
        where d.event_type = 'trellis.notify.message' and d.payload->>'title' like '%' || $1 order by f.name`,
      [title],
    );
    expect(d.rows.map((r) => [r.flow, r.state])).toEqual([
      ['notify.email', 'succeeded'],
      ['notify.line1-ding', 'succeeded'],
      ['notify.line1-feishu', 'succeeded'],
      ['notify.line1-wecom', 'succeeded'],
    ]);
    expect(new Set(d.rows.map((r) => r.idempotency_key)).size).toBe(4);
  });

  it('a robot that fails and recovers is retried, and the message arrives once', async () => {
    robots.failNext('dingtalk', 1, { json: { errcode: -1, errmsg: 'system busy' } });
    robots.failNext('wecom', 1, { status: 503 });
    mail.tempFailures = 1;
    const title = await taskFor('li.teamlead');
    await waitFor('the messages after the retries', () => robotsWith('dingtalk', title).length >= 1 && robotsWith('wecom', title).length >= 1 && mailsWith(title).length >= 1);
    await settled();
    expect(robotsWith('dingtalk', title)).toHaveLength(1);
    expect(robotsWith('wecom', title)).toHaveLength(1);
    expect(mailsWith(title)).toHaveLength(1);
    const d = await t.ctx.db.query<{ flow: string; state: string; attempts: number }>(
      `select f.name as flow, d.state, d.attempts from integration_deliveries d join integration_flows f on f.id = d.flow_id
        where d.event_type = 'trellis.notify.message' and d.payload->>'title' like '%' || $1 order by f.name`,
      [title],
    );
    expect(d.rows).toEqual([
      { flow: 'notify.email', state: 'succeeded', attempts: 2 },
      { flow: 'notify.line1-ding', state: 'succeeded', attempts: 2 },
      { flow: 'notify.line1-feishu', state: 'succeeded', attempts: 1 },
      { flow: 'notify.line1-wecom', state: 'succeeded', attempts: 2 },
    ]);
    // the failed attempts are on the record the health dashboard reads
    const attempts = await t.ctx.db.query<{ n: number }>(
      `select count(*)::int as n from integration_delivery_attempts a join integration_flows f on f.id = a.flow_id
        where f.name in ('notify.line1-ding', 'notify.line1-wecom', 'notify.email') and a.outcome <> 'ok'`,
    );
    expect(attempts.rows[0]!.n).toBeGreaterThanOrEqual(3);
    const health = await admin.inject('/api/v1/integration/health');
    expect(health.statusCode).toBe(200);
    expect((health.json().flows as Array<{ name: string }>).map((f) => f.name)).toEqual(expect.arrayContaining(['notify.line1-ding', 'notify.line1-wecom', 'notify.line1-feishu', 'notify.email']));
  });

  it('a permanent refusal goes straight to dead, with the service code in the error', async () => {
    robots.failNext('feishu', 1, { json: { code: 19024, msg: 'Key Words Not Found' } });
    const title = await taskFor('li.teamlead');
    await waitFor('the other robots', () => robotsWith('wecom', title).length >= 1 && robotsWith('dingtalk', title).length >= 1);
    await settled();
    expect(robotsWith('feishu', title)).toHaveLength(0);
    const d = await t.ctx.db.query<{ state: string; attempts: number; last_error: string }>(
      `select d.state, d.attempts, d.last_error from integration_deliveries d join integration_flows f on f.id = d.flow_id
        where f.name = 'notify.line1-feishu' and d.payload->>'title' like '%' || $1`,
      [title],
    );
    expect(d.rows).toHaveLength(1);
    expect(d.rows[0]).toMatchObject({ state: 'dead', attempts: 1 });
    expect(d.rows[0]!.last_error).toContain('19024');
  });

  it('preferences: email off for tasks → no email (robots still post); English → English email; quiet hours hold email back', async () => {
    const ma = await loginAs(t, 'ma.teamlead', DEMO_PASSWORD);
    const off = await ma.inject({ method: 'PUT', url: '/api/v1/notify/preferences', payload: { channels: { task: ['inapp'] } } });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json().effective.channels.task).toEqual(['inapp']);
    const t1 = await taskFor('ma.teamlead');
    await waitFor('the robots', () => robotsWith('wecom', t1).length >= 1 && robotsWith('dingtalk', t1).length >= 1 && robotsWith('feishu', t1).length >= 1);
    await settled();
    expect(mailsWith(t1)).toHaveLength(0);
    expect((await t.ctx.db.query('select 1 from wf_notifications where user_id = $1 and title = $2', [ids.get('ma.teamlead'), t1])).rowCount).toBe(1);

    // in English, to another address
    const en = await ma.inject({ method: 'PUT', url: '/api/v1/notify/preferences', payload: { language: 'en', email: 'ma.chao@line2.example.com' } });
    expect(en.statusCode, en.body).toBe(200);
    const t2 = await taskFor('ma.teamlead');
    await waitFor('the English email', () => mailsWith(t2).length >= 1);
    await settled();
    const m = mailsWith(t2);
    expect(m).toHaveLength(1);
    expect(m[0]!.subject).toBe(`[To do] ${t2}`);
    expect(m[0]!.to).toEqual(['ma.chao@line2.example.com']);
    expect(m[0]!.text).toContain('You have a new task');
    expect(m[0]!.headers['content-language']).toBe('en');

    // quiet hours 08:00–12:00 plant time; the clock says 09:00 in Shanghai
    const quiet = await ma.inject({ method: 'PUT', url: '/api/v1/notify/preferences', payload: { language: 'en', quietHours: { start: '08:00', end: '12:00' } } });
    expect(quiet.statusCode, quiet.body).toBe(200);
    const t3 = await taskFor('ma.teamlead');
    await waitFor('the robots', () => robotsWith('wecom', t3).length >= 1);
    await settled();
    expect(mailsWith(t3)).toHaveLength(0);
    clock.advanceMinutes(240); // 13:00: outside quiet hours
    const t4 = await taskFor('ma.teamlead');
    await waitFor('the email after quiet hours', () => mailsWith(t4).length >= 1);
  });

  it('an SLA escalation reaches the manager, and the outcome reaches the initiator, in their language', async () => {
    const title = `Escalate ${randomUUID().slice(0, 8)}`;
    const { instanceId } = await svc.start(t.ctx, await actor('wang.operator'), {
      app: 'demo',
      appVersion: 1,
      workflow: flow('expense_sla', approver('lead', users('li.teamlead'), { sla: { escalate: { after: 30 } } })),
      recordId: randomUUID(),
      record: {},
      title,
    });
    clock.advanceMinutes(31);
    await new TimerWorker(t.ctx.db, clock, { workerId: 'notify-test' }).runOnce();
    await waitFor('the escalation on WeCom and by email', () => robotsWith('wecom', `【超时升级】${title}`).length >= 1 && mailsWith(`【超时升级】${title}`).length >= 1);
    await settled();
    expect(robotsWith('wecom', `【超时升级】${title}`)).toHaveLength(1);
    expect(robotsWith('dingtalk', `【超时升级】${title}`)).toHaveLength(0); // that channel takes tasks only
    expect(mailsWith(`【超时升级】${title}`).map((m) => m.to)).toEqual([['zhao.director@hdjj.example.com']]);
    const task = (await t.ctx.db.query<{ id: string }>(`select id from wf_tasks where instance_id = $1 and status = 'pending'`, [instanceId])).rows[0]!.id;
    await svc.actOnTask(t.ctx, await actor('zhao.director'), task, { action: 'approve' });
    await waitFor('the outcome email', () => mailsWith(`【审批结果】${title}`).length >= 1);
    await settled();
    const m = mailsWith(`【审批结果】${title}`);
    expect(m).toHaveLength(1);
    expect(m[0]!.subject).toBe(`【审批结果】${title}：已通过`);
    expect(m[0]!.to).toEqual(['wang.operator@hdjj.example.com']);
  });

  it('templates: an override renders in the reader language, with placeholders from the notification', async () => {
    const r = await admin.inject({ method: 'PUT', url: '/api/v1/notify/templates/task/zh-CN', payload: { title: '【新待办】{{title}}（{{app}}）', body: '请 {{recipient}} 处理 **{{title}}**：{{link}}' } });
    expect(r.statusCode, r.body).toBe(200);
    const list = await admin.inject('/api/v1/notify/templates');
    expect(list.json().items).toEqual(expect.arrayContaining([expect.objectContaining({ key: 'task', locale: 'zh-CN', overridden: true }), expect.objectContaining({ key: 'task', locale: 'en', overridden: false })]));
    const title = await taskFor('li.teamlead');
    await waitFor('messages', () => mailsWith(title).length >= 1 && robotsWith('feishu', title).length >= 1 && robotsWith('dingtalk', title).length >= 1);
    await settled();
    expect(mailsWith(title)[0]!.subject).toBe(`【新待办】${title}（demo）`);
    expect(mailsWith(title)[0]!.text).toContain(`请 李娜 处理 ${title}：/tasks/`);
    expect(robotsWith('dingtalk', title)[0]!.title).toBe(`【新待办】${title}（demo）`);
    expect(robotsWith('feishu', title)[0]!.title).toBe(`[To do] ${title}`); // English channel: English built-in
    const del = await admin.inject({ method: 'DELETE', url: '/api/v1/notify/templates/task/zh-CN' });
    expect(del.statusCode).toBe(204);
    const audit = await t.ctx.db.query<{ action: string }>(`select action from audit_log where action like 'notify.template.%' order by seq`);
    expect(audit.rows.map((a) => a.action)).toEqual(['notify.template.put', 'notify.template.delete']);
  });

  it('sendNotification from another engine: in-app row in the caller transaction, rolled back with it', async () => {
    const uid = ids.get('zhou.quality')!;
    await expect(
      t.ctx.db.tx(async (tx) => {
        await sendNotification(tx, { kind: 'andon.opened', userIds: [uid], title: 'rolled back', app: 'andon' });
        throw new Error('the caller fails');
      }),
    ).rejects.toThrow('the caller fails');
    expect((await t.ctx.db.query('select 1 from wf_notifications where title = $1', ['rolled back'])).rowCount).toBe(0);
    expect((await t.ctx.db.query(`select 1 from outbox where type = 'trellis.notify.requested' and data->>'title' = 'rolled back'`)).rowCount).toBe(0);
    await t.ctx.db.tx((tx) => sendNotification(tx, { kind: 'andon.opened', userIds: [uid], title: 'Line 3 stopped', body: 'Spindle overheating', app: 'andon' }));
    const row = await t.ctx.db.query<{ kind: string; body: string }>('select kind, body from wf_notifications where user_id = $1 and title = $2', [uid, 'Line 3 stopped']);
    expect(row.rows).toEqual([{ kind: 'andon.opened', body: 'Spindle overheating' }]);
    await waitFor('the email of the generic message', () => mailsWith('Line 3 stopped').length >= 1);
    await settled();
    expect(mailsWith('Line 3 stopped')[0]!.text).toContain('Spindle overheating');
    expect(robotsWith('wecom', 'Line 3 stopped')).toHaveLength(0); // the robots' channels do not take this kind
  });

  it('test-send goes out as a delivery of the channel', async () => {
    const r = await post('/api/v1/notify/channels/line1-wecom/test', { language: 'en' });
    expect(r.statusCode, r.body).toBe(202);
    await waitFor('the test message', () => robotsWith('wecom', 'Trellis notification channel').length >= 1);
    expect(robotsWith('wecom', 'Trellis notification channel')[0]!.text).toContain('channel: line1-wecom');
    const m = await post('/api/v1/notify/channels/email/test', { to: ['it@hdjj.example.com'] });
    expect(m.statusCode, m.body).toBe(202);
    await waitFor('the test email', () => mail.mails.find((x) => x.to.includes('it@hdjj.example.com')));
    const audit = await t.ctx.db.query(`select 1 from audit_log where action = 'notify.channel.test'`);
    expect(audit.rowCount).toBe(2);
  });

  it('bad input is refused with 4xx and a message to act on', async () => {
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['POST', '/api/v1/notify/channels', { name: 'x1', connector: 'nope', kinds: ['task'] }, 400, /No connector/],
      ['POST', '/api/v1/notify/channels', { name: 'x2', connector: 'wecom-line1', audience: 'recipients', kinds: ['task'] }, 400, /smtp connector/],
      ['POST', '/api/v1/notify/channels', { name: 'x3', connector: 'mail', audience: 'group', kinds: ['task'] }, 400, /addresses to send to/],
      ['POST', '/api/v1/notify/channels', { name: 'x4', connector: 'wecom-line1', kinds: [] }, 400, /kind/],
      ['POST', '/api/v1/notify/channels', { name: 'Bad Name', connector: 'wecom-line1', kinds: ['task'] }, 400, /.+/],
      ['POST', '/api/v1/notify/channels', { name: 'line1-wecom', connector: 'wecom-line1', kinds: ['task'] }, 409, /already exists/],
      ['POST', '/api/v1/notify/channels', { name: 'x5', connector: 'wecom-line1', kinds: ['task'], departmentId: randomUUID() }, 400, /no department/],
      ['PUT', '/api/v1/notify/templates/task/zh-CN', { title: '{{ not a path }}', body: 'x' }, 400, /placeholder/],
      ['PUT', '/api/v1/notify/templates/task/fr', { title: 'x', body: 'y' }, 400, /.+/],
      ['PUT', '/api/v1/notify/preferences', { email: 'not-an-address' }, 400, /email/],
      ['PUT', '/api/v1/notify/preferences', { channels: { task: ['sms'] } }, 400, /.+/],
      ['PUT', '/api/v1/notify/preferences', { quietHours: { start: '25:00', end: '07:00' } }, 400, /HH:MM/],
      ['POST', '/api/v1/notify/channels/nope/test', {}, 404, /No notification channel/],
      ['POST', '/api/v1/integration/connectors', { name: 'w2', kind: 'wecom', config: { baseUrl: 'ftp://x' }, secrets: { key: 'k' } }, 400, /.+/],
      ['POST', '/api/v1/integration/connectors', { name: 'd2', kind: 'dingtalk', config: {}, secrets: {} }, 400, /.+/],
      ['POST', '/api/v1/integration/connectors', { name: 's2', kind: 'smtp', config: { host: 'mail.example.com', from: 'nobody' } }, 400, /email address/],
    ];
    for (const [method, url, payload, status, msg] of cases) {
      const r = await admin.inject({ method: method as 'POST', url, payload: payload as Record<string, unknown> });
      expect(r.statusCode, `${method} ${url} ${JSON.stringify(payload)} → ${r.body}`).toBe(status);
      expect(r.headers['content-type']).toMatch(/problem\+json/);
      expect(r.body).toMatch(msg);
    }
    // a person without the role cannot manage channels or templates, but may set their own preferences
    const op = await loginAs(t, 'yang.operator', DEMO_PASSWORD);
    expect((await op.inject({ method: 'POST', url: '/api/v1/notify/channels', payload: { name: 'x9', connector: 'wecom-line1', kinds: ['task'] } })).statusCode).toBe(403);
    expect((await op.inject({ method: 'PUT', url: '/api/v1/notify/templates/task/en', payload: { title: 'x', body: 'y' } })).statusCode).toBe(403);
    expect((await op.inject({ method: 'GET', url: '/api/v1/notify/preferences' })).statusCode).toBe(200);
    expect((await t.ctx.db.query(`select 1 from notify_channels where name like 'x%'`)).rowCount).toBe(0);
  });

  it('changing and deleting a channel changes and removes its flow (audited)', async () => {
    const c = await post('/api/v1/notify/channels', { name: 'tmp-ding', connector: 'ding-line1', kinds: ['reminder'] });
    expect(c.statusCode, c.body).toBe(201);
    const p = await admin.inject({ method: 'PATCH', url: '/api/v1/notify/channels/tmp-ding', payload: { name: 'tmp-ding2', enabled: false } });
    expect(p.statusCode, p.body).toBe(200);
    expect(p.json()).toMatchObject({ name: 'tmp-ding2', enabled: false, flow: { name: 'notify.tmp-ding2' } });
    const f = await admin.inject('/api/v1/integration/flows/notify.tmp-ding2');
    expect(f.json()).toMatchObject({ enabled: false, eventTypes: ['trellis.notify.message'] });
    const d = await admin.inject({ method: 'DELETE', url: '/api/v1/notify/channels/tmp-ding2' });
    expect(d.statusCode).toBe(204);
    expect((await admin.inject('/api/v1/integration/flows/notify.tmp-ding2')).statusCode).toBe(404);
    const audit = await t.ctx.db.query<{ action: string }>(`select action from audit_log where action like 'notify.channel.%' and action <> 'notify.channel.test' order by seq`);
    expect(audit.rows.map((a) => a.action).slice(-3)).toEqual(['notify.channel.create', 'notify.channel.update', 'notify.channel.delete']);
  });
});
