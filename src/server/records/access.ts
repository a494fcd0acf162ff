// The records engine's use of the permission layer (records/query): one place that hands it the
// clock and the plant time zone.
import type { Action } from '../../shared/definition.ts';
import type { Actor, AppContext } from '../platform/index.ts';
import { assertFieldsWritable, resolveAccess, type Access } from './query/index.ts';
import type { EntitySchema } from './schema.ts';

export type { Access };

export function accessFor(ctx: AppContext, actor: Actor, schema: EntitySchema, action: Action): Access {
  return resolveAccess(actor.principal, schema.app, schema.entity, action, { now: () => ctx.clock.now(), timezone: ctx.config.timezone });
}

/** 403 naming the given fields the actor may not write (after unknown/system fields were refused). */
export function assertWritable(access: Access, values: Record<string, unknown>): void {
  assertFieldsWritable(access, Object.keys(values));
}
