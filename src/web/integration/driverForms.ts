// The connector form per driver kind: which configuration fields and secrets each driver takes,
// how they are labelled, and how form values turn into the `config` / `secrets` objects the server
// validates (with the driver's own zod schema; its answer names the offending field). Settings a
// form does not show stay editable as JSON ("other settings"), so nothing the driver accepts is lost.

export type FieldKind = 'text' | 'number' | 'bool' | 'select' | 'tags' | 'headers' | 'json' | 'jsonata';

export interface FieldSpec {
  /** Dotted path inside config or secrets, e.g. `oauth2.tokenUrl`. */
  key: string;
  kind: FieldKind;
  label: readonly [string, string];
  help?: readonly [string, string];
  required?: boolean;
  options?: readonly string[];
  placeholder?: string;
  /** Shown only when another config field has one of these values. */
  when?: { key: string; in: readonly string[] };
  /** A secret given as a long text (PEM) rather than a one-line password. */
  multiline?: boolean;
}

export interface DriverForm {
  config: FieldSpec[];
  secrets: FieldSpec[];
}

const timeout = (d: number): FieldSpec => ({ key: 'timeoutMs', kind: 'number', label: ['超时 (毫秒)', 'Timeout (ms)'], placeholder: String(d) });
const user = (key = 'username'): FieldSpec => ({ key, kind: 'text', label: ['用户名', 'User name'] });
const pass = (key = 'password'): FieldSpec => ({ key, kind: 'text', label: ['密码', 'Password'] });

