// Who may download a file: derived from what references it (decision 0014, "Files live in the
// database"). In order, the first that holds:
//   - administrators, the system, and the person who uploaded it (a form shows its photo before
//     the record is saved);
//   - whoever may read a record that holds it AND the field that holds it (row scope and
//     field-level read rights, exactly as a record read applies them; `file_refs`, kept by the
//     records engine in the write's transaction);
//   - whoever may read an approval trail whose comment or decision carries it, or takes part in
//     an approval of a record that holds it in a field not hidden at their step.
// Anyone else gets the same 404 as for a file that does not exist: a file id says nothing.
import type { Actor, AppContext } from '../platform/index.ts';
import { notFound } from '../platform/index.ts';
import { canReadRecordField, fileRefsOf } from '../records/index.ts';
import { workflowService } from '../workflow/index.ts';

export async function mayReadFile(ctx: AppContext, actor: Actor, file: { id: string; createdBy: string }): Promise<boolean> {
  const p = actor.principal;
  if (p.kind === 'system' || p.roles.includes('admin') || p.userId === file.createdBy) return true;
  const refs = await fileRefsOf(ctx.db, file.id);
  for (const ref of refs) if (await canReadRecordField(ctx.db, ctx, actor, ref)) return true;
  return workflowService.canReadFileViaApprovals(ctx.db, actor, file.id, refs);
}

export async function assertMayReadFile(ctx: AppContext, actor: Actor, file: { id: string; createdBy: string }): Promise<void> {
  if (!(await mayReadFile(ctx, actor, file))) throw notFound(`There is no file ${file.id}, or you may not see it.`);
}
