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

// ---------------------------------------------------------------------------------------------
// Runtime: apps, records, files, saved views, approvals. Shapes mirror the server's answers.

export interface LabelText {
  zh: string;
  en?: string;
}

export interface AppSummary {
  name: string;
  label: LabelText;
  currentVersion: number;
  status: string;
  entities: number;
}

export type Cond = { and: Cond[] } | { or: Cond[] } | { not: Cond } | { field: string; op: string; value?: unknown };

export interface FieldDef {
  name: string;
  type: string;
  label: LabelText;
  help?: LabelText;
  required?: boolean;
  default?: unknown;
  min?: number | string;
  max?: number | string;
  maxLength?: number;
  pattern?: string;
  options?: Array<{ value: string; label: LabelText; color?: string }>;
  target?: string;
  scale?: number;
  formula?: string;
  resultType?: string;
  visibleIf?: Cond;
  requiredIf?: Cond;
  readOnlyAfterSubmit?: boolean;
  filterable?: boolean;
  searchable?: boolean;
}

export interface PermissionDef {
  role: string;
  actions: string[];
  fields?: Record<string, 'read' | 'write' | 'hidden'>;
}

export interface EntityDef {
  name: string;
  label: LabelText;
  description?: string;
  child?: boolean;
  submittable?: boolean;
  namingSeries?: string;
  titleField?: string;
  fields: FieldDef[];
  permissions?: PermissionDef[];
  listView?: { columns?: string[]; sort?: { field: string; dir: 'asc' | 'desc' } };
}

export interface AppDef {
  name: string;
  label: LabelText;
  description?: string;
  icon?: string;
  entities: EntityDef[];
  workflows?: unknown[];
}

export interface PublishedApp {
  app: string;
  version: number;
  definition: AppDef;
}

export type RecordStatus = 'draft' | 'submitted' | 'cancelled';

export interface RecordJson {
  id: string;
  name: string | null;
  status: RecordStatus;
  version: number;
  created_by: string | null;
  created_at: string;
  updated_at: string;
  submitted_at: string | null;
  cancelled_at: string | null;
  amended_from: string | null;
  values: Record<string, unknown>;
  intercepted?: { workflow?: { instanceId: string; status: string } };
}

export interface ListPage {
  items: RecordJson[];
  nextCursor: string | null;
}

export interface HistoryEntry {
  id: number;
  version: number;
  action: string;
  changed_by_name: string | null;
  changed_at: string;
  changes: Array<{ field: string; before: unknown; after: unknown }>;
}

export interface FileRef {
  id: string;
  name: string;
  contentType?: string;
  size?: number;
}

export interface SavedView {
  id: string;
  name: string;
  config: { filter?: Cond; sort?: Array<{ field: string; dir: 'asc' | 'desc' }>; columns?: string[]; q?: string };
}

export interface OrgUser {
  id: string;
  username: string;
  displayName: string;
  displayNameEn: string | null;
}

export interface DepartmentNode {
  id: string;
  code: string;
  name: string;
  nameEn: string | null;
  children: DepartmentNode[];
}

export interface InboxCounts {
  todo: number;
  done: number;
  ccUnread: number;
  startedRunning: number;
  notificationsUnread: number;
}

export interface InboxItem {
  id: string;
  instanceId?: string;
  nodeId?: string;
  kind?: string;
  title: string;
  app: string;
  workflow: string;
  entity?: string;
  recordId?: string;
  status: string;
  decision?: string | null;
  initiatorName: string;
  createdAt: string;
  decidedAt?: string | null;
  readAt?: string | null;
}

export interface InstanceView {
  id: string;
  app: string;
  workflow: string;
  entity: string;
  recordId: string;
  title: string;
  status: string;
  initiatorId: string;
  createdAt: string;
  endedAt: string | null;
}

export interface TrailEntry {
  seq: number;
  at: string;
  type: string;
  nodeId: string | null;
  nodeName: string | null;
  taskId: string | null;
  actor: { id: string | null; username: string | null; displayName: string | null };
  /** Who the task went to (escalated, transferred, delegated). */
  to?: { id: string; username: string; displayName: string } | null;
  comment: string | null;
  detail: Record<string, unknown>;
}

export interface TaskView {
  task: { id: string; instanceId: string; nodeId: string; kind: string; status: string; decision: string | null; title: string; app: string; createdAt: string };
  instance: InstanceView;
  node: { id: string; type: string; name: LabelText | null; signature: boolean } | null;
  /** The step's field access (fields not listed: read-only). */
  fields: Record<string, 'editable' | 'read_only' | 'hidden'>;
  record: Record<string, unknown>;
  actions: string[];
  returnTargets: Array<{ nodeId: string; name: string }>;
}

export const recordsPath = (app: string, entity: string) => `/apps/${encodeURIComponent(app)}/entities/${encodeURIComponent(entity)}/records`;

/** Uploads one file as the raw body; the answer is the reference a record field keeps. */
export async function uploadFile(file: Blob, name: string): Promise<FileRef> {
  const headers: Record<string, string> = { 'Content-Type': file.type || 'application/octet-stream', Accept: 'application/json', 'Accept-Language': acceptLanguage };
  const token = csrfToken();
  if (token) headers[CSRF_HEADER] = token;
  let res: Response;
  try {
    res = await fetch(`${API_BASE}/files?name=${encodeURIComponent(name)}`, { method: 'POST', headers, body: file, credentials: 'same-origin' });
  } catch (err) {
    throw new ApiError({ status: 0, title: 'Network error', detail: (err as Error).message });
  }
  if (!res.ok) throw await toApiError(res);
  const meta = (await res.json()) as FileRef;
  return { id: meta.id, name: meta.name, contentType: meta.contentType, size: meta.size };
}

export const fileUrl = (id: string) => `${API_BASE}/files/${encodeURIComponent(id)}`;

/** Sends a spreadsheet as the raw body to the import endpoints (preview or import). */
export async function postSpreadsheet<T>(path: string, file: File, query: Record<string, string>): Promise<T> {
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', Accept: 'application/json', 'Accept-Language': acceptLanguage };
  const token = csrfToken();
  if (token) headers[CSRF_HEADER] = token;
  const qs = new URLSearchParams({ ...query, filename: file.name }).toString();
  let res: Response;
  try {
    res = await fetch(`${API_BASE}${path}?${qs}`, { method: 'POST', headers, body: file, credentials: 'same-origin' });
  } catch (err) {
    throw new ApiError({ status: 0, title: 'Network error', detail: (err as Error).message });
  }
  if (!res.ok) {
    // an all-or-nothing import with bad rows answers 422 with the report in the problem body
    const body = (await res.clone().json().catch(() => null)) as (T & { rows?: unknown }) | null;
    if (res.status === 422 && body && Array.isArray(body.rows)) return body;
    throw await toApiError(res);
  }
  return (await res.json()) as T;
}
