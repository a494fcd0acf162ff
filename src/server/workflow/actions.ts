// Typed actions the workflow engine itself provides to `action` nodes (other engines register
// theirs with registerWorkflowAction). Each runs inside the transaction of the step that reaches it.
//
//  - `emit_event` { type, data? }: writes a business event (CloudEvent) about the document into the
//    outbox, in the same transaction, e.g. `trellis.andon.preventive_effective`. Integration flows
//    subscribe to it like to any record event; its data has the shape of record events
//    (`data.record.values.<field>`, `data.name`), so one mapping style serves both.
import { z } from 'zod';
import { emitEvent } from '../platform/events/index.ts';
import { unprocessable } from '../platform/errors.ts';
import { registerWorkflowAction, runRecordChangeHooks } from './hooks.ts';

export const EMIT_EVENT_TYPE_RE = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+){1,7}$/;

export const EmitEventParams = z
  .object({
    type: z.string().max(200).regex(EMIT_EVENT_TYPE_RE, 'a dotted event type in lower case, e.g. "trellis.andon.closed"'),
    /** Extra constant values carried in `data.extra`. */
    data: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

registerWorkflowAction('emit_event', async (tx, e) => {
  const p = EmitEventParams.safeParse(e.params);
  if (!p.success) {
    throw unprocessable(
      `The step "${e.nodeId}" (emit_event) is set up wrongly: ${p.error.issues.map((i) => `params.${i.path.join('.')}: ${i.message}`).join('; ')}.`,
    );
  }
  const name = typeof e.record.name === 'string' ? e.record.name : null;
  await emitEvent(tx, {
    type: p.data.type,
    source: `/trellis/apps/${e.app}/${e.entity}`,
    subject: e.recordId,
    time: e.at,
    data: {
      app: e.app,
      entity: e.entity,
      id: e.recordId,
      name,
      instanceId: e.instanceId,
      nodeId: e.nodeId,
      by: e.actor.principal.username,
      record: { id: e.recordId, name, values: e.record },
      ...(p.data.data ? { extra: p.data.data } : {}),
    },
  });
});

//  - `set_fields` { fields: { <field>: "$now" | "$actor" | literal } }: writes values onto the
//    document when the flow passes the node, e.g. a stage's finish time for a dashboard
//    (`responded_at: $now`). `$now` is the step's instant (UTC), `$actor` the user who completed
//    the step; other values are stored as given (strings starting with "$" are refused, so a typo
//    like "$nwo" is not stored as text). The write goes through the records service in the step's
//    transaction (validation, history, outbox) like an approver's edit; a field the entity lacks,
//    or a value of the wrong type, fails the step with the records service's message.
export const SET_FIELDS_TOKENS = ['$now', '$actor'] as const;

const SetFieldValue = z.union([
  z.enum(SET_FIELDS_TOKENS),
  z
    .string()
    .max(2000)
    .refine((s) => !s.startsWith('$'), { message: 'only "$now" and "$actor" may start with "$"' }),
  z.number().finite(),
  z.boolean(),
  z.null(),
]);

export const SetFieldsParams = z
  .object({
    fields: z
      .record(z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'a field name in lower case, e.g. "responded_at"'), SetFieldValue)
      .refine((f) => Object.keys(f).length > 0, { message: 'name at least one field' })
      .refine((f) => Object.keys(f).length <= 50, { message: 'at most 50 fields' }),
  })
  .strict();

function paramsProblem(nodeId: string, action: string, issues: z.core.$ZodIssue[]): Error {
  return unprocessable(
    `The step "${nodeId}" (${action}) is set up wrongly: ${issues.map((i) => `params.${i.path.map(String).join('.')}: ${i.message}`).join('; ')}.`,
  );
}

registerWorkflowAction('set_fields', async (tx, e) => {
  const p = SetFieldsParams.safeParse(e.params);
  if (!p.success) throw paramsProblem(e.nodeId, 'set_fields', p.error.issues);
  const changes: Record<string, unknown> = {};
  for (const [field, v] of Object.entries(p.data.fields)) {
    changes[field] = v === '$now' ? e.at.toISOString() : v === '$actor' ? e.actor.principal.userId : v;
  }
  const stored = await runRecordChangeHooks(tx, {
    instanceId: e.instanceId,
    app: e.app,
    entity: e.entity,
    recordId: e.recordId,
    changes,
    actor: e.actor,
    at: e.at,
  });
  const merged = stored ?? changes;
  // The runtime merges the returned changes into its copy of the document, but writes the instance
  // row only when its own state changes; keep the stored copy (task views, later steps) current.
  await tx.query(`update wf_instances set record = record || $2::jsonb where id = $1`, [e.instanceId, JSON.stringify(merged)]);
  return { changes: merged };
});
