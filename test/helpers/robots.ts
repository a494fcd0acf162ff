// Local stand-ins for the chat robots and a mail server, on 127.0.0.1, for notification tests.
// They check what the real services check, the way the services document it:
//  - WeCom group robot: POST /cgi-bin/webhook/send?key=K; wrong key → errcode 93000; empty or
//    unknown message → 44004 / 40008.
//  - DingTalk robot: POST /robot/send?access_token=T&timestamp=MS&sign=S where S (URL-decoded) must
//    equal base64(HMAC-SHA256(key = secret, data = MS + "\n" + secret)) and MS be within an hour of
//    now; wrong token → 300001; bad signature or stale timestamp → 310000; missing message → 40035.
//  - Feishu bot: POST /open-apis/bot/v2/hook/ID with body {timestamp (s), sign, msg_type, content}
//    where sign must equal base64(HMAC-SHA256(key = timestamp + "\n" + secret, data = "")); wrong
//    hook → 19001; bad signature or stale timestamp → 19021; missing msg_type → 9499.
// Each keeps the messages it accepted and every raw request, and can fail on demand (a service
// error code, or an HTTP status) for the next N requests.
// The SMTP server (smtp-server) offers STARTTLS with its built-in certificate, requires sign-in
// and keeps every message with its decoded Subject and text part.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export type Service = 'wecom' | 'dingtalk' | 'feishu';

export interface RobotMessage {
  service: Service;
  at: number;
  body: Record<string, unknown>;
  /** The title / text as the service would show it. */
  title: string;
  text: string;
}

export interface RobotRequest {
  service: Service | 'unknown';
  path: string;
  body: unknown;
  answer: unknown;
  status: number;
}

type Failure = { json: Record<string, unknown> } | { status: number };

