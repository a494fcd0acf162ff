// The web form's field rights must agree with the server's (records/query/permissions.ts): a form
// that offers a field the server refuses makes every save fail.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import type { AppDef, Me } from '../src/web/api.ts';
import { fieldRights, initiatorStepRights } from '../src/web/runtime/model.ts';

const andon = YAML.parse(fs.readFileSync(new URL('../catalog/production-exception/app.yaml', import.meta.url), 'utf8')) as AppDef;
const exception = andon.entities.find((e) => e.name === 'exception')!;
const me = (roles: string[]): Me => ({ id: 'u1', username: 'u', displayName: 'U', roles, departments: [] }) as unknown as Me;

describe('fieldRights', () => {
  it('a read-only permission never makes a field writable: the Andon reporter writes only the report fields', () => {
    const r = fieldRights(exception, me(['employee', 'operator']));
    for (const later of ['responsible_team', 'temporary_action', 'root_cause', 'preventive_action', 'preventive_effective', 'closed_at']) {
      expect(r[later], later).toBe('read');
    }
    expect(r.title ?? 'write').toBe('write');
  });

  it('administrators may write everything; people without any permission see nothing', () => {
    expect(fieldRights(exception, me(['admin']))).toEqual({});
    const none = fieldRights({ ...exception, permissions: [] }, me(['operator']));
    expect(Object.values(none).every((v) => v === 'hidden')).toBe(true);
  });
});

describe('initiatorStepRights', () => {
  it("a draft's form is the report step: the Andon reporter does not see the later stages' fields", () => {
    const r = initiatorStepRights(andon, 'exception', fieldRights(exception, me(['employee', 'operator'])));
    for (const later of ['responsible_team', 'action_owner', 'temporary_action', 'downtime_minutes', 'root_cause', 'preventive_action', 'preventive_effective', 'verification_note']) {
      expect(r[later], later).toBe('hidden');
    }
    for (const own of ['title', 'line', 'process_category', 'work_order', 'equipment', 'severity', 'description', 'photos']) expect(r[own] ?? 'write', own).toBe('write');
  });

  it('narrows, never widens: read-only stays read-only, and entities without a workflow keep their rights', () => {
    const wf = { name: 'w', entity: 'exception', root: { id: 'start', type: 'initiator', fields: { title: 'read_only', line: 'editable' } } };
    const app = { ...andon, workflows: [wf] } as AppDef;
    const base = { line: 'read' as const };
    expect(initiatorStepRights(app, 'exception', base)).toEqual({ title: 'read', line: 'read' });
    expect(initiatorStepRights(app, 'routing', base)).toBe(base);
  });
});
