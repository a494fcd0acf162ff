// A small Tryton JSON-RPC client: login, the `Session` authorization header, automatic re-login
// when the server forgets the session (401/403), Tryton's typed JSON values (Decimal, date,
// datetime, time, timedelta, bytes) in both directions, a timeout per call, and errors that say
// whether retrying can help. Decimals stay exact: they travel as strings, never as JS numbers.

/** A Tryton `Decimal` on our side: an exact decimal string. */
export class TrytonDecimal {
  readonly value: string;
  constructor(value: string) {
    if (!/^-?\d+(\.\d+)?$/.test(value)) throw new Error(`not a decimal: ${JSON.stringify(value)}`);
    this.value = value;
  }
  toJSON(): string {
    return this.value;
  }
}
/** A calendar date without a time (`YYYY-MM-DD`). */
export class TrytonDate {
  readonly value: string;
  constructor(value: string) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) throw new Error(`not a date (YYYY-MM-DD): ${JSON.stringify(value)}`);
    this.value = value;
  }
  toJSON(): string {
    return this.value;
  }
}

export const decimal = (v: string) => new TrytonDecimal(v);
export const date = (v: string) => new TrytonDate(v);

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Our values → Tryton's wire form. Dates are JS Date (UTC datetime) or TrytonDate; decimals TrytonDecimal. */
export function encodeValue(v: unknown): unknown {
  if (v instanceof TrytonDecimal) return { __class__: 'Decimal', decimal: v.value };
  if (v instanceof TrytonDate) {
    const [y, m, d] = v.value.split('-').map(Number);
    return { __class__: 'date', year: y, month: m, day: d };
  }
  if (v instanceof Date) {
    return {
      __class__: 'datetime',
      year: v.getUTCFullYear(),
      month: v.getUTCMonth() + 1,
      day: v.getUTCDate(),
      hour: v.getUTCHours(),
      minute: v.getUTCMinutes(),
      second: v.getUTCSeconds(),
      microsecond: v.getUTCMilliseconds() * 1000,
    };
  }
  if (Array.isArray(v)) return v.map(encodeValue);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = encodeValue(x);
    return out;
  }
  return v;
}

/**
 * Tryton's wire form → plain JSON: Decimal → exact string; date → `YYYY-MM-DD`; datetime →
 * ISO-8601 UTC with microseconds (`2026-03-01T08:00:00.123456Z`, Tryton keeps UTC); time → `HH:MM:SS`;
 * timedelta → seconds as a string; bytes → base64 string.
 */
export function decodeValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decodeValue);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    switch (o.__class__) {
      case 'Decimal':
        return String(o.decimal);
      case 'date':
        return `${pad(Number(o.year), 4)}-${pad(Number(o.month))}-${pad(Number(o.day))}`;
      case 'datetime':
        return `${pad(Number(o.year), 4)}-${pad(Number(o.month))}-${pad(Number(o.day))}T${pad(Number(o.hour ?? 0))}:${pad(Number(o.minute ?? 0))}:${pad(Number(o.second ?? 0))}.${pad(Number(o.microsecond ?? 0), 6)}Z`;
      case 'time':
        return `${pad(Number(o.hour ?? 0))}:${pad(Number(o.minute ?? 0))}:${pad(Number(o.second ?? 0))}`;
      case 'timedelta':
        return String(o.seconds);
      case 'bytes':
        return String(o.base64);
      default: {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(o)) out[k] = decodeValue(x);
        return out;
      }
    }
  }
  return v;
}

/** Parses our ISO datetime (as produced by decodeValue) back into a Tryton datetime, keeping microseconds. */
export function encodeDatetimeString(iso: string): unknown {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z$/.exec(iso);
  if (!m) throw new Error(`not a UTC datetime: ${iso}`);
  return {
    __class__: 'datetime',
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4]),
    minute: Number(m[5]),
    second: Number(m[6]),
    microsecond: Number((m[7] ?? '0').padEnd(6, '0')),
  };
}