export const DRIVER_FORMS: Record<string, DriverForm> = {
  http: {
    config: [
      { key: 'url', kind: 'text', required: true, label: ['目标地址 (URL)', 'Destination URL'], placeholder: 'https://erp.plant.local/api/orders', help: ['可含 {idempotencyKey}、{partitionKey}、{eventId}；不要在地址里写用户名密码', 'may hold {idempotencyKey}, {partitionKey}, {eventId}; no user name or password in the URL'] },
      { key: 'method', kind: 'select', options: ['POST', 'PUT', 'PATCH', 'DELETE'], label: ['请求方法', 'Method'] },
      { key: 'auth', kind: 'select', options: ['none', 'basic', 'bearer', 'oauth2'], label: ['认证方式', 'Authentication'] },
      { key: 'oauth2.tokenUrl', kind: 'text', label: ['OAuth2 令牌地址', 'OAuth2 token URL'], when: { key: 'auth', in: ['oauth2'] } },
      { key: 'oauth2.scope', kind: 'text', label: ['OAuth2 范围 (scope)', 'OAuth2 scope'], when: { key: 'auth', in: ['oauth2'] } },
      { key: 'oauth2.clientAuth', kind: 'select', options: ['basic', 'body'], label: ['客户端凭据发送方式', 'Client credentials sent as'], when: { key: 'auth', in: ['oauth2'] } },
      { key: 'headers', kind: 'headers', label: ['附加请求头', 'Extra headers'], help: ['每行一个，例如 X-Plant: 01', 'one per line, e.g. X-Plant: 01'] },
      timeout(10000),
      { key: 'idempotencyHeader', kind: 'text', label: ['幂等键请求头', 'Idempotency header'], placeholder: 'Idempotency-Key' },
      { key: 'responseMapping', kind: 'jsonata', label: ['回执映射 (JSONata，取目标单据号)', 'Response mapping (JSONata, the external reference)'], placeholder: 'body.id' },
      { key: 'batchUrl', kind: 'text', label: ['批量地址 (可选)', 'Batch URL (optional)'] },
      { key: 'testUrl', kind: 'text', label: ['连接测试地址 (可选)', 'Connection test URL (optional)'] },
      { key: 'rejectUnauthorized', kind: 'bool', label: ['校验服务器证书', 'Verify the server certificate'] },
    ],
    secrets: [
      { ...user(), when: { key: 'auth', in: ['basic'] } },
      { ...pass(), when: { key: 'auth', in: ['basic'] } },
      { key: 'token', kind: 'text', label: ['Bearer 令牌', 'Bearer token'], when: { key: 'auth', in: ['bearer'] } },
      { key: 'clientId', kind: 'text', label: ['客户端 ID', 'Client id'], when: { key: 'auth', in: ['oauth2'] } },
      { key: 'clientSecret', kind: 'text', label: ['客户端密钥', 'Client secret'], when: { key: 'auth', in: ['oauth2'] } },
      { key: 'clientCertPem', kind: 'text', multiline: true, label: ['客户端证书 (PEM，双向 TLS)', 'Client certificate (PEM, mutual TLS)'] },
      { key: 'clientKeyPem', kind: 'text', multiline: true, label: ['客户端私钥 (PEM)', 'Client key (PEM)'] },
      { key: 'caPem', kind: 'text', multiline: true, label: ['服务器 CA 证书 (PEM)', 'Server CA certificate (PEM)'] },
    ],
  },
  tryton: {
    config: [
      { key: 'url', kind: 'text', required: true, label: ['Tryton 服务器地址', 'Tryton server URL'], placeholder: 'http://erp.plant.local:8000' },
      { key: 'database', kind: 'text', required: true, label: ['数据库', 'Database'] },
      { key: 'username', kind: 'text', required: true, label: ['登录用户', 'Login user'] },
      { key: 'language', kind: 'text', label: ['语言', 'Language'], placeholder: 'zh_CN' },
      timeout(30000),
      { key: 'idempotencyFields', kind: 'json', label: ['幂等键存放字段 (JSON，按模型)', 'Idempotency key fields (JSON, per model)'], placeholder: '{"production": "reference"}' },
    ],
    secrets: [pass()],
  },
  sample_erp: { config: [], secrets: [] },
  sql: {
    config: [
      { key: 'dialect', kind: 'select', required: true, options: ['postgres', 'mysql', 'mssql'], label: ['数据库类型', 'Database type'] },
      { key: 'host', kind: 'text', required: true, label: ['主机', 'Host'] },
      { key: 'port', kind: 'number', label: ['端口', 'Port'] },
      { key: 'database', kind: 'text', required: true, label: ['数据库名', 'Database name'] },
      { key: 'ssl', kind: 'bool', label: ['使用 SSL', 'Use SSL'] },
      { key: 'statementTimeoutMs', kind: 'number', label: ['语句超时 (毫秒)', 'Statement timeout (ms)'], placeholder: '30000' },
      { key: 'objects', kind: 'json', required: true, label: ['可拉取的对象 (JSON)', 'Objects to pull (JSON)'], placeholder: '{"material": {"table": "product", "watermark": "write_date"}}' },
    ],
    secrets: [user('user'), pass()],
  },
  amqp: {
    config: [
      { key: 'url', kind: 'text', required: true, label: ['Broker 地址', 'Broker URL'], placeholder: 'amqp://127.0.0.1:5672/' },
      { key: 'exchange', kind: 'text', required: true, label: ['交换机', 'Exchange'] },
      { key: 'exchangeType', kind: 'select', options: ['topic', 'direct', 'fanout'], label: ['交换机类型', 'Exchange type'] },
      { key: 'routingKey', kind: 'text', label: ['路由键 (默认事件类型)', 'Routing key (default: event type)'] },
      { key: 'queue', kind: 'text', label: ['声明队列 (可选)', 'Declare queue (optional)'] },
      { key: 'bindingKey', kind: 'text', label: ['绑定键', 'Binding key'], placeholder: '#' },
      { key: 'confirmTimeoutMs', kind: 'number', label: ['确认超时 (毫秒)', 'Confirm timeout (ms)'], placeholder: '10000' },
      { key: 'heartbeatSeconds', kind: 'number', label: ['心跳 (秒)', 'Heartbeat (s)'], placeholder: '15' },
    ],
    secrets: [user(), pass()],
  },
  mqtt: {
    config: [
      { key: 'url', kind: 'text', required: true, label: ['Broker 地址', 'Broker URL'], placeholder: 'mqtt://127.0.0.1:1883' },
      { key: 'topicPrefix', kind: 'text', label: ['主题前缀', 'Topic prefix'], placeholder: 'trellis/events' },
      { key: 'topic', kind: 'text', label: ['固定主题 (可选)', 'Fixed topic (optional)'] },
      { key: 'clientId', kind: 'text', label: ['客户端 ID (可选)', 'Client id (optional)'] },
      { key: 'retain', kind: 'bool', label: ['保留消息 (retain)', 'Retain messages'] },
      timeout(10000),
    ],
    secrets: [user(), pass()],
  },
  nats: {
    config: [
      { key: 'servers', kind: 'tags', required: true, label: ['服务器地址', 'Servers'], placeholder: 'nats://127.0.0.1:4222' },
      { key: 'stream', kind: 'text', required: true, label: ['流 (stream)', 'Stream'] },
      { key: 'subjectPrefix', kind: 'text', required: true, label: ['主题前缀', 'Subject prefix'] },
      { key: 'subject', kind: 'text', label: ['固定主题 (可选)', 'Fixed subject (optional)'] },
      { key: 'duplicateWindowSeconds', kind: 'number', label: ['去重窗口 (秒)', 'Duplicate window (s)'], placeholder: '86400' },
      { key: 'createStream', kind: 'bool', label: ['不存在时创建流', 'Create the stream when missing'] },
      timeout(10000),
    ],
    secrets: [user('user'), pass('pass'), { key: 'token', kind: 'text', label: ['令牌 (代替用户名密码)', 'Token (instead of user and password)'] }],
  },
  file: {
    config: [
      { key: 'folder', kind: 'text', required: true, label: ['交换目录 (绝对路径)', 'Exchange folder (absolute path)'], placeholder: '/srv/exchange/wms' },
      { key: 'format', kind: 'select', options: ['csv', 'xlsx'], label: ['文件格式', 'File format'] },
      { key: 'prefix', kind: 'text', label: ['文件名前缀', 'File name prefix'], placeholder: 'trellis' },
      { key: 'columns', kind: 'tags', label: ['列顺序', 'Column order'] },
      { key: 'keyColumn', kind: 'text', label: ['键列 (读取时)', 'Key column (when reading)'] },
      { key: 'maxBytes', kind: 'number', label: ['最大文件 (字节)', 'Largest file (bytes)'] },
    ],
    secrets: [],
  },
};

