// A local HTTP destination on 127.0.0.1 for delivery tests and the bench. It counts every raw
// request, applies each document once per Idempotency-Key (a duplicate gets the first answer back),
// and can misbehave on demand: answer 503 / 429 with Retry-After / 400, hang past the client's
// timeout, or store the document and then answer an error (a lost acknowledgement).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Behaviour =
  | { status: number; retryAfter?: number }
  | { hang: true }
  /** Stores the document, then answers `status` (the sender believes it failed). */
  | { storeThen: number };

export interface RawRequest {
  method: string;
  path: string;
  key: string | null;
  body: unknown;
  at: number;
  answered: number | 'hang';
  headers: http.IncomingHttpHeaders;
}

export interface Effect {
  key: string;
  id: string;
  body: unknown;
  at: number;
}

export class Receiver {
  readonly server: http.Server;
  url = '';
  readonly requests: RawRequest[] = [];
  readonly effects = new Map<string, Effect>();
  /** Effects in the order they were applied. */
  readonly applied: Effect[] = [];
  private readonly plan: Behaviour[] = [];
  private readonly hung = new Set<http.ServerResponse>();
  /** Answer every request with this behaviour until the given time (ms epoch). */
  outage: { until: number; behaviour: Behaviour } | null = null;
  /** Delay before answering a normal request (ms). */
  delayMs = 0;
  inFlight = 0;
  maxInFlight = 0;
  tokensIssued = 0;
  /** When set, /in requires `Authorization: Bearer <a token issued by /token>`. */
  requireToken = false;
  private readonly tokens = new Set<string>();
  items: Array<Record<string, unknown>> = [];
  private seq = 0;

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void this.handle(req, res, Buffer.concat(chunks).toString('utf8'));
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Queues behaviours for the next requests to /in and /batch (then back to normal). */
  next(...b: Behaviour[]): void {
    this.plan.push(...b);
  }

  async close(): Promise<void> {
    for (const r of this.hung) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Applied documents with this partition value (body path `doc`), in the order applied. */
  orderOf(doc: string): unknown[] {
    return this.applied.filter((e) => (e.body as { doc?: unknown })?.doc === doc).map((e) => (e.body as { seq?: unknown }).seq);
  }

  private apply(key: string, body: unknown): { effect: Effect; fresh: boolean } {
    const had = this.effects.get(key);
    if (had) return { effect: had, fresh: false };
    const effect = { key, id: `ext-${++this.seq}`, body, at: Date.now() };
    this.effects.set(key, effect);
    this.applied.push(effect);
    return { effect, fresh: true };
  }

  private json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, text: string): Promise<void> {
    const u = new URL(req.url ?? '/', this.url);
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      /* keep text */
    }
    const keyHeader = req.headers['idempotency-key'];
    const key = typeof keyHeader === 'string' ? keyHeader : null;
    const raw: RawRequest = { method: req.method ?? 'GET', path: u.pathname, key, body, at: Date.now(), answered: 0, headers: req.headers };

    if (u.pathname === '/token' && req.method === 'POST') {
      const token = `tok-${++this.tokensIssued}`;
      this.tokens.add(token);
      this.json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 3600 });
      return;
    }
    if (u.pathname === '/lookup' && req.method === 'GET') {
      const e = this.effects.get(u.searchParams.get('key') ?? '');
      if (e) this.json(res, 200, { id: e.id });
      else this.json(res, 404, { error: 'not found' });
      return;
    }
    if (u.pathname === '/items' && req.method === 'GET') {
      this.pageItems(u, res);
      return;
    }
    if (u.pathname !== '/in' && u.pathname !== '/batch') {
      this.json(res, 404, { error: 'no such path' });
      return;
    }
    this.requests.push(raw);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const done = () => {
      this.inFlight--;
    };
    if (this.requireToken) {
      const auth = req.headers.authorization ?? '';
      if (!this.tokens.has(auth.replace(/^Bearer /, ''))) {
        raw.answered = 401;
        done();
        this.json(res, 401, { error: 'bad token' });
        return;
      }
    }
    const b = this.outage && Date.now() < this.outage.until ? this.outage.behaviour : this.plan.shift();
    if (b && 'hang' in b) {
      raw.answered = 'hang';
      this.hung.add(res);
      res.on('close', () => {
        this.hung.delete(res);
        done();
      });
      return;
    }
    if (b && 'status' in b) {
      raw.answered = b.status;
      done();
      this.json(res, b.status, { error: `planned ${b.status}` }, b.retryAfter !== undefined ? { 'retry-after': String(b.retryAfter) } : {});
      return;
    }
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (u.pathname === '/batch') {
      const items = Array.isArray(body) ? (body as Array<{ idempotencyKey: string; payload: unknown }>) : [];
      const out = items.map((it) => ({ id: this.apply(it.idempotencyKey, it.payload).effect.id }));
      raw.answered = b && 'storeThen' in b ? b.storeThen : 200;
      done();
      this.json(res, raw.answered, b && 'storeThen' in b ? { error: 'planned' } : out);
      return;
    }
    const { effect, fresh } = this.apply(key ?? `nokey-${this.requests.length}`, body);
    if (b && 'storeThen' in b) {
      raw.answered = b.storeThen;
      done();
      this.json(res, b.storeThen, { error: 'planned after storing' });
      return;
    }
    raw.answered = fresh ? 201 : 200;
    done();
    this.json(res, raw.answered, { id: effect.id });
  }

  /** GET /items: ?style=page|offset|cursor|link over `items`. */
  private pageItems(u: URL, res: http.ServerResponse): void {
    const style = u.searchParams.get('style') ?? 'none';
    const all = this.items;
    if (style === 'page') {
      const page = Number(u.searchParams.get('page') ?? 1);
      const size = Number(u.searchParams.get('size') ?? 10);
      this.json(res, 200, { data: all.slice((page - 1) * size, page * size) });
    } else if (style === 'offset') {
      const offset = Number(u.searchParams.get('offset') ?? 0);
      const limit = Number(u.searchParams.get('limit') ?? 10);
      this.json(res, 200, { data: all.slice(offset, offset + limit) });
    } else if (style === 'cursor') {
      const from = Number(u.searchParams.get('cursor') ?? 0);
      const slice = all.slice(from, from + 3);
      this.json(res, 200, { data: slice, next: from + 3 < all.length ? String(from + 3) : null });
    } else if (style === 'link') {
      const from = Number(u.searchParams.get('from') ?? 0);
      const slice = all.slice(from, from + 4);
      const headers: Record<string, string> = {};
      if (from + 4 < all.length) headers.link = `<${this.url}/items?style=link&from=${from + 4}>; rel="next", <${this.url}/items?style=link>; rel="first"`;
      this.json(res, 200, slice, headers);
    } else this.json(res, 200, all);
  }
}

export async function startReceiver(): Promise<Receiver> {
  return new Receiver().start();
}
