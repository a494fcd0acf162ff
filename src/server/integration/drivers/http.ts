// Generic REST destination and source.
//
// Destination: one request per delivery (or one per batch when `batchUrl` is set), the flow's mapped
// payload as JSON, `Idempotency-Key` (configurable name) = the delivery's idempotency key, and the
// CloudEvents binary-mode headers (ce-id, ce-type, ce-source, ce-specversion). Authentication: none,
// basic, bearer, OAuth2 client credentials (token cached until shortly before it expires, dropped on
// a 401), and a mutual-TLS client certificate (PEM in the secrets) with any of them. Outcome: 2xx ok,
// 408/425/429/5xx, network errors and timeouts retryable (Retry-After honoured), other 4xx permanent.
// `responseMapping` (JSONata over {status, headers, body}) gives the external reference.
// `lookup` (for the compensation scanner): a GET URL template; 2xx = exists, 404 = missing.
// Source: pulls pages (page number, offset, cursor or Link header) and maps items with JSONata.
import http from 'node:http';
import https from 'node:https';
import jsonata from 'jsonata';
import { z } from 'zod';
import type {
  ConnectionTestResult,
  DeliveryOutcome,
  DeliveryRequest,
  DestinationHandle,
  Driver,
  LookupResult,
  PulledRow,
  PullRequest,
  PullResult,
  SourceHandle,
} from '../types.ts';
import { registerDriver } from './registry.ts';
import { ui } from '../../../shared/integration-api.ts';

const jsonataText = z
  .string()
  .min(1)
  .max(20_000)
  .superRefine((v, c) => {
    try {
      jsonata(v);
    } catch (err) {
      c.addIssue({ code: 'custom', message: `JSONata does not parse: ${(err as Error).message}` });
    }
  });
const httpUrl = z
  .string()
  .max(2000)
  .regex(/^https?:\/\/[^\s@]+$/, 'an http:// or https:// URL without user name or password (put those in the secrets); may hold {idempotencyKey}, {partitionKey}, {eventId}');
const headerName = z.string().regex(/^[A-Za-z0-9-]{1,100}$/, 'a header name (letters, digits, -)');

const PLACEHOLDERS_HELP = ['可含 {idempotencyKey}、{partitionKey}、{eventId}；不要在地址里写用户名密码', 'may hold {idempotencyKey}, {partitionKey}, {eventId}; no user name or password in the URL'] as const;
const onAuth = (...a: string[]) => ({ auth: a });