/** Unknown kinds (a driver added later): the whole configuration as JSON. */
export function formOf(kind: string): DriverForm {
  return DRIVER_FORMS[kind] ?? { config: [], secrets: [] };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function getPath(o: unknown, key: string): unknown {
  let cur: unknown = o;
  for (const p of key.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

function setPath(o: Obj, key: string, value: unknown): void {
  const parts = key.split('.');
  let cur = o;
  for (const p of parts.slice(0, -1)) {
    if (!isObj(cur[p])) cur[p] = {};
    cur = cur[p] as Obj;
  }
  cur[parts[parts.length - 1]!] = value;
}

function deletePath(o: Obj, key: string): void {
  const parts = key.split('.');
  const chain: Obj[] = [o];
  for (const p of parts.slice(0, -1)) {
    const next = chain[chain.length - 1]![p];
    if (!isObj(next)) return;
    chain.push(next);
  }
  delete chain[chain.length - 1]![parts[parts.length - 1]!];
  for (let i = chain.length - 1; i > 0; i--) if (Object.keys(chain[i]!).length === 0) delete chain[i - 1]![parts[i - 1]!];
}

export const headersToText = (h: unknown) => (isObj(h) ? Object.entries(h).map(([k, v]) => `${k}: ${String(v)}`).join('\n') : '');

export function textToHeaders(text: string): Obj {
  const out: Obj = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (!line.trim()) continue;
    if (i < 1) throw new Error(`"${line.trim()}"`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** Form values (by dotted key) for an existing configuration, plus what the form does not show. */
export function splitConfig(kind: string, config: unknown): { values: Obj; advanced: string } {
  const specs = formOf(kind).config;
  const rest: Obj = isObj(config) ? (JSON.parse(JSON.stringify(config)) as Obj) : {};
  const values: Obj = {};
  for (const s of specs) {
    const v = getPath(config, s.key);
    deletePath(rest, s.key);
    if (v === undefined) continue;
    values[s.key] = s.kind === 'headers' ? headersToText(v) : s.kind === 'json' ? JSON.stringify(v, null, 2) : v;
  }
  return { values, advanced: Object.keys(rest).length ? JSON.stringify(rest, null, 2) : '' };
}

/** The shown fields of a kind given the current values (a field's `when`). */
export function visible(spec: FieldSpec, values: Obj): boolean {
  if (!spec.when) return true;
  const v = values[spec.when.key];
  return spec.when.in.includes(typeof v === 'string' ? v : '');
}

/**
 * The `config` object for the server: the advanced JSON first, the form's fields over it. Empty
 * fields are left out so the driver's defaults apply. Throws with the field's label on bad JSON.
 */
export function buildConfig(kind: string, values: Obj, advanced: string): Obj {
  const specs = formOf(kind).config;
  let out: Obj = {};
  if (advanced.trim()) {
    const parsed: unknown = JSON.parse(advanced);
    if (!isObj(parsed)) throw new Error('{…}');
    out = parsed;
  }
  for (const s of specs) {
    if (!visible(s, values)) continue;
    const v = values[s.key];
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    if (s.kind === 'headers') {
      const h = textToHeaders(String(v));
      if (Object.keys(h).length) setPath(out, s.key, h);
    } else if (s.kind === 'json') setPath(out, s.key, JSON.parse(String(v)) as unknown);
    else setPath(out, s.key, typeof v === 'string' ? v.trim() : v);
  }
  return out;
}

/** The secrets a person typed (empty fields left out), or undefined when none were typed. */
export function buildSecrets(kind: string, values: Obj, configValues: Obj): Obj | undefined {
  const out: Obj = {};
  for (const s of formOf(kind).secrets) {
    if (!visible(s, configValues)) continue;
    const v = values[s.key];
    if (typeof v === 'string' && v !== '') setPath(out, s.key, v);
  }
  return Object.keys(out).length ? out : undefined;
}
