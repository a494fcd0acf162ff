// The browser's API client: same-origin cookies, the CSRF header on writes, and RFC 9457
// problem+json errors turned into an ApiError a screen can show.

export const API_BASE = '/api/v1';
const CSRF_COOKIE = 'trellis_csrf';
const CSRF_HEADER = 'X-CSRF-Token';

export interface ProblemField {
  path: string;
  message: string;
}

/** A failed API call. `status` 0 means the server could not be reached. */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly errors: ProblemField[];
  readonly type: string | undefined;

  constructor(init: { status: number; title: string; detail?: string | undefined; errors?: ProblemField[] | undefined; type?: string | undefined }) {
    super(init.detail ?? init.title);
    this.name = 'ApiError';
    this.status = init.status;
    this.title = init.title;
    this.detail = init.detail;
    this.errors = init.errors ?? [];
    this.type = init.type;
  }
}

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}

export interface Department {
  id: string;
  code: string;
  name: string;
  nameEn: string | null;
}

export interface Me {
  id: string;
  username: string;
  displayName: string;
  displayNameEn: string | null;
  locale: string;
  roles: string[];
  departments: Department[];
  kind: 'person' | 'service';
}

export interface LoginResult {
  user: Me;
  csrfToken: string;
}

/** Token from the last login answer, used only if the cookie cannot be read. */
let lastCsrfToken: string | null = null;
/** Sent as Accept-Language so the server may word its problem details in the user's language. */
let acceptLanguage = 'zh-CN';

export function setApiLanguage(language: string): void {
  acceptLanguage = language;
}

export function readCookie(name: string): string | null {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return part.slice(eq + 1).trim();
      }
    }
  }
  return null;
}

function csrfToken(): string | null {
  return readCookie(CSRF_COOKIE) ?? lastCsrfToken;
}

function asFields(value: unknown): ProblemField[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value
    .filter((e): e is { path: unknown; message: unknown } => typeof e === 'object' && e !== null)
    .map((e) => ({ path: String(e.path ?? ''), message: String(e.message ?? '') }));
}

async function toApiError(res: Response): Promise<ApiError> {
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try {
      const body = (await res.json()) as Record<string, unknown>;
      return new ApiError({
        status: typeof body.status === 'number' ? body.status : res.status,
        title: typeof body.title === 'string' ? body.title : res.statusText,
        detail: typeof body.detail === 'string' ? body.detail : undefined,
        errors: asFields(body.errors),
        type: typeof body.type === 'string' ? body.type : undefined,
      });
    } catch {
      /* not JSON after all: fall through */
    }
  }
  return new ApiError({ status: res.status, title: res.statusText || `HTTP ${res.status}` });
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {
    Accept: 'application/json, application/problem+json',
    'Accept-Language': acceptLanguage,
  };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    const token = csrfToken();
    if (token) headers[CSRF_HEADER] = token;
  }
  let res: Response;
  try {
    res = await fetch(API_BASE + path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new ApiError({ status: 0, title: 'Network error', detail: (err as Error).message });
  }
  if (!res.ok) throw await toApiError(res);
  if (res.status === 204 || res.headers.get('content-length') === '0') return undefined as T;
  return (await res.json()) as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, body),
  patch: <T>(path: string, body?: unknown) => request<T>('PATCH', path, body),
  delete: <T>(path: string) => request<T>('DELETE', path),
};

export async function login(username: string, password: string): Promise<LoginResult> {
  const result = await api.post<LoginResult>('/auth/login', { username, password });
  lastCsrfToken = result.csrfToken;
  return result;
}

export async function logout(): Promise<void> {
  try {
    await api.post<void>('/auth/logout');
  } finally {
    lastCsrfToken = null;
  }
}

export function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  return api.post<void>('/auth/password', { currentPassword, newPassword });
}

/** The signed-in user, or null when there is no valid session (401). */
export async function fetchMe(): Promise<Me | null> {
  try {
    return await api.get<Me>('/me');
  } catch (err) {
    if (isApiError(err) && err.status === 401) return null;
    throw err;
  }
}
