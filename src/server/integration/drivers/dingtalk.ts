// DingTalk (钉钉) group robot destination with the "加签" (signed) security setting.
//
// URL: `<baseUrl>/robot/send?access_token=<token>&timestamp=<ms>&sign=<sign>` where
// sign = URL-encode(base64(HMAC-SHA256(key = secret, data = timestamp + "\n" + secret))) and the
// timestamp (milliseconds) must be within an hour of DingTalk's clock: it is taken from the wall
// clock at each attempt, never from the event. Access token and signing secret are secrets.
// DingTalk answers `{errcode, errmsg}`: 0 ok; -1 (busy), 130101 and 410100 (sending too fast)
// are retried; 310000 (signature, keyword or IP refused), 300001 (bad token), 400102 (robot
// stopped)… are permanent. Connection test: a signed request without a message, which DingTalk
// refuses with a parameter error when token and signature are right (nothing reaches the group).
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { ConnectionTestResult, DeliveryOutcome, DeliveryRequest, DestinationHandle, Driver } from '../types.ts';
import { registerDriver } from './registry.ts';
import { ui } from '../../../shared/integration-api.ts';
import { RobotClient, baseUrl, errcodeOf, isOutcome, markdownOf, messageOf, networkFailure, robotOutcome, type RobotMessage } from './wecom.ts';

export const dingtalkConfigSchema = z.strictObject({
  baseUrl: baseUrl('https://oapi.dingtalk.com').meta(ui(['接口地址', 'API base URL'])),
  msgtype: z.enum(['markdown', 'text']).default('markdown').meta(ui(['消息格式', 'Message format'])),
  timeoutMs: z.number().int().min(50).max(60_000).default(10_000).meta(ui(['超时 (毫秒)', 'Timeout (ms)'])),
});
export type DingtalkConfig = z.infer<typeof dingtalkConfigSchema>;
export const dingtalkSecretSchema = z.strictObject({
  accessToken: z.string().min(1).max(300).meta(ui(['access_token (Webhook 地址中)', 'access_token (from the webhook address)'])),
  /** The robot's signing secret (SEC…); without it the robot must use keywords or an IP list. */
  secret: z.string().min(1).max(300).optional().meta(ui(['加签密钥 (SEC…)', 'Signing secret (SEC…)'], { help: ['不加签时机器人须设关键词或 IP 白名单', 'without it the robot must use keywords or an IP list'] })),
});
export type DingtalkSecrets = z.infer<typeof dingtalkSecretSchema>;

/** DingTalk's robot signature of a timestamp (ms), base64 — URL-encode it when put in a query. */
export function dingtalkSign(timestampMs: number | string, secret: string): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`, 'utf8').digest('base64');
}

const RETRYABLE = new Set([-1, 130101, 410100]);
const REFUSED = new Set([310000, 300001, 300005, 400102]);

export function dingtalkBody(m: RobotMessage, msgtype: 'markdown' | 'text'): Record<string, unknown> {
  return msgtype === 'markdown'
    ? { msgtype: 'markdown', markdown: { title: m.title.slice(0, 100), text: markdownOf(m) } }
    : { msgtype: 'text', text: { content: `${m.title}\n${m.text}` } };
}

export class DingtalkDestination implements DestinationHandle {
  private readonly config: DingtalkConfig;
  private readonly secrets: DingtalkSecrets;
  private readonly robot: RobotClient;
  constructor(config: DingtalkConfig, secrets: DingtalkSecrets) {
    this.config = config;
    this.secrets = secrets;
    this.robot = new RobotClient(config.timeoutMs);
  }
  /** A freshly signed URL (the signature is valid for an hour). */
  url(now = Date.now()): string {
    const q = new URLSearchParams({ access_token: this.secrets.accessToken });
    if (this.secrets.secret) {
      q.set('timestamp', String(now));
      q.set('sign', dingtalkSign(now, this.secrets.secret));
    }
    return `${this.config.baseUrl}/robot/send?${q.toString()}`;
  }
  async send(req: DeliveryRequest): Promise<DeliveryOutcome> {
    const m = messageOf(req);
    if (isOutcome(m)) return m;
    try {
      return robotOutcome('DingTalk robot', await this.robot.post(this.url(), dingtalkBody(m, this.config.msgtype)), errcodeOf, RETRYABLE);
    } catch (err) {
      return networkFailure('DingTalk robot', err);
    }
  }
  async test(): Promise<ConnectionTestResult> {
    const t0 = performance.now();
    try {
      const a = await this.robot.post(this.url(), {}, Math.min(this.config.timeoutMs, 10_000));
      const ms = Math.round(performance.now() - t0);
      const c = a.body ? errcodeOf(a.body) : null;
      if (a.status !== 200 || !c) return { ok: false, message: `reachable, but it answered HTTP ${a.status} without a DingTalk result`, latencyMs: ms };
      if (REFUSED.has(c.code)) return { ok: false, message: `DingTalk refused the robot's token or signature (${c.code} ${c.message}); check access token and signing secret`, latencyMs: ms };
      if (RETRYABLE.has(c.code)) return { ok: false, message: `DingTalk is busy (${c.code}); try again`, latencyMs: ms };
      return { ok: true, message: `DingTalk robot reachable; token and signature accepted (empty test message refused as intended: ${c.code})`, latencyMs: ms };
    } catch (err) {
      return { ok: false, message: (err as Error).message, latencyMs: Math.round(performance.now() - t0) };
    }
  }
  async close(): Promise<void> {
    this.robot.close();
  }
}

export const dingtalkDriver: Driver<DingtalkConfig, DingtalkSecrets> = {
  kind: 'dingtalk',
  label: { zh: '钉钉群机器人', en: 'DingTalk group robot' },
  configSchema: dingtalkConfigSchema as unknown as z.ZodType<DingtalkConfig>,
  secretSchema: dingtalkSecretSchema,
  async openDestination(config, secrets) {
    if (!secrets?.accessToken) throw new Error('put the robot access token (and its signing secret) in the secrets: {"accessToken": "…", "secret": "SEC…"}');
    return new DingtalkDestination(config, secrets);
  },
};

registerDriver(dingtalkDriver);