export const httpConfigSchema = z.strictObject({
  url: httpUrl.meta(ui(['目标地址 (URL)', 'Destination URL'], { help: PLACEHOLDERS_HELP, placeholder: 'https://erp.plant.local/api/orders' })),
  method: z.enum(['POST', 'PUT', 'PATCH', 'DELETE']).default('POST').meta(ui(['请求方法', 'Method'])),
  headers: z.record(headerName, z.string().max(2000)).default({}).meta(ui(['附加请求头', 'Extra headers'], { help: ['每行一个，例如 X-Plant: 01', 'one per line, e.g. X-Plant: 01'] })),
  auth: z.enum(['none', 'basic', 'bearer', 'oauth2']).default('none').meta(ui(['认证方式', 'Authentication'])),
  oauth2: z
    .strictObject({
      tokenUrl: httpUrl.meta(ui(['OAuth2 令牌地址', 'OAuth2 token URL'])),
      scope: z.string().max(1000).optional().meta(ui(['OAuth2 范围 (scope)', 'OAuth2 scope'])),
      /** How the client id and secret are sent to the token endpoint. */
      clientAuth: z.enum(['basic', 'body']).default('basic').meta(ui(['客户端凭据发送方式', 'Client credentials sent as'])),
    })
    .optional()
    .meta(ui(['OAuth2 客户端凭据', 'OAuth2 client credentials'], { when: onAuth('oauth2') })),
  timeoutMs: z.number().int().min(50).max(300_000).default(10_000).meta(ui(['超时 (毫秒)', 'Timeout (ms)'])),
  idempotencyHeader: headerName.default('Idempotency-Key').meta(ui(['幂等键请求头', 'Idempotency header'])),
  /** JSONata over {status, headers, body} giving the destination's id of the document. */
  responseMapping: jsonataText.optional().meta(ui(['回执映射 (JSONata，取目标单据号)', 'Response mapping (JSONata, the external reference)'], { placeholder: 'body.id', widget: 'code' })),
  /** When set, batches are POSTed here as a JSON array; the answer's body (array) maps item by item. */
  batchUrl: httpUrl.optional().meta(ui(['批量地址', 'Batch URL'], { help: ['批量时以 JSON 数组 POST 到这里', 'batches are POSTed here as a JSON array'] })),
  lookup: z
    .strictObject({
      urlTemplate: httpUrl.meta(ui(['查询地址模板', 'Lookup URL template'], { help: PLACEHOLDERS_HELP })),
      /** JSONata over {status, headers, body}: true when the document exists (default: any 2xx). */
      exists: jsonataText.optional().meta(ui(['查询：存在条件 (JSONata)', 'Lookup: exists when (JSONata)'], { help: ['默认：任何 2xx 即存在', 'default: any 2xx means it exists'], widget: 'code' })),
      /** JSONata over {status, headers, body} giving the external reference. */
      externalRef: jsonataText.optional().meta(ui(['查询：目标单据号 (JSONata)', 'Lookup: external reference (JSONata)'], { widget: 'code' })),
    })
    .optional()
    .meta(ui(['补偿查询', 'Compensation lookup'])),
  /** What the connection test requests (default: the destination URL with HEAD; any answer below 500 means reachable). */
  testUrl: httpUrl.optional().meta(ui(['连接测试地址', 'Connection test URL'], { help: ['默认用 HEAD 请求目标地址；低于 500 的回答即可达', 'default: HEAD on the destination URL; any answer below 500 means reachable'] })),
  /** Mutual TLS: verify the server against the CA in the secrets (or the system's); false only for tests. */
  rejectUnauthorized: z.boolean().default(true).meta(ui(['校验服务器证书', 'Verify the server certificate'])),
  source: z
    .strictObject({
      url: httpUrl,
      /** JSONata over the answer body giving the array of items (default: the body itself). */
      items: jsonataText.optional(),
      /** JSONata over an item giving its key (default: id). */
      key: jsonataText.default('id'),
      /** JSONata over an item giving its watermark (e.g. write_date). */
      watermark: jsonataText.optional(),
      /** Query parameter that carries the last watermark. */
      sinceParam: z.string().max(100).optional(),
      pagination: z
        .discriminatedUnion('style', [
          z.strictObject({ style: z.literal('none') }),
          z.strictObject({ style: z.literal('page'), pageParam: z.string().max(100).default('page'), sizeParam: z.string().max(100).default('size'), firstPage: z.number().int().min(0).default(1), pageSize: z.number().int().min(1).max(10_000).default(100) }),
          z.strictObject({ style: z.literal('offset'), offsetParam: z.string().max(100).default('offset'), limitParam: z.string().max(100).default('limit'), pageSize: z.number().int().min(1).max(10_000).default(100) }),
          z.strictObject({ style: z.literal('cursor'), cursorParam: z.string().max(100).default('cursor'), nextCursor: jsonataText }),
          z.strictObject({ style: z.literal('link') }),
        ])
        .default({ style: 'none' }),
    })
    .optional()
    .meta(
      ui(['作为数据源拉取 (JSON)', 'Pull as a source (JSON)'], {
        help: ['url、items、key、watermark、sinceParam、pagination (style: none/page/offset/cursor/link)', 'url, items, key, watermark, sinceParam, pagination (style: none/page/offset/cursor/link)'],
        placeholder: '{"url": "https://erp.plant.local/api/materials", "items": "body.items"}',
      }),
    ),
});
export type HttpConfig = z.infer<typeof httpConfigSchema>;

