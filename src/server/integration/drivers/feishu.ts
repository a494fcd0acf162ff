// Feishu / Lark (飞书) custom bot destination with signature verification ("签名校验").
//
// URL: `<baseUrl>/open-apis/bot/v2/hook/<hook id>` (the hook id is the credential: secrets).
// The body carries `timestamp` (seconds, as a string, within an hour of Feishu's clock) and
// `sign` = base64(HMAC-SHA256(key = timestamp + "\n" + secret, data = empty)) — note the key/data
// order is the reverse of DingTalk's. Messages are `post` (rich text with a title) in the
// message's language, or plain `text`. Feishu answers `{code, msg}` (older bots:
// `{StatusCode, StatusMessage}`): 0 ok; 11232/11233 (frequency limited) and 9499 with HTTP 5xx
// are retried; 19021 (bad signature or stale timestamp), 19022 (IP), 19024 (keyword), 19001
// (bad hook) and other codes are permanent. Connection test: a signed body without a message.
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { ConnectionTestResult, DeliveryOutcome, DeliveryRequest, DestinationHandle, Driver } from '../types.ts';
import { registerDriver } from './registry.ts';
import { ui } from '../../../shared/integration-api.ts';
import { RobotClient, baseUrl, isOutcome, messageOf, networkFailure, robotOutcome, type RobotMessage } from './wecom.ts';

export const feishuConfigSchema = z.strictObject({
  baseUrl: baseUrl('https://open.feishu.cn').meta(ui(['接口地址', 'API base URL'])),
  msgtype: z.enum(['post', 'text']).default('post').meta(ui(['消息格式', 'Message format'])),
  timeoutMs: z.number().int().min(50).max(60_000).default(10_000).meta(ui(['超时 (毫秒)', 'Timeout (ms)'])),
});
export type FeishuConfig = z.infer<typeof feishuConfigSchema>;
export const feishuSecretSchema = z.strictObject({
  /** The last part of the webhook address …/bot/v2/hook/<hookId>. */
  hookId: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, 'the id at the end of the webhook address (letters, digits, - and _)').meta(ui(['Webhook ID (地址 …/bot/v2/hook/ 之后的部分)', 'Webhook id (after …/bot/v2/hook/)'])),
  /** The bot's signing secret; without it the bot must use keywords or an IP list. */
  secret: z.string().min(1).max(300).optional().meta(ui(['签名校验密钥', 'Signing secret'], { help: ['不校验签名时机器人须设关键词或 IP 白名单', 'without it the bot must use keywords or an IP list'] })),
});
export type FeishuSecrets = z.infer<typeof feishuSecretSchema>;

/** Feishu's bot signature of a timestamp (seconds), base64. */
export function feishuSign(timestampS: number | string, secret: string): string {
  return createHmac('sha256', `${timestampS}\n${secret}`).update('').digest('base64');
}

const RETRYABLE = new Set([11232, 11233]);
const REFUSED = new Set([19001, 19021, 19022]);

const codeOf = (b: Record<string, unknown>) =>
  typeof b.code === 'number'
    ? { code: b.code, message: String(b.msg ?? '') }
    : typeof b.StatusCode === 'number'
      ? { code: b.StatusCode, message: String(b.StatusMessage ?? '') }
      : null;

export function feishuContent(m: RobotMessage, msgtype: 'post' | 'text'): Record<string, unknown> {
  if (msgtype === 'text') return { msg_type: 'text', content: { text: `${m.title}\n${m.text}` } };
  const lines = m.text.split('\n').map((line) => [{ tag: 'text', text: line }]);
  if (m.link && /^https?:\/\//.test(m.link)) lines.push([{ tag: 'a', text: m.lang === 'en' ? 'Open' : '打开', href: m.link } as never]);
  return { msg_type: 'post', content: { post: { [m.lang === 'en' ? 'en_us' : 'zh_cn']: { title: m.title, content: lines } } } };
}

export class FeishuDestination implements DestinationHandle {
  private readonly config: FeishuConfig;
  private readonly secrets: FeishuSecrets;
  private readonly robot: RobotClient;
  constructor(config: FeishuConfig, secrets: FeishuSecrets) {
    this.config = config;
    this.secrets = secrets;
    this.robot = new RobotClient(config.timeoutMs);
  }
  private url(): string {
    return `${this.config.baseUrl}/open-apis/bot/v2/hook/${encodeURIComponent(this.secrets.hookId)}`;
  }
  /** Adds timestamp and sign (fresh at each attempt) when the bot has a secret. */
  signed(body: Record<string, unknown>, nowMs = Date.now()): Record<string, unknown> {
    if (!this.secrets.secret) return body;
    const timestamp = String(Math.floor(nowMs / 1000));
    return { timestamp, sign: feishuSign(timestamp, this.secrets.secret), ...body };
  }
  async send(req: DeliveryRequest): Promise<DeliveryOutcome> {
    const m = messageOf(req);
    if (isOutcome(m)) return m;
    try {
      return robotOutcome('Feishu bot', await this.robot.post(this.url(), this.signed(feishuContent(m, this.config.msgtype))), codeOf, RETRYABLE);
    } catch (err) {
      return networkFailure('Feishu bot', err);
    }
  }
  async test(): Promise<ConnectionTestResult> {
    const t0 = performance.now();
    try {
      const a = await this.robot.post(this.url(), this.signed({}), Math.min(this.config.timeoutMs, 10_000));
      const ms = Math.round(performance.now() - t0);
      const c = a.body ? codeOf(a.body) : null;
      if (!c) return { ok: false, message: `reachable, but it answered HTTP ${a.status} without a Feishu result`, latencyMs: ms };
      if (REFUSED.has(c.code)) return { ok: false, message: `Feishu refused the bot's hook or signature (${c.code} ${c.message}); check the hook id, the secret and this server's clock`, latencyMs: ms };
      if (RETRYABLE.has(c.code)) return { ok: false, message: `Feishu is limiting this bot (${c.code}); try again`, latencyMs: ms };
      return { ok: true, message: `Feishu bot reachable; hook and signature accepted (empty test message refused as intended: ${c.code})`, latencyMs: ms };
    } catch (err) {
      return { ok: false, message: (err as Error).message, latencyMs: Math.round(performance.now() - t0) };
    }
  }
  async close(): Promise<void> {
    this.robot.close();
  }
}

export const feishuDriver: Driver<FeishuConfig, FeishuSecrets> = {
  kind: 'feishu',
  label: { zh: '飞书群机器人', en: 'Feishu / Lark bot' },
  configSchema: feishuConfigSchema as unknown as z.ZodType<FeishuConfig>,
  secretSchema: feishuSecretSchema,
  async openDestination(config, secrets) {
    if (!secrets?.hookId) throw new Error('put the bot hook id (end of the webhook address) and its signing secret in the secrets: {"hookId": "…", "secret": "…"}');
    return new FeishuDestination(config, secrets);
  },
};

registerDriver(feishuDriver);
