// WeCom (企业微信) group robot destination, and what the chat-robot drivers share (DingTalk and
// Feishu import the message schema and the JSON exchange from here).
//
// A delivery's payload is a rendered message (the notify engine renders templates before the event
// is written): { title, text, markdown?, lang?, kind?, link? }. The robot webhook is
// `<baseUrl>/cgi-bin/webhook/send?key=<key>`; the key is the credential and lives in the secrets.
// WeCom answers HTTP 200 with `{errcode, errmsg}`: errcode 0 is success; -1 (busy), 45009 (too
// many messages, 20 a minute per robot) and 45033 (too many concurrent calls) are worth retrying;
// every other errcode (93000 bad key, 40008 bad message type, 44004 empty content…) is permanent:
// sending the same message again cannot succeed. Robots cannot deduplicate: a lost answer means a
// retry may post twice (the delivery's idempotency key is still kept and logged).
// Connection test: an empty text message; WeCom refuses it with 44004 when the key is valid and
// with 93000 when it is not, so nothing reaches the group.
import { z } from 'zod';
import type { ConnectionTestResult, DeliveryOutcome, DeliveryRequest, DestinationHandle, Driver } from '../types.ts';
import { HttpClient, classify, httpConfigSchema, retryAfterMs } from './http.ts';
import { registerDriver } from './registry.ts';
import { ui } from '../../../shared/integration-api.ts';

/** What a notification channel delivers: one rendered message. */
export const RobotMessage = z.object({
  title: z.string().min(1).max(500),
  /** Plain text (also the email body). */
  text: z.string().max(20_000),
  /** Markdown for channels that render it (defaults to text). */
  markdown: z.string().max(20_000).optional(),
  lang: z.enum(['zh-CN', 'en']).optional(),
  kind: z.string().max(60).optional(),
  link: z.string().max(2000).nullish(),
  /** Email recipients (SMTP only). */
  to: z.array(z.string().max(320)).max(100).optional(),
});
export type RobotMessage = z.infer<typeof RobotMessage>;

export const baseUrl = (def: string) =>
  z
    .string()
    .max(500)
    .regex(/^https?:\/\/[^\s@/?#]+(:\d+)?(\/[^\s?#]*)?$/, 'an http(s) base URL without user name, query or fragment, e.g. https://qyapi.weixin.qq.com')
    .default(def)
    .transform((u) => u.replace(/\/+$/, ''));

/** Parses a delivery's payload as a message, or a permanent outcome that says what is wrong. */
export function messageOf(req: DeliveryRequest): RobotMessage | DeliveryOutcome {
  const r = RobotMessage.safeParse(req.payload);
  if (r.success) return r.data;
  return {
    ok: false,
    retryable: false,
    error: `The payload is not a notification message (${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}); the flow mapping must give {title, text}.`,
  };
}

export const isOutcome = (v: RobotMessage | DeliveryOutcome): v is DeliveryOutcome => 'ok' in v;

const short = (t: string, n = 300) => (t.length > n ? `${t.slice(0, n)}…` : t);

export interface RobotAnswer {
  status: number;
  body: Record<string, unknown> | null;
  text: string;
  retryAfter: number | undefined;
}

/** A JSON POST to a robot webhook; network errors and timeouts are thrown as Error. */
export class RobotClient {
  private readonly client: HttpClient;
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
    this.client = new HttpClient(httpConfigSchema.parse({ url: 'http://robot.invalid/', timeoutMs }), undefined);
  }
  async post(url: string, body: unknown, timeoutMs = this.timeoutMs): Promise<RobotAnswer> {
    const a = await this.client.request('POST', url, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify(body), timeoutMs);
    let parsed: Record<string, unknown> | null = null;
    if (a.body && typeof a.body === 'object') parsed = a.body as Record<string, unknown>;
    else if (a.text) {
      try {
        const v = JSON.parse(a.text) as unknown;
        if (v && typeof v === 'object') parsed = v as Record<string, unknown>;
      } catch {
        parsed = null;
      }
    }
    return { status: a.status, body: parsed, text: a.text, retryAfter: retryAfterMs(a.headers['retry-after']) };
  }
  close(): void {
    this.client.close();
  }
}

/**
 * The outcome of a robot answer: HTTP status first (2xx needed), then the service's own code
 * (`codeOf`), retryable when it is in `retryableCodes`. `where` names the service, never the URL
 * (the URL carries the credential).
 */
export function robotOutcome(where: string, a: RobotAnswer, codeOf: (b: Record<string, unknown>) => { code: number; message: string } | null, retryableCodes: ReadonlySet<number>): DeliveryOutcome {
  const kind = classify(a.status);
  if (kind !== 'ok') {
    return {
      ok: false,
      retryable: kind === 'retryable',
      status: a.status,
      error: `${where} answered HTTP ${a.status}${a.text ? `: ${short(a.text.replace(/\s+/g, ' '))}` : ''}`,
      ...(kind === 'retryable' && a.retryAfter !== undefined ? { retryAfterMs: a.retryAfter } : {}),
    };
  }
  const c = a.body ? codeOf(a.body) : null;
  if (!c) return { ok: false, retryable: true, status: a.status, error: `${where} answered HTTP ${a.status} without its JSON result: ${short(a.text)}` };
  if (c.code === 0) return { ok: true, status: a.status, detail: a.body };
  const retryable = retryableCodes.has(c.code);
  return {
    ok: false,
    retryable,
    status: a.status,
    error: `${where} refused the message: code ${c.code} ${c.message}${retryable ? ' (temporary; will retry)' : ''}`,
  };
}

export const networkFailure = (where: string, err: unknown): DeliveryOutcome => ({ ok: false, retryable: true, error: `${where} unreachable: ${(err as Error).message}` });

/** The markdown of a message with its title as a heading (robots show no separate title for markdown). */
export function markdownOf(m: RobotMessage): string {
  const body = m.markdown ?? m.text;
  return body.startsWith('#') ? body : `### ${m.title}\n\n${body}`;
}

export const errcodeOf = (b: Record<string, unknown>) => (typeof b.errcode === 'number' ? { code: b.errcode, message: String(b.errmsg ?? '') } : null);

// ---- WeCom ----------------------------------------------------------------------------------------

export const wecomConfigSchema = z.strictObject({
  baseUrl: baseUrl('https://qyapi.weixin.qq.com').meta(ui(['接口地址', 'API base URL'])),
  msgtype: z.enum(['markdown', 'text']).default('markdown').meta(ui(['消息格式', 'Message format'])),
  timeoutMs: z.number().int().min(50).max(60_000).default(10_000).meta(ui(['超时 (毫秒)', 'Timeout (ms)'])),
});
export type WecomConfig = z.infer<typeof wecomConfigSchema>;
export const wecomSecretSchema = z.strictObject({
  key: z.string().min(1).max(200).meta(ui(['机器人 key (Webhook 地址中的 key)', 'Robot key (the key in the webhook address)'])),
});
export type WecomSecrets = z.infer<typeof wecomSecretSchema>;

const WECOM_RETRYABLE = new Set([-1, 45009, 45033]);
/** WeCom's limits: markdown content 4096 bytes, text 2048 bytes. */
function cutBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = s;
  while (Buffer.byteLength(out) > max - 3) out = out.slice(0, Math.floor(out.length * 0.9));
  return `${out}…`;
}