export const httpSecretSchema = z.strictObject({
  username: z.string().max(500).optional().meta(ui(['用户名', 'User name'], { when: onAuth('basic') })),
  password: z.string().max(2000).optional().meta(ui(['密码', 'Password'], { when: onAuth('basic') })),
  token: z.string().max(8000).optional().meta(ui(['Bearer 令牌', 'Bearer token'], { when: onAuth('bearer') })),
  clientId: z.string().max(500).optional().meta(ui(['客户端 ID', 'Client id'], { when: onAuth('oauth2') })),
  clientSecret: z.string().max(2000).optional().meta(ui(['客户端密钥', 'Client secret'], { when: onAuth('oauth2') })),
  /** Mutual TLS client certificate and key (PEM), and the CA that signs the server's certificate. */
  clientCertPem: z.string().max(50_000).optional().meta(ui(['客户端证书 (PEM，双向 TLS)', 'Client certificate (PEM, mutual TLS)'], { widget: 'multiline' })),
  clientKeyPem: z.string().max(50_000).optional().meta(ui(['客户端私钥 (PEM)', 'Client key (PEM)'], { widget: 'multiline' })),
  caPem: z.string().max(50_000).optional().meta(ui(['服务器 CA 证书 (PEM)', 'Server CA certificate (PEM)'], { widget: 'multiline' })),
  /** Extra headers that are secrets (X-Api-Key). */
  headers: z.record(headerName, z.string().max(8000)).optional().meta(ui(['保密请求头', 'Secret headers'], { help: ['每行一个，例如 X-Api-Key: …', 'one per line, e.g. X-Api-Key: …'] })),
});
export type HttpSecrets = z.infer<typeof httpSecretSchema>;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  text: string;
}

class NetworkError extends Error {}

/** TLS failures a person can fix in the connector, in words (OpenSSL's own text is kept short after them). */
const TLS_HINTS: Record<string, string> = {
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    '服务器要求客户端证书（双向 TLS），但未发送 / the server requires a client certificate (mutual TLS) and none was sent: put clientCertPem and clientKeyPem in the connector secrets',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: '服务器拒绝了客户端证书 / the server refused the client certificate: check clientCertPem and clientKeyPem',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: '服务器不信任签发客户端证书的 CA / the server does not trust the CA that signed the client certificate',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: '服务器认为客户端证书已过期 / the server says the client certificate has expired',
  SELF_SIGNED_CERT_IN_CHAIN: "服务器证书不是受信任的 CA 签发的 / the server's certificate is not signed by a trusted CA: put that CA in caPem",
  DEPTH_ZERO_SELF_SIGNED_CERT: "服务器使用自签名证书 / the server's certificate is self-signed: put it (or its CA) in caPem",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "无法验证服务器证书 / the server's certificate cannot be verified: put its CA in caPem",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "无法验证服务器证书 / the server's certificate cannot be verified: put its CA in caPem",
  CERT_HAS_EXPIRED: '服务器证书已过期 / the server certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: '服务器证书与地址不符 / the server certificate does not name the host in the URL',
};

function networkMessage(err: NodeJS.ErrnoException): string {
  const code = err.code ?? 'network error';
  const hint = TLS_HINTS[code];
  return hint ? `TLS ${code}: ${hint}` : `${code}: ${err.message}`;
}

