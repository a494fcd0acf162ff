// Email over SMTP (nodemailer) as a delivery destination.
//
// Config: host, port, `security` (tls = implicit TLS, usually 465; starttls = upgrade required,
// usually 587; none = plain, only for a relay on a trusted network), from, optional reply-to;
// user and password in the secrets. The payload is a rendered message { title, text, markdown?,
// to: [addresses], lang }: title → Subject, text → text/plain, a small HTML rendering of it →
// text/html. The Message-ID is derived from the delivery's idempotency key, so a re-send after a
// lost answer carries the same id and mail systems (and people) can tell it is the same message.
// Outcome: 2xx accepted; a 4xx SMTP reply, connection errors and timeouts are retried; 5xx replies
// (unknown mailbox, relay refused, 535 bad credentials) are permanent.
// Connection test: connect, TLS, authenticate (nodemailer `verify`); no mail is sent.
import nodemailer, { type Transporter } from 'nodemailer';
import { z } from 'zod';
import type { ConnectionTestResult, DeliveryOutcome, DeliveryRequest, DestinationHandle, Driver } from '../types.ts';
import { registerDriver } from './registry.ts';
import { ui } from '../../../shared/integration-api.ts';
import { isOutcome, messageOf, type RobotMessage } from './wecom.ts';

const Email = z.string().max(320).regex(/^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$/, 'an email address like name@example.com');

export const smtpConfigSchema = z.strictObject({
  host: z.string().min(1).max(255).regex(/^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:.]+\]$/, 'a host name or IP address').meta(ui(['SMTP 服务器', 'SMTP server'], { placeholder: 'smtp.plant.local' })),
  port: z.number().int().min(1).max(65_535).default(587).meta(ui(['端口', 'Port'])),
  security: z.enum(['tls', 'starttls', 'none']).default('starttls').meta(ui(['加密方式', 'Security'], { help: ['tls：465 端口直接加密；starttls：587 端口升级加密', 'tls: encrypted from the start (465); starttls: upgraded (587)'] })),
  from: Email.meta(ui(['发件地址', 'From address'], { placeholder: 'trellis@plant.local' })),
  fromName: z.string().max(200).optional().meta(ui(['发件人名称', 'From name'])),
  replyTo: Email.optional().meta(ui(['回复地址', 'Reply-to'])),
  /** Verify the server's certificate (false only for a test server with a self-signed one). */
  rejectUnauthorized: z.boolean().default(true).meta(ui(['校验服务器证书', 'Verify the server certificate'])),
  timeoutMs: z.number().int().min(100).max(120_000).default(20_000).meta(ui(['超时 (毫秒)', 'Timeout (ms)'])),
});
export type SmtpConfig = z.infer<typeof smtpConfigSchema>;
export const smtpSecretSchema = z.strictObject({
  user: z.string().min(1).max(320).meta(ui(['用户名', 'User name'])),
  password: z.string().min(1).max(1000).meta(ui(['密码', 'Password'])),
});
export type SmtpSecrets = z.infer<typeof smtpSecretSchema>;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The text body as simple HTML: escaped, **bold**, [label](url) links, line breaks. */
export function htmlOf(m: RobotMessage): string {
  const body = esc(m.markdown ?? m.text)
    .replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>')
    .replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+|\/[^)\s]*)\)/g, '<a href="$2">$1</a>')
    .replace(/^#+\s*(.*)$/gm, '<b>$1</b>')
    .replace(/\n/g, '<br>\n');
  return `<!doctype html><html lang="${m.lang ?? 'zh-CN'}"><body><h3>${esc(m.title)}</h3><p>${body}</p></body></html>`;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
}