export function wecomBody(m: RobotMessage, msgtype: 'markdown' | 'text'): Record<string, unknown> {
  return msgtype === 'markdown'
    ? { msgtype: 'markdown', markdown: { content: cutBytes(markdownOf(m), 4096) } }
    : { msgtype: 'text', text: { content: cutBytes(`${m.title}\n${m.text}`, 2048) } };
}

export class WecomDestination implements DestinationHandle {
  private readonly config: WecomConfig;
  private readonly secrets: WecomSecrets;
  private readonly robot: RobotClient;
  constructor(config: WecomConfig, secrets: WecomSecrets) {
    this.config = config;
    this.secrets = secrets;
    this.robot = new RobotClient(config.timeoutMs);
  }
  private url(): string {
    return `${this.config.baseUrl}/cgi-bin/webhook/send?key=${encodeURIComponent(this.secrets.key)}`;
  }
  async send(req: DeliveryRequest): Promise<DeliveryOutcome> {
    const m = messageOf(req);
    if (isOutcome(m)) return m;
    try {
      return robotOutcome('WeCom robot', await this.robot.post(this.url(), wecomBody(m, this.config.msgtype)), errcodeOf, WECOM_RETRYABLE);
    } catch (err) {
      return networkFailure('WeCom robot', err);
    }
  }
  async test(): Promise<ConnectionTestResult> {
    const t0 = performance.now();
    try {
      const a = await this.robot.post(this.url(), { msgtype: 'text', text: { content: '' } }, Math.min(this.config.timeoutMs, 10_000));
      const ms = Math.round(performance.now() - t0);
      const c = a.body ? errcodeOf(a.body) : null;
      if (a.status !== 200 || !c) return { ok: false, message: `reachable, but it answered HTTP ${a.status} without a WeCom result`, latencyMs: ms };
      if (c.code === 93000) return { ok: false, message: `WeCom refused the robot key (93000 ${c.message}); copy the key from the robot's webhook address again`, latencyMs: ms };
      if (c.code === -1 || c.code === 45009) return { ok: false, message: `WeCom is busy (${c.code}); try again`, latencyMs: ms };
      return { ok: true, message: `WeCom robot reachable; key accepted (test message refused as intended: ${c.code})`, latencyMs: ms };
    } catch (err) {
      return { ok: false, message: (err as Error).message, latencyMs: Math.round(performance.now() - t0) };
    }
  }
  async close(): Promise<void> {
    this.robot.close();
  }
}

export const wecomDriver: Driver<WecomConfig, WecomSecrets> = {
  kind: 'wecom',
  label: { zh: '企业微信群机器人', en: 'WeCom group robot' },
  configSchema: wecomConfigSchema as unknown as z.ZodType<WecomConfig>,
  secretSchema: wecomSecretSchema,
  async openDestination(config, secrets) {
    if (!secrets?.key) throw new Error('put the robot key (the key= part of the webhook address) in the secrets: {"key": "…"}');
    return new WecomDestination(config, secrets);
  },
};

registerDriver(wecomDriver);