/** Retry-After in seconds or as an HTTP date, in milliseconds; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export function classify(status: number): 'ok' | 'retryable' | 'permanent' {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status === 425 || status === 429 || status >= 500) return 'retryable';
  return 'permanent';
}

function fill(template: string, vars: Record<string, string | null | undefined>): string {
  return template.replace(/\{(idempotencyKey|partitionKey|eventId|externalRef|deliveryId)\}/g, (_m, k: string) => encodeURIComponent(vars[k] ?? ''));
}

function short(text: string, n = 300): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n)}…` : t;
}

export class HttpClient {
  private readonly config: HttpConfig;
  private readonly secrets: HttpSecrets;
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;
  private token: { value: string; expiresAt: number } | null = null;
  private tokenPending: Promise<string> | null = null;

  constructor(config: HttpConfig, secrets: HttpSecrets | undefined) {
    this.config = config;
    this.secrets = secrets ?? {};
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 64,
      ...(this.secrets.clientCertPem ? { cert: this.secrets.clientCertPem } : {}),
      ...(this.secrets.clientKeyPem ? { key: this.secrets.clientKeyPem } : {}),
      ...(this.secrets.caPem ? { ca: this.secrets.caPem } : {}),
      rejectUnauthorized: config.rejectUnauthorized,
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** One HTTP exchange. Network errors and timeouts throw NetworkError. */
  request(method: string, url: string, headers: Record<string, string>, body: string | null, timeoutMs = this.config.timeoutMs): Promise<Answer> {
    return new Promise((resolve, reject) => {
      let u: URL;
      try {
        u = new URL(url);
      } catch {
        reject(new NetworkError(`invalid URL ${url}`));
        return;
      }
      const lib = u.protocol === 'https:' ? https : http;
      const req = lib.request(
        u,
        {
          method,
          agent: u.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
          headers: { accept: 'application/json', ...headers, ...(body !== null ? { 'content-type': headers['content-type'] ?? 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(new NetworkError(err.message)));
          res.on('end', () => {
            clearTimeout(timer);
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            if (/json/i.test(String(res.headers['content-type'] ?? '')) && text) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = text;
              }
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
          });
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new NetworkError(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err instanceof NetworkError ? err : new NetworkError(networkMessage(err as NodeJS.ErrnoException)));
      });
      if (body !== null) req.write(body);
      req.end();
    });
  }

  private async oauthToken(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now()) return this.token.value;
    if (this.tokenPending) return this.tokenPending;
    const o = this.config.oauth2;
    if (!o) throw new Error('auth is oauth2 but the config has no "oauth2" section (tokenUrl)');
    this.tokenPending = (async () => {
      const form = new URLSearchParams({ grant_type: 'client_credentials' });
      if (o.scope) form.set('scope', o.scope);
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      if (o.clientAuth === 'basic') {
        headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(this.secrets.clientId ?? '')}:${encodeURIComponent(this.secrets.clientSecret ?? '')}`).toString('base64')}`;
      } else {
        form.set('client_id', this.secrets.clientId ?? '');
        form.set('client_secret', this.secrets.clientSecret ?? '');
      }
      const a = await this.request('POST', o.tokenUrl, headers, form.toString());
      const b = a.body as { access_token?: unknown; expires_in?: unknown } | string;
      if (a.status !== 200 || typeof b !== 'object' || typeof b.access_token !== 'string') {
        throw new TokenError(`the OAuth2 token endpoint answered ${a.status}${a.status === 200 ? ' without access_token' : ''}`, classify(a.status) !== 'permanent');
      }
      const ttl = typeof b.expires_in === 'number' ? b.expires_in : 3600;
      this.token = { value: b.access_token, expiresAt: Date.now() + Math.max(0, ttl - 30) * 1000 };
      return b.access_token;
    })().finally(() => {
      this.tokenPending = null;
    });
    return this.tokenPending;
  }

  dropToken(): void {
    this.token = null;
  }

  async authHeaders(): Promise<Record<string, string>> {
    const h: Record<string, string> = { ...this.config.headers, ...(this.secrets.headers ?? {}) };
    switch (this.config.auth) {
      case 'basic':
        h.authorization = `Basic ${Buffer.from(`${this.secrets.username ?? ''}:${this.secrets.password ?? ''}`).toString('base64')}`;
        break;
      case 'bearer':
        h.authorization = `Bearer ${this.secrets.token ?? ''}`;
        break;
      case 'oauth2':
        h.authorization = `Bearer ${await this.oauthToken()}`;
        break;
      default:
        break;
    }
    return h;
  }
}

class TokenError extends Error {
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean) {
    super(message);
    this.retryable = retryable;
  }
}

const compiledCache = new Map<string, ReturnType<typeof jsonata>>();
async function evaluate(expr: string, input: unknown): Promise<unknown> {
  let c = compiledCache.get(expr);
  if (!c) {
    c = jsonata(expr);
    compiledCache.set(expr, c);
  }
  return c.evaluate(input);
}

