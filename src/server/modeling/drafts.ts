// Drafts: the definition a designer is working on, kept on the server between sessions and
// before an app's first publish. A draft is work in progress, so it is NOT validated beyond its
// outline (an object naming its app, with a label and entities); publishing validates it fully.
// One draft per app; saving replaces it; a stale save (someone else saved meanwhile) is refused.
import { z } from 'zod';
import { IDENT_RE } from '../../shared/definition.ts';
import type { Sql } from '../db/index.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { conflict, validationFailed, type Actor, type AppContext } from '../platform/index.ts';

/** Largest draft accepted (JSON text); a 500-field app is far below this. */
export const MAX_DRAFT_BYTES = 2_000_000;

export interface AppDraft {
  app: string;
  label: unknown;
  definition: Record<string, unknown>;
  /** Increases with every save; send it back as `baseRevision` to detect concurrent edits. */
  revision: number;
  basedOnVersion: number | null;
  updatedAt: string;
  updatedBy: string | null;
}

export const DraftOutline = z
  .object({
    name: z.string().regex(IDENT_RE, 'use lower-case letters, digits and single underscores'),
    label: z.object({ zh: z.string().max(200) }).passthrough(),
    entities: z.array(z.unknown()).max(200),
  })
  .passthrough();

const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : String(d));

type Row = { app_name: string; definition: Record<string, unknown>; revision: number; based_on_version: number | null; updated_at: Date; updated_by: string | null };
const toDraft = (r: Row): AppDraft => ({
  app: r.app_name,
  label: r.definition.label,
  definition: r.definition,
  revision: r.revision,
  basedOnVersion: r.based_on_version,
  updatedAt: iso(r.updated_at),
  updatedBy: r.updated_by,
});

export async function listDrafts(sql: Sql): Promise<Omit<AppDraft, 'definition'>[]> {
  const r = await sql.query<Row>('select * from app_drafts order by app_name');
  return r.rows.map((x) => {
    const { definition: _d, ...rest } = toDraft(x);
    return rest;
  });
}

export async function getDraft(sql: Sql, app: string): Promise<AppDraft | null> {
  const r = await sql.query<Row>('select * from app_drafts where app_name = $1', [app]);
  return r.rows[0] ? toDraft(r.rows[0]) : null;
}

/** Saves (creates or replaces) the draft of `app`. `baseRevision` guards against overwriting a newer save. */
export async function saveDraft(ctx: AppContext, actor: Actor, app: string, definition: unknown, baseRevision: number | undefined): Promise<AppDraft> {
  const outline = DraftOutline.safeParse(definition);
  if (!outline.success) {
    throw validationFailed(
      'A draft must be an app definition outline: {name, label: {zh}, entities: [...]}.',
      outline.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
    );
  }
  if (outline.data.name !== app) {
    throw validationFailed(`The draft names app "${outline.data.name}" but is saved as "${app}"; they must match.`, [{ path: 'name', message: `must be "${app}"` }]);
  }
  const text = JSON.stringify(definition);
  if (text.length > MAX_DRAFT_BYTES) throw validationFailed(`The draft is too large (${text.length} bytes, at most ${MAX_DRAFT_BYTES}).`, [{ path: '(root)', message: 'too large' }]);
  const now = ctx.clock.now();
  return ctx.db.tx(async (tx) => {
    const cur = await tx.query<{ revision: number }>('select revision from app_drafts where app_name = $1 for update', [app]);
    const have = cur.rows[0]?.revision;
    if (baseRevision !== undefined && have !== undefined && have !== baseRevision) {
      throw conflict(`The draft of "${app}" was saved by someone else meanwhile (revision ${have}, yours is based on ${baseRevision}). Reload it before saving.`);
    }
    const pub = await tx.query<{ current_version: number }>('select current_version from apps where name = $1', [app]);
    const r = await tx.query<Row>(
      `insert into app_drafts (app_name, definition, revision, based_on_version, updated_at, updated_by)
       values ($1, $2::jsonb, 1, $3, $4, $5)
       on conflict (app_name) do update set definition = excluded.definition, revision = app_drafts.revision + 1,
         based_on_version = excluded.based_on_version, updated_at = excluded.updated_at, updated_by = excluded.updated_by
       returning *`,
      [app, text, pub.rows[0]?.current_version ?? null, now, actor.principal.kind === 'user' ? actor.principal.userId : null],
    );
    await appendAudit(tx, actor, { action: 'app.draft.save', targetType: 'app', targetId: app, detail: { revision: r.rows[0]!.revision } }, now);
    return toDraft(r.rows[0]!);
  });
}

export async function deleteDraft(ctx: AppContext, actor: Actor, app: string): Promise<boolean> {
  const now = ctx.clock.now();
  return ctx.db.tx(async (tx) => {
    const r = await tx.query('delete from app_drafts where app_name = $1 returning app_name', [app]);
    if (!r.rows.length) return false;
    await appendAudit(tx, actor, { action: 'app.draft.delete', targetType: 'app', targetId: app }, now);
    return true;
  });
}
