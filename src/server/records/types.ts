// The shapes the records engine hands out.
import type { Issue } from './values.ts';

export type RecordStatus = 'draft' | 'submitted' | 'cancelled';

/**
 * A record as the API returns it. System columns sit at the top level under their column names
 * (the names filters and sorts use); the entity's own fields are under `values`. A child-table
 * field holds its rows in order, each `{ id, ...fields }`.
 */
export interface RecordJson {
  id: string;
  /** Document number from the naming series; null when the entity has none. */
  name: string | null;
  status: RecordStatus;
  version: number;
  created_by: string | null;
  created_at: string;
  updated_by: string | null;
  updated_at: string;
  owner_department_id: string | null;
  amended_from: string | null;
  submitted_at: string | null;
  cancelled_at: string | null;
  values: Record<string, unknown>;
  /** Formula fields that could not be computed on this write (they were saved as null). */
  warnings?: Issue[];
}

export interface ListOptions {
  /** Condition AST (see src/shared/definition.ts `Condition`). */
  filter?: unknown;
  /** e.g. `[{ field: 'created_at', dir: 'desc' }]`; default the entity's list-view sort. */
  sort?: Array<{ field: string; dir: 'asc' | 'desc' }>;
  /** Cursor from the previous page's `nextCursor`. */
  after?: string | null;
  /** 1..200, default 50. */
  limit?: number;
  /** Full-text search over the searchable fields and the name. */
  q?: string;
  /** Only these fields in `values` (system columns are always returned). */
  fields?: string[];
}

export interface ListResult {
  items: RecordJson[];
  nextCursor: string | null;
}

export interface HistoryEntry {
  id: number;
  version: number;
  action: string;
  changed_by: string | null;
  changed_by_name: string | null;
  changed_at: string;
  ip: string | null;
  user_agent: string | null;
  changes: Array<{ field: string; before: unknown; after: unknown }>;
}

export interface SubmitResult {
  record: RecordJson;
  /** Set when a before-submit hook (an approval tree) took the submit over. */
  intercepted?: unknown;
}