export class HttpDestination implements DestinationHandle {
  readonly client: HttpClient;
  private readonly config: HttpConfig;
  sendBatch?: (reqs: DeliveryRequest[]) => Promise<DeliveryOutcome[]>;
  lookup?: (req: DeliveryRequest) => Promise<LookupResult>;

  constructor(config: HttpConfig, secrets: HttpSecrets | undefined) {
    this.config = config;
    this.client = new HttpClient(config, secrets);
    if (config.batchUrl) this.sendBatch = (reqs) => this.batch(reqs);
    if (config.lookup) this.lookup = (req) => this.find(req);
  }

  private vars(req: DeliveryRequest): Record<string, string | null> {
    return { idempotencyKey: req.idempotencyKey, partitionKey: req.partitionKey, eventId: req.event.id, deliveryId: req.deliveryId };
  }

  private async exchange(method: string, url: string, extra: Record<string, string>, body: string | null): Promise<Answer | DeliveryOutcome> {
    try {
      let a = await this.client.request(method, url, { ...(await this.client.authHeaders()), ...extra }, body);
      if (a.status === 401 && this.config.auth === 'oauth2') {
        this.client.dropToken(); // the token was revoked or expired early: one fresh try
        a = await this.client.request(method, url, { ...(await this.client.authHeaders()), ...extra }, body);
      }
      return a;
    } catch (err) {
      if (err instanceof TokenError) return { ok: false, retryable: err.retryable, error: err.message };
      return { ok: false, retryable: true, error: `${method} ${redact(url)}: ${(err as Error).message}` };
    }
  }

  private async outcome(a: Answer, method: string, url: string): Promise<DeliveryOutcome> {
    const kind = classify(a.status);
    if (kind === 'ok') {
      let externalRef: string | undefined;
      if (this.config.responseMapping) {
        try {
          const v = await evaluate(this.config.responseMapping, { status: a.status, headers: a.headers, body: a.body });
          if (v !== undefined && v !== null) externalRef = String(v);
        } catch {
          /* the document was accepted; a mapping problem must not re-send it */
        }
      }
      return { ok: true, status: a.status, ...(externalRef !== undefined ? { externalRef } : {}) };
    }
    const after = retryAfterMs(a.headers['retry-after']);
    return {
      ok: false,
      retryable: kind === 'retryable',
      status: a.status,
      error: `${method} ${redact(url)} answered ${a.status}${a.text ? `: ${short(a.text)}` : ''}`,
      ...(after !== undefined && kind === 'retryable' ? { retryAfterMs: after } : {}),
    };
  }

  async send(req: DeliveryRequest): Promise<DeliveryOutcome> {
    const url = fill(this.config.url, this.vars(req));
    const method = this.config.method;
    const body = method === 'DELETE' && req.payload === null ? null : JSON.stringify(req.payload ?? null);
    const a = await this.exchange(method, url, {
      [this.config.idempotencyHeader]: req.idempotencyKey,
      'ce-id': req.event.id,
      'ce-type': req.event.type,
      'ce-source': req.event.source,
      'ce-specversion': '1.0',
    }, body);
    if ('ok' in a) return a;
    return this.outcome(a, method, url);
  }

  private async batch(reqs: DeliveryRequest[]): Promise<DeliveryOutcome[]> {
    const url = this.config.batchUrl!;
    const body = JSON.stringify(reqs.map((r) => ({ idempotencyKey: r.idempotencyKey, payload: r.payload })));
    const a = await this.exchange('POST', url, { [this.config.idempotencyHeader]: reqs.map((r) => r.idempotencyKey).join(',').slice(0, 4000) }, body);
    if ('ok' in a) return reqs.map(() => a);
    if (classify(a.status) !== 'ok') {
      const o = await this.outcome(a, 'POST', url);
      return reqs.map(() => o);
    }
    const items = Array.isArray(a.body) ? (a.body as unknown[]) : [];
    const out: DeliveryOutcome[] = [];
    for (let i = 0; i < reqs.length; i++) {
      let externalRef: string | undefined;
      if (this.config.responseMapping && items[i] !== undefined) {
        try {
          const v = await evaluate(this.config.responseMapping, { status: a.status, headers: a.headers, body: items[i] });
          if (v !== undefined && v !== null) externalRef = String(v);
        } catch {
          /* accepted anyway */
        }
      }
      out.push({ ok: true, status: a.status, ...(externalRef !== undefined ? { externalRef } : {}) });
    }
    return out;
  }