export function smtpOutcome(err: SmtpError): DeliveryOutcome {
  const rc = err.responseCode;
  const what = `SMTP ${err.code ?? 'error'}${rc ? ` ${rc}` : ''}: ${(err.response ?? err.message).slice(0, 300)}`;
  if (rc !== undefined && rc >= 500) return { ok: false, retryable: false, status: rc, error: `${what} (refused; fix the address or the SMTP settings)` };
  if (rc !== undefined && rc >= 400) return { ok: false, retryable: true, status: rc, error: what };
  if (err.code === 'EAUTH') return { ok: false, retryable: false, error: `${what} (user or password refused)` };
  if (err.code === 'EENVELOPE' || err.code === 'EMESSAGE') return { ok: false, retryable: false, error: what };
  return { ok: false, retryable: true, error: what };
}

export class SmtpDestination implements DestinationHandle {
  private readonly config: SmtpConfig;
  private readonly transport: Transporter;
  constructor(config: SmtpConfig, secrets: SmtpSecrets | undefined) {
    this.config = config;
    this.transport = nodemailer.createTransport({
      // a few reused connections: no TCP + TLS + sign-in per message
      pool: true,
      maxConnections: 4,
      host: config.host,
      port: config.port,
      secure: config.security === 'tls',
      requireTLS: config.security === 'starttls',
      ignoreTLS: config.security === 'none',
      ...(secrets ? { auth: { user: secrets.user, pass: secrets.password } } : {}),
      tls: { rejectUnauthorized: config.rejectUnauthorized },
      connectionTimeout: config.timeoutMs,
      greetingTimeout: config.timeoutMs,
      socketTimeout: config.timeoutMs,
    });
  }
  async send(req: DeliveryRequest): Promise<DeliveryOutcome> {
    const m = messageOf(req);
    if (isOutcome(m)) return m;
    const to = (m.to ?? []).filter((a) => Email.safeParse(a).success);
    if (to.length === 0) return { ok: false, retryable: false, error: 'The message has no valid recipient address in "to"; set an email address for the person (profile or notification preferences).' };
    try {
      const info = (await this.transport.sendMail({
        from: this.config.fromName ? { name: this.config.fromName, address: this.config.from } : this.config.from,
        to,
        ...(this.config.replyTo ? { replyTo: this.config.replyTo } : {}),
        subject: m.title,
        text: m.text,
        html: htmlOf(m),
        messageId: `<${req.idempotencyKey}@trellis.notify>`,
        headers: {
          'X-Trellis-Idempotency-Key': req.idempotencyKey,
          ...(m.kind ? { 'X-Trellis-Kind': m.kind } : {}),
          ...(m.lang ? { 'Content-Language': m.lang } : {}),
        },
      })) as { messageId?: string; accepted?: unknown[]; rejected?: unknown[]; response?: string };
      if ((info.accepted ?? []).length === 0) return { ok: false, retryable: false, error: `The SMTP server accepted no recipient: ${String(info.response ?? '').slice(0, 300)}` };
      return { ok: true, externalRef: info.messageId, detail: { accepted: info.accepted, rejected: info.rejected } };
    } catch (err) {
      return smtpOutcome(err as SmtpError);
    }
  }
  async test(): Promise<ConnectionTestResult> {
    const t0 = performance.now();
    try {
      await this.transport.verify();
      return { ok: true, message: `SMTP server ${this.config.host}:${this.config.port} reachable; ${this.config.security === 'none' ? 'no TLS' : 'TLS'} and sign-in accepted`, latencyMs: Math.round(performance.now() - t0) };
    } catch (err) {
      const o = smtpOutcome(err as SmtpError);
      return { ok: false, message: o.ok ? 'unexpected' : o.error, latencyMs: Math.round(performance.now() - t0) };
    }
  }
  async close(): Promise<void> {
    this.transport.close();
  }
}

export const smtpDriver: Driver<SmtpConfig, SmtpSecrets> = {
  kind: 'smtp',
  label: { zh: '电子邮件（SMTP）', en: 'Email (SMTP)' },
  configSchema: smtpConfigSchema as unknown as z.ZodType<SmtpConfig>,
  secretSchema: smtpSecretSchema,
  async openDestination(config, secrets) {
    return new SmtpDestination(config, secrets);
  },
};

registerDriver(smtpDriver);
