// The modeling API as the designers use it.
import type { AppDef, Label } from '../../shared/definition.ts';
import { api } from '../api.ts';

export interface AppSummary {
  name: string;
  label: Label;
  currentVersion: number;
  status: string;
  entities: number;
  updatedAt: string;
}
export interface DraftSummary {
  app: string;
  label: Label;
  revision: number;
  basedOnVersion: number | null;
  updatedAt: string;
}
export interface Draft extends DraftSummary {
  definition: AppDef;
}
export interface VersionInfo {
  version: number;
  publishedAt: string;
  publishedBy: string | null;
  changes: SchemaChange[];
}
export interface SchemaChange {
  kind: string;
  entity: string;
  field?: string;
  path: string;
  destructive: boolean;
  blocked?: boolean;
  message: string;
}
export interface PublishResult {
  app: string;
  version: number;
  changes: SchemaChange[];
  applied: boolean;
}
export interface Role {
  code: string;
  name: string;
  nameEn: string | null;
}
export interface OrgUser {
  id: string;
  username: string;
  displayName: string;
}

const enc = encodeURIComponent;

export const builderApi = {
  apps: () => api.get<{ apps: AppSummary[] }>('/apps').then((r) => r.apps),
  drafts: () => api.get<{ drafts: DraftSummary[] }>('/app-drafts').then((r) => r.drafts),
  app: (name: string) => api.get<{ app: string; version: number; definition: AppDef }>(`/apps/${enc(name)}`),
  draft: (name: string) => api.get<Draft>(`/app-drafts/${enc(name)}`),
  saveDraft: (name: string, definition: AppDef, baseRevision?: number) =>
    api.put<Draft>(`/app-drafts/${enc(name)}`, baseRevision ? { definition, baseRevision } : { definition }),
  deleteDraft: (name: string) => api.delete<void>(`/app-drafts/${enc(name)}`),
  versions: (name: string) => api.get<{ versions: VersionInfo[] }>(`/apps/${enc(name)}/versions`).then((r) => r.versions),
  validate: (definition: AppDef) => api.post<{ ok: true }>('/apps/validate', definition),
  diff: (definition: AppDef) => api.post<PublishResult>('/apps/diff', { definition }),
  publish: (definition: AppDef, confirmDestructive: boolean) => api.post<PublishResult>('/apps/publish', { definition, confirmDestructive }),
  rollback: (name: string, version: number, confirmDestructive: boolean) => api.post<PublishResult>(`/apps/${enc(name)}/rollback`, { version, confirmDestructive }),
  roles: () => api.get<{ items: Role[] }>('/org/roles').then((r) => r.items),
  users: (q: string) => api.get<{ items: OrgUser[] }>(`/org/users?limit=20${q ? `&q=${enc(q)}` : ''}`).then((r) => r.items),
};