const safeEq = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export class Robots {
  readonly server: http.Server;
  url = '';
  readonly wecom = { key: 'wecom-key-0001' };
  readonly dingtalk = { accessToken: 'ding-token-0001', secret: 'SECding0001secret+/=' };
  readonly feishu = { hookId: 'feishu-hook-0001', secret: 'feishu+secret/0001=' };
  readonly messages: RobotMessage[] = [];
  readonly requests: RobotRequest[] = [];
  private readonly failures: Record<Service, Failure[]> = { wecom: [], dingtalk: [], feishu: [] };

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next `n` well-formed, correctly signed requests to `service` fail with this answer. */
  failNext(service: Service, n: number, f: Failure): void {
    for (let i = 0; i < n; i++) this.failures[service].push(f);
  }

  of(service: Service): RobotMessage[] {
    return this.messages.filter((m) => m.service === service);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    const u = new URL(req.url ?? '/', 'http://x');
    let body: Record<string, unknown> = {};
    try {
      body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    } catch {
      body = {};
    }
    const reply = (service: Service | 'unknown', status: number, json: Record<string, unknown>) => {
      this.requests.push({ service, path: u.pathname, body, answer: json, status });
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(json));
    };
    if (req.method !== 'POST') return reply('unknown', 405, { error: 'POST only' });

    if (u.pathname === '/cgi-bin/webhook/send') {
      if (u.searchParams.get('key') !== this.wecom.key) return reply('wecom', 200, { errcode: 93000, errmsg: 'invalid webhook url' });
      const m = body.msgtype;
      const content = m === 'markdown' ? (body.markdown as { content?: unknown })?.content : m === 'text' ? (body.text as { content?: unknown })?.content : undefined;
      if (m !== 'markdown' && m !== 'text') return reply('wecom', 200, { errcode: 40008, errmsg: 'invalid message type' });
      if (typeof content !== 'string' || content === '') return reply('wecom', 200, { errcode: 44004, errmsg: 'empty content' });
      if (Buffer.byteLength(content) > (m === 'markdown' ? 4096 : 2048)) return reply('wecom', 200, { errcode: 40058, errmsg: 'content exceed max length' });
      const f = this.failures.wecom.shift();
      if (f) return 'status' in f ? reply('wecom', f.status, { errcode: -1, errmsg: 'system busy' }) : reply('wecom', 200, f.json);
      this.messages.push({ service: 'wecom', at: Date.now(), body, title: content.split('\n')[0]!.replace(/^#+\s*/, ''), text: content });
      return reply('wecom', 200, { errcode: 0, errmsg: 'ok' });
    }

    if (u.pathname === '/robot/send') {
      if (u.searchParams.get('access_token') !== this.dingtalk.accessToken) return reply('dingtalk', 200, { errcode: 300001, errmsg: 'token is not exist' });
      const ts = u.searchParams.get('timestamp') ?? '';
      const sign = u.searchParams.get('sign') ?? '';
      const expected = createHmac('sha256', this.dingtalk.secret).update(`${ts}\n${this.dingtalk.secret}`).digest('base64');
      if (!/^\d{13}$/.test(ts) || Math.abs(Date.now() - Number(ts)) > 3_600_000 || !safeEq(sign, expected)) {
        return reply('dingtalk', 200, { errcode: 310000, errmsg: 'sign not match' });
      }
      const m = body.msgtype;
      const md = body.markdown as { title?: unknown; text?: unknown } | undefined;
      const tx = body.text as { content?: unknown } | undefined;
      if (m === 'markdown' ? typeof md?.title !== 'string' || typeof md.text !== 'string' : m === 'text' ? typeof tx?.content !== 'string' : true) {
        return reply('dingtalk', 200, { errcode: 40035, errmsg: '缺少参数 json' });
      }
      const f = this.failures.dingtalk.shift();
      if (f) return 'status' in f ? reply('dingtalk', f.status, { errcode: -1, errmsg: 'system busy' }) : reply('dingtalk', 200, f.json);
      this.messages.push({
        service: 'dingtalk',
        at: Date.now(),
        body,
        title: m === 'markdown' ? String(md!.title) : String(tx!.content).split('\n')[0]!,
        text: m === 'markdown' ? String(md!.text) : String(tx!.content),
      });
      return reply('dingtalk', 200, { errcode: 0, errmsg: 'ok' });
    }

    const hook = /^\/open-apis\/bot\/v2\/hook\/([^/]+)$/.exec(u.pathname);
    if (hook) {
      if (decodeURIComponent(hook[1]!) !== this.feishu.hookId) return reply('feishu', 200, { code: 19001, msg: 'param invalid: incoming webhook access token invalid', data: {} });
      const ts = typeof body.timestamp === 'string' ? body.timestamp : '';
      const expected = createHmac('sha256', `${ts}\n${this.feishu.secret}`).update('').digest('base64');
      if (!/^\d{10}$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > 3600 || typeof body.sign !== 'string' || !safeEq(body.sign, expected)) {
        return reply('feishu', 200, { code: 19021, msg: 'sign match fail or timestamp is not within one hour from current time', data: {} });
      }
      const content = body.content as Record<string, unknown> | undefined;
      let title: string;
      let text: string;
      if (body.msg_type === 'text' && typeof (content?.text as unknown) === 'string') {
        text = String(content!.text);
        title = text.split('\n')[0]!;
      } else if (body.msg_type === 'post' && content?.post && typeof content.post === 'object') {
        const lang = Object.values(content.post as Record<string, { title?: string; content?: Array<Array<{ text?: string }>> }>)[0];
        title = lang?.title ?? '';
        text = (lang?.content ?? []).map((line) => line.map((el) => el.text ?? '').join('')).join('\n');
      } else {
        return reply('feishu', 200, { code: 9499, msg: 'Bad Request', data: {} });
      }
      const f = this.failures.feishu.shift();
      if (f) return 'status' in f ? reply('feishu', f.status, { code: 9499, msg: 'internal error' }) : reply('feishu', 200, f.json);
      this.messages.push({ service: 'feishu', at: Date.now(), body, title, text });
      return reply('feishu', 200, { code: 0, msg: 'success', data: {} });
    }
    return reply('unknown', 404, { error: 'no such endpoint' });
  }
}

export async function startRobots(): Promise<Robots> {
  return new Robots().start();
}

// ---- SMTP -----------------------------------------------------------------------------------------

export interface Mail {
  at: number;
  from: string;
  to: string[];
  raw: string;
  headers: Record<string, string>;
  subject: string;
  text: string;
  messageId: string;
}

/** RFC 2047 encoded words (=?UTF-8?B?…?= / =?UTF-8?Q?…?=) → text. */
export function decodeWords(v: string): string {
  return v.replace(/\?=\s+=\?/g, '?==?').replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_m, _cs: string, enc: string, data: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(data, 'base64').toString('utf8')
      : Buffer.from(data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'),
  );
}

function decodeQP(s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function parseHeaders(block: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

/** The text/plain part of a MIME message, decoded. */
function textPart(raw: string): string {
  const split = (s: string) => {
    const i = s.search(/\r?\n\r?\n/);
    return i < 0 ? { head: s, body: '' } : { head: s.slice(0, i), body: s.slice(i).replace(/^\r?\n\r?\n/, '') };
  };
  const { head, body } = split(raw);
  const h = parseHeaders(head);
  const ct = h['content-type'] ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(ct)?.[1];
  if (boundary) {
    for (const part of body.split(`--${boundary}`)) {
      const t = textPart(part.replace(/^\r?\n/, ''));
      if (t) return t;
    }
    return '';
  }
  if (!/text\/plain/i.test(ct)) return '';
  const enc = (h['content-transfer-encoding'] ?? '').toLowerCase();
  if (enc === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (enc === 'quoted-printable') return decodeQP(body);
  return body;
}

export class MailServer {
  readonly server: SMTPServer;
  port = 0;
  readonly user = 'trellis-mailer';
  readonly password = 'mail-Pass-2026';
  readonly mails: Mail[] = [];
  authFailures = 0;
  /** Reject the next N messages with a temporary 451 reply. */
  tempFailures = 0;

  constructor() {
    this.server = new SMTPServer({
      logger: false,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth: (auth, _session, cb) => {
        if (auth.username === this.user && auth.password === this.password) cb(null, { user: auth.username });
        else {
          this.authFailures++;
          cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
        }
      },
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          if (!session.secure) {
            cb(Object.assign(new Error('Must issue a STARTTLS command first'), { responseCode: 530 }));
            return;
          }
          if (this.tempFailures > 0) {
            this.tempFailures--;
            cb(Object.assign(new Error('Temporary local problem, try again'), { responseCode: 451 }));
            return;
          }
          const raw = Buffer.concat(chunks).toString('utf8');
          const i = raw.search(/\r?\n\r?\n/);
          const headers = parseHeaders(i < 0 ? raw : raw.slice(0, i));
          this.mails.push({
            at: Date.now(),
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
            headers,
            subject: decodeWords(headers.subject ?? ''),
            text: textPart(raw),
            messageId: headers['message-id'] ?? '',
          });
          cb();
        });
      },
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export async function startMailServer(): Promise<MailServer> {
  return new MailServer().start();
}
