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
import { registerWorkflowAction } from './hooks.ts';

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