  private async find(req: DeliveryRequest): Promise<LookupResult> {
    const l = this.config.lookup!;
    const url = fill(l.urlTemplate, this.vars(req));
    const a = await this.exchange('GET', url, { [this.config.idempotencyHeader]: req.idempotencyKey }, null);
    if ('ok' in a) return { unknown: true, reason: a.ok ? 'no answer' : a.error };
    if (a.status === 404 || a.status === 410) return { exists: false };
    if (classify(a.status) !== 'ok') return { unknown: true, reason: `lookup answered ${a.status}` };
    const input = { status: a.status, headers: a.headers, body: a.body };
    try {
      const exists = l.exists ? Boolean(await evaluate(l.exists, input)) : true;
      if (!exists) return { exists: false };
      const ref = l.externalRef ? await evaluate(l.externalRef, input) : undefined;
      return { exists: true, ...(ref !== undefined && ref !== null ? { externalRef: String(ref) } : {}) };
    } catch (err) {
      return { unknown: true, reason: `lookup mapping failed: ${(err as Error).message}` };
    }
  }

  async test(): Promise<ConnectionTestResult> {
    const t0 = performance.now();
    const url = this.config.testUrl ?? fill(this.config.url, {});
    try {
      const a = await this.client.request(this.config.testUrl ? 'GET' : 'HEAD', url, await this.client.authHeaders(), null, Math.min(this.config.timeoutMs, 10_000));
      const ms = Math.round(performance.now() - t0);
      if (a.status === 401 || a.status === 403) return { ok: false, message: `reachable, but the credentials were refused (HTTP ${a.status})`, latencyMs: ms };
      if (a.status >= 500) return { ok: false, message: `reachable, but it answered HTTP ${a.status}`, latencyMs: ms };
      return { ok: true, message: `reachable (HTTP ${a.status})`, latencyMs: ms };
    } catch (err) {
      return { ok: false, message: (err as Error).message, latencyMs: Math.round(performance.now() - t0) };
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** URLs in messages never carry credentials. */
function redact(url: string): string {
  return url.replace(/\/\/[^@/\s]*@/, '//***@');
}

/** Parses `Link: <url>; rel="next"`. */
export function nextLink(header: string | string[] | undefined): string | null {
  const v = Array.isArray(header) ? header.join(',') : header;
  if (!v) return null;
  for (const part of v.split(/,(?=\s*<)/)) {
    const m = /<([^>]+)>\s*;(.*)/.exec(part.trim());
    if (m && /rel="?([^";]*\s)?next(\s[^";]*)?"?/i.test(m[2]!)) return m[1]!;
  }
  return null;
}

export class HttpSource implements SourceHandle {
  readonly client: HttpClient;
  private readonly config: HttpConfig;
  constructor(config: HttpConfig, secrets: HttpSecrets | undefined) {
    this.config = config;
    this.client = new HttpClient(config, secrets);
  }

  async pull(req: PullRequest): Promise<PullResult> {
    const s = this.config.source;
    if (!s) throw new Error('this HTTP connector has no "source" section; add source.url to pull from it');
    const p = s.pagination;
    const rows: PulledRow[] = [];
    let watermark = req.since;
    let url: string | null = null;
    let page = p.style === 'page' ? p.firstPage : 0;
    let offset = 0;
    let cursor: string | null = null;
    let more = true;
    const base = new URL(s.url.replace('{object}', encodeURIComponent(req.object)));
    if (s.sinceParam && req.since !== null) base.searchParams.set(s.sinceParam, req.since);
    for (let guard = 0; more && rows.length < req.limit && guard < 10_000; guard++) {
      const u = new URL(url ?? base.toString());
      if (!url) {
        if (p.style === 'page') {
          u.searchParams.set(p.pageParam, String(page));
          u.searchParams.set(p.sizeParam, String(p.pageSize));
        } else if (p.style === 'offset') {
          u.searchParams.set(p.offsetParam, String(offset));
          u.searchParams.set(p.limitParam, String(p.pageSize));
        } else if (p.style === 'cursor' && cursor) {
          u.searchParams.set(p.cursorParam, cursor);
        }
      }
      const a = await this.client.request('GET', u.toString(), await this.client.authHeaders(), null);
      if (classify(a.status) !== 'ok') throw new Error(`GET ${redact(u.toString())} answered ${a.status}${a.text ? `: ${short(a.text)}` : ''}`);
      const itemsRaw = s.items ? await evaluate(s.items, a.body) : a.body;
      const items: unknown[] = Array.isArray(itemsRaw) ? itemsRaw : itemsRaw === undefined || itemsRaw === null ? [] : [itemsRaw];
      for (const item of items) {
        const key = await evaluate(s.key, item);
        const wm = s.watermark ? await evaluate(s.watermark, item) : undefined;
        const w = wm === undefined || wm === null ? null : String(wm);
        if (w !== null && (watermark === null || w > watermark)) watermark = w;
        rows.push({ key: String(key), watermark: w, data: (item && typeof item === 'object' ? item : { value: item }) as Record<string, unknown> });
      }
      switch (p.style) {
        case 'none':
          more = false;
          break;
        case 'page':
          page++;
          more = items.length >= p.pageSize;
          break;
        case 'offset':
          offset += items.length;
          more = items.length >= p.pageSize;
          break;
        case 'cursor': {
          const c = await evaluate(p.nextCursor, a.body);
          cursor = c === undefined || c === null || c === '' ? null : String(c);
          more = cursor !== null && items.length > 0;
          break;
        }
        case 'link':
          url = nextLink(a.headers.link);
          more = url !== null;
          break;
      }
    }
    return { rows, nextWatermark: watermark !== req.since ? watermark : null, more: more && rows.length >= req.limit };
  }

  async test(): Promise<ConnectionTestResult> {
    const t0 = performance.now();
    try {
      const a = await this.client.request('GET', this.config.testUrl ?? this.config.source?.url ?? this.config.url, await this.client.authHeaders(), null);
      const ms = Math.round(performance.now() - t0);
      return a.status < 400 ? { ok: true, message: `reachable (HTTP ${a.status})`, latencyMs: ms } : { ok: false, message: `HTTP ${a.status}`, latencyMs: ms };
    } catch (err) {
      return { ok: false, message: (err as Error).message, latencyMs: Math.round(performance.now() - t0) };
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

function checkAuth(config: HttpConfig, secrets: HttpSecrets | undefined): void {
  const s = secrets ?? {};
  if (config.auth === 'basic' && !s.username) throw new Error('auth is basic: put username and password in the secrets');
  if (config.auth === 'bearer' && !s.token) throw new Error('auth is bearer: put the token in the secrets');
  if (config.auth === 'oauth2' && (!config.oauth2 || !s.clientId || !s.clientSecret)) throw new Error('auth is oauth2: set config.oauth2.tokenUrl and put clientId and clientSecret in the secrets');
  if (Boolean(s.clientCertPem) !== Boolean(s.clientKeyPem)) throw new Error('mutual TLS needs both clientCertPem and clientKeyPem in the secrets');
}

export const httpDriver: Driver<HttpConfig, HttpSecrets> = {
  kind: 'http',
  label: { zh: '通用 REST 接口', en: 'Generic REST (HTTP)' },
  configSchema: httpConfigSchema as unknown as z.ZodType<HttpConfig>,
  secretSchema: httpSecretSchema,
  async openDestination(config, secrets) {
    checkAuth(config, secrets);
    return new HttpDestination(config, secrets);
  },
  async openSource(config, secrets) {
    checkAuth(config, secrets);
    return new HttpSource(config, secrets);
  },
};

registerDriver(httpDriver);