/** What went wrong, and whether the same call can succeed later. */
export class TrytonError extends Error {
  /** true: network, timeout, 5xx, 429, concurrency, a locked database; false: the request itself is wrong. */
  readonly retryable: boolean;
  readonly kind: 'network' | 'timeout' | 'http' | 'auth' | 'user' | 'server';
  readonly status: number | undefined;
  /** Tryton's own text (UserError message + description), meant for a person. */
  readonly userMessage: string;
  constructor(kind: TrytonError['kind'], message: string, retryable: boolean, status?: number) {
    super(message);
    this.kind = kind;
    this.retryable = retryable;
    this.status = status;
    this.userMessage = message;
  }
}

const RETRYABLE_SERVER = /database is locked|could not serialize|deadlock|concurrent|timeout|temporarily|connection|OperationalError|too many/i;

/** Turns Tryton's `error` member into a TrytonError. */
export function errorFromRpc(error: unknown, method: string): TrytonError {
  if (Array.isArray(error)) {
    const [name, args] = error as [unknown, unknown];
    if (name === 'UserError' || name === 'UserWarning' || name === 'AccessError') {
      const parts = Array.isArray(args) ? args : [args];
      // UserError: [message, description, domain]; UserWarning: [name, message, description]
      const texts = (name === 'UserWarning' ? parts.slice(1, 3) : parts.slice(0, 2)).filter((x) => typeof x === 'string' && x.trim() !== '');
      return new TrytonError('user', `Tryton ${name === 'UserWarning' ? 'warning' : 'refused'} ${method}: ${texts.join(' — ')}`, false);
    }
    if (name === 'ConcurrencyException') return new TrytonError('server', `Tryton: record changed by someone else during ${method}; try again`, true);
    if (name === 'LoginException') return new TrytonError('auth', `Tryton asks for more login data (${String(args)})`, false, 401);
    if (name === 'RateLimitException') return new TrytonError('http', 'Tryton: too many login attempts; wait a minute', true, 429);
    const text = [name, typeof args === 'string' ? args : ''].filter((x) => typeof x === 'string' && x !== '').join(' ');
    return new TrytonError('server', `Tryton error in ${method}: ${text || 'unknown error'}`, RETRYABLE_SERVER.test(text));
  }
  return new TrytonError('server', `Tryton error in ${method}: ${JSON.stringify(error).slice(0, 500)}`, false);
}

export interface TrytonClientOptions {
  /** Server base URL, e.g. http://127.0.0.1:8000 */
  url: string;
  database: string;
  username: string;
  password: string;
  language?: string;
  timeoutMs?: number;
}

export class TrytonClient {
  private readonly o: Required<TrytonClientOptions>;
  private session: { userId: number; key: string } | null = null;
  private context: Record<string, unknown> = {};
  private loggingIn: Promise<void> | null = null;
  private nextId = 1;
  /** Counters for tests and health: how often we signed in. */
  logins = 0;

  constructor(o: TrytonClientOptions) {
    this.o = { language: 'en', timeoutMs: 30_000, ...o, url: o.url.replace(/\/+$/, '') };
  }

  private get endpoint(): string {
    return `${this.o.url}/${encodeURIComponent(this.o.database)}/`;
  }

