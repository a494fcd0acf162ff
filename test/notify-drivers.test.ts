// The notification drivers on their own, against the local receivers: signatures as the services
// check them (including base64 signatures with + / = that must be URL-encoded), and how each
// service's answers are classified (retry vs permanent), which decides between a retry and a
// dead letter. No database needed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryRequest, DestinationHandle } from '../src/server/integration/index.ts';
import { getDriver } from '../src/server/integration/index.ts';
import { DingtalkDestination, dingtalkSign } from '../src/server/integration/drivers/dingtalk.ts';
import { feishuSign } from '../src/server/integration/drivers/feishu.ts';
import { startMailServer, startRobots, type MailServer, type Robots } from './helpers/robots.ts';

let robots: Robots;
let mail: MailServer;
beforeAll(async () => {
  robots = await startRobots();
  mail = await startMailServer();
});
afterAll(async () => {
  await robots?.close();
  await mail?.close();
});

let seq = 0;
function req(payload: unknown): DeliveryRequest {
  seq++;
  return {
    deliveryId: String(seq),
    idempotencyKey: `k${String(seq).padStart(39, '0')}`,
    partitionKey: null,
    event: { specversion: '1.0', id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`, source: '/t', type: 'trellis.notify.message', time: new Date().toISOString(), datacontenttype: 'application/json', data: {} },
    payload,
    attempt: 1,
  };
}
const msg = (title: string, extra: Record<string, unknown> = {}) => ({ title, text: `body of ${title}`, markdown: `**body** of ${title}`, lang: 'zh-CN', kind: 'task', ...extra });

async function open(kind: string, config: unknown, secrets: unknown): Promise<DestinationHandle> {
  const d = getDriver(kind)!;
  return d.openDestination!(d.configSchema.parse(config), d.secretSchema!.parse(secrets), { ctx: null as never, connectorId: 'c', connectorName: kind });
}

describe('signatures', () => {
  it('DingTalk: the signature goes URL-encoded into the query and survives + / = in base64', () => {
    const secret = 'SECtest-secret';
    const dest = new DingtalkDestination({ baseUrl: 'http://127.0.0.1:1', msgtype: 'markdown', timeoutMs: 1000 }, { accessToken: 'tok', secret });
    let checked = 0;
    for (let t = 1_760_000_000_000; checked < 3 && t < 1_760_000_010_000; t++) {
      const sign = dingtalkSign(t, secret);
      if (!/[+/]/.test(sign)) continue;
      const u = new URL(dest.url(t));
      expect(u.searchParams.get('timestamp')).toBe(String(t));
      expect(u.searchParams.get('sign')).toBe(sign); // decoded back exactly: + was sent as %2B
      expect(u.search).not.toContain('+');
      checked++;
    }
    expect(checked).toBe(3);
  });

  it('Feishu: key = timestamp + "\\n" + secret, empty message (not DingTalk\'s order)', () => {
    expect(feishuSign('1599360473', 'abc')).not.toBe(dingtalkSign('1599360473', 'abc'));
    expect(feishuSign('1599360473', 'abc')).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });
});

describe('answers → outcomes', () => {
  it('WeCom: errcode 0 ok; 45009 and HTTP 503 retry; a wrong key is permanent; a bad payload is permanent without a request', async () => {
    const ok = await open('wecom', { baseUrl: robots.url }, { key: robots.wecom.key });
    expect(await ok.send(req(msg('w1')))).toMatchObject({ ok: true, status: 200 });
    robots.failNext('wecom', 1, { json: { errcode: 45009, errmsg: 'api freq out of limit' } });
    expect(await ok.send(req(msg('w2')))).toMatchObject({ ok: false, retryable: true });
    robots.failNext('wecom', 1, { status: 503 });
    expect(await ok.send(req(msg('w3')))).toMatchObject({ ok: false, retryable: true, status: 503 });
    const before = robots.requests.length;
    expect(await ok.send(req({ text: 'no title' }))).toMatchObject({ ok: false, retryable: false });
    expect(robots.requests.length).toBe(before);
    const bad = await open('wecom', { baseUrl: robots.url }, { key: 'wrong' });
    const o = await bad.send(req(msg('w4')));
    expect(o).toMatchObject({ ok: false, retryable: false });
    expect(!o.ok && o.error).toContain('93000');
    expect(!o.ok && o.error).not.toContain('wrong'); // the key never appears in messages
    expect(robots.of('wecom').map((m) => m.title)).toEqual(['w1']);
    await ok.close();
    await bad.close();
  });

  it('DingTalk: 130101 (too fast) retries; a wrong secret is refused (310000) and permanent', async () => {
    const ok = await open('dingtalk', { baseUrl: robots.url }, robots.dingtalk);
    expect(await ok.send(req(msg('d1')))).toMatchObject({ ok: true });
    robots.failNext('dingtalk', 1, { json: { errcode: 130101, errmsg: 'send too fast' } });
    expect(await ok.send(req(msg('d2')))).toMatchObject({ ok: false, retryable: true });
    const bad = await open('dingtalk', { baseUrl: robots.url }, { ...robots.dingtalk, secret: 'SECwrong' });
    const o = await bad.send(req(msg('d3')));
    expect(o).toMatchObject({ ok: false, retryable: false });
    expect(!o.ok && o.error).toContain('310000');
    expect(robots.of('dingtalk').map((m) => m.title)).toEqual(['d1']);
    await ok.close();
    await bad.close();
  });

  it('Feishu: 11232 (rate limited) retries; wrong secret 19021 permanent; English messages use en_us', async () => {
    const ok = await open('feishu', { baseUrl: robots.url }, robots.feishu);
    expect(await ok.send(req(msg('f1', { lang: 'en' })))).toMatchObject({ ok: true });
    const last = robots.of('feishu').at(-1)!;
    expect(Object.keys((last.body.content as { post: object }).post)).toEqual(['en_us']);
    robots.failNext('feishu', 1, { json: { code: 11232, msg: 'frequency limited' } });
    expect(await ok.send(req(msg('f2')))).toMatchObject({ ok: false, retryable: true });
    const bad = await open('feishu', { baseUrl: robots.url }, { ...robots.feishu, secret: 'nope' });
    const o = await bad.send(req(msg('f3')));
    expect(o).toMatchObject({ ok: false, retryable: false });
    expect(!o.ok && o.error).toContain('19021');
    await ok.close();
    await bad.close();
  });

  it('network failure is retryable', async () => {
    const h = await open('wecom', { baseUrl: 'http://127.0.0.1:9', timeoutMs: 500 }, { key: 'k' });
    expect(await h.send(req(msg('n1')))).toMatchObject({ ok: false, retryable: true });
    await h.close();
  });

  it('SMTP: STARTTLS + sign-in delivers; 451 retries; bad password and missing address are permanent; refused connection retries', async () => {
    const cfg = { host: '127.0.0.1', port: mail.port, security: 'starttls', from: 'trellis@hdjj.example.com', rejectUnauthorized: false, timeoutMs: 5000 };
    const ok = await open('smtp', cfg, { user: mail.user, password: mail.password });
    const r1 = req(msg('测试邮件 s1', { to: ['a@hdjj.example.com'] }));
    expect(await ok.send(r1)).toMatchObject({ ok: true });
    expect(mail.mails.at(-1)).toMatchObject({ subject: '测试邮件 s1', to: ['a@hdjj.example.com'], messageId: `<${r1.idempotencyKey}@trellis.notify>` });
    expect(mail.mails.at(-1)!.text).toContain('body of 测试邮件 s1');
    mail.tempFailures = 1;
    expect(await ok.send(req(msg('s2', { to: ['a@hdjj.example.com'] })))).toMatchObject({ ok: false, retryable: true, status: 451 });
    expect(await ok.send(req(msg('s3')))).toMatchObject({ ok: false, retryable: false });
    const bad = await open('smtp', cfg, { user: mail.user, password: 'wrong' });
    expect(await bad.send(req(msg('s4', { to: ['a@hdjj.example.com'] })))).toMatchObject({ ok: false, retryable: false });
    const down = await open('smtp', { ...cfg, port: 9, timeoutMs: 1000 }, { user: 'u', password: 'p' });
    expect(await down.send(req(msg('s5', { to: ['a@hdjj.example.com'] })))).toMatchObject({ ok: false, retryable: true });
    expect(mail.mails.map((m) => m.subject)).toEqual(['测试邮件 s1']);
    await ok.close();
    await bad.close();
    await down.close();
  });
});