  /** One HTTP round trip; throws TrytonError. `auth` adds the Session header. */
  private async post(method: string, params: unknown[], auth: boolean): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (auth && this.session) {
      headers.authorization = `Session ${Buffer.from(`${this.o.username}:${this.session.userId}:${this.session.key}`).toString('base64')}`;
    }
    let res: Response;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.o.timeoutMs);
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify({ id: this.nextId++, method, params: encodeValue(params) }),
        signal: ac.signal,
      });
    } catch (err) {
      clearTimeout(timer);
      if (ac.signal.aborted) throw new TrytonError('timeout', `Tryton did not answer ${method} within ${this.o.timeoutMs} ms`, true);
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new TrytonError('network', `Tryton unreachable at ${this.o.url} (${cause?.code ?? cause?.message ?? (err as Error).message})`, true);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      clearTimeout(timer);
      throw new TrytonError(ac.signal.aborted ? 'timeout' : 'network', `Tryton connection broke while answering ${method}: ${(err as Error).message}`, true);
    }
    clearTimeout(timer);
    if (res.status === 401 || res.status === 403) throw new TrytonError('auth', `Tryton refused the session (HTTP ${res.status})`, false, res.status);
    if (res.status === 429 || res.status >= 500) {
      throw new TrytonError('http', `Tryton answered HTTP ${res.status} to ${method}`, true, res.status);
    }
    if (res.status >= 400) throw new TrytonError('http', `Tryton answered HTTP ${res.status} to ${method}: ${text.slice(0, 200)}`, false, res.status);
    let body: { result?: unknown; error?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new TrytonError('http', `Tryton answered ${method} with something that is not JSON`, true, res.status);
    }
    if (body.error !== undefined && body.error !== null) throw errorFromRpc(body.error, method);
    return decodeValue(body.result);
  }

  /** Signs in (common.db.login) and loads the user's context (company, language). */
  async login(): Promise<void> {
    if (this.loggingIn) return this.loggingIn;
    this.loggingIn = (async () => {
      this.session = null;
      let r: unknown;
      try {
        r = await this.post('common.db.login', [this.o.username, { password: this.o.password }, this.o.language], false);
      } catch (err) {
        if (err instanceof TrytonError && err.kind === 'auth') {
          throw new TrytonError('auth', `Tryton refused the login of "${this.o.username}" on database "${this.o.database}": check the user name and password`, false, err.status);
        }
        if (err instanceof TrytonError && /doesn't exist|does not exist/i.test(err.message)) {
          throw new TrytonError('user', `Tryton has no database "${this.o.database}"`, false);
        }
        throw err;
      }
      if (!Array.isArray(r) || typeof r[0] !== 'number' || typeof r[1] !== 'string') {
        throw new TrytonError('auth', `Tryton refused the login of "${this.o.username}": check the user name and password`, false);
      }
      this.session = { userId: r[0], key: r[1] };
      this.logins++;
      const prefs = (await this.post('model.res.user.get_preferences', [true, {}], true)) as Record<string, unknown>;
      this.context = { ...prefs, language: this.o.language };
    })().finally(() => {
      this.loggingIn = null;
    });
    return this.loggingIn;
  }

  /** Forgets the session on the server (common.db.logout); the next call signs in again. */
  async logout(): Promise<void> {
    if (!this.session) return;
    try {
      await this.post('common.db.logout', [], true);
    } finally {
      this.session = null;
    }
  }

  /** For tests: the current session key (to check that a renewal happened). */
  get sessionKey(): string | null {
    return this.session?.key ?? null;
  }

  /** For tests: the Authorization header value of the current session. */
  get sessionHeader(): string | null {
    return this.session ? `Session ${Buffer.from(`${this.o.username}:${this.session.userId}:${this.session.key}`).toString('base64')}` : null;
  }

  /**
   * Calls `method` with `params`; the user's context is appended as the last parameter.
   * An expired session is renewed once and the call repeated.
   */
  async call<T = unknown>(method: string, params: unknown[], context: Record<string, unknown> = {}): Promise<T> {
    if (!this.session) await this.login();
    const full = [...params, { ...this.context, ...context }];
    try {
      return (await this.post(method, full, true)) as T;
    } catch (err) {
      if (!(err instanceof TrytonError) || err.kind !== 'auth' || err.status === undefined) throw err;
      await this.login();
      return (await this.post(method, [...params, { ...this.context, ...context }], true)) as T;
    }
  }

  /** `model.<model>.<method>` */
  model<T = unknown>(model: string, method: string, params: unknown[], context?: Record<string, unknown>): Promise<T> {
    return this.call<T>(`model.${model}.${method}`, params, context);
  }

  searchRead<T = Record<string, unknown>>(model: string, domain: unknown[], offset: number, limit: number | null, order: Array<[string, 'ASC' | 'DESC']> | null, fields: string[]): Promise<T[]> {
    return this.model<T[]>(model, 'search_read', [domain, offset, limit, order, fields]);
  }
}
