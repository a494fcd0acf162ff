// The approval-tree format and its validator: precise problems with paths by node id.
import { describe, expect, it } from 'vitest';
import { checkWorkflow, nodeOutcome } from '../src/server/workflow/index.ts';
import { compareDecimal, evaluate } from '../src/server/workflow/condition.ts';
import type { EntityDef } from '../src/shared/definition.ts';
import type { WorkflowDef } from '../src/shared/workflow-definition.ts';

const expense: EntityDef = {
  name: 'expense',
  label: { zh: '费用报销' },
  submittable: true,
  fields: [
    { name: 'amount', type: 'money', label: { zh: '金额' } },
    { name: 'reason', type: 'text', label: { zh: '事由' } },
    { name: 'reviewer', type: 'user', label: { zh: '审核人' } },
    { name: 'cost_center', type: 'department', label: { zh: '成本中心' } },
  ],
};

const good: WorkflowDef = {
  name: 'expense_approval',
  entity: 'expense',
  label: { zh: '费用审批' },
  root: {
    id: 'start',
    type: 'initiator',
    fields: { amount: 'editable' },
    next: {
      id: 'lead',
      type: 'approver',
      approvers: [{ kind: 'department_head', levelsUp: 0 }],
      fields: { amount: 'read_only', reason: 'hidden' },
      sla: { remind: { after: 60 }, escalate: { after: 240, repeat: true, maxLevels: 3 }, auto: { after: 2880, action: 'approve' } },
      next: {
        id: 'by_amount',
        type: 'condition',
        branches: [
          { id: 'big', when: { field: 'amount', op: 'gt', value: '50000' }, next: { id: 'cfo', type: 'approver', approvers: [{ kind: 'role', role: 'cfo' }], signature: true } },
          { id: 'rest', default: true },
        ],
        next: { id: 'reviewer', type: 'approver', approvers: [{ kind: 'field', field: 'reviewer' }], mode: 'ratio', ratio: 60 },
      },
    },
  },
};

const paths = (input: unknown, entity?: EntityDef) => checkWorkflow(input, entity).problems.map((p) => p.path);
const clone = (): any => JSON.parse(JSON.stringify(good));

describe('workflow definition', () => {
  it('accepts a complete tree', () => {
    expect(checkWorkflow(good, expense).problems).toEqual([]);
  });

  it('reports an approver node without a source', () => {
    const wf = clone();
    wf.root.next.approvers = [];
    expect(checkWorkflow(wf, expense).problems).toContainEqual({
      path: 'workflows.expense_approval.nodes.lead.approvers',
      message: expect.stringContaining('at least one source'),
    });
  });

  it('reports a condition without a default branch, and a default that is not last', () => {
    const wf = clone();
    wf.root.next.next.branches[1] = { id: 'rest', when: { field: 'amount', op: 'lte', value: '50000' } };
    expect(paths(wf, expense)).toContain('workflows.expense_approval.nodes.by_amount.branches');
    const wf2 = clone();
    wf2.root.next.next.branches.reverse();
    expect(paths(wf2, expense)).toContain('workflows.expense_approval.nodes.by_amount.branches.rest');
  });

  it('reports unreachable nodes: after an end node, and after branches that all end', () => {
    const wf = clone();
    wf.root.next.next = { id: 'stop', type: 'end', next: { id: 'ghost', type: 'cc', approvers: [{ kind: 'initiator' }] } };
    expect(checkWorkflow(wf, expense).problems).toContainEqual({ path: 'workflows.expense_approval.nodes.ghost', message: expect.stringContaining('unreachable') });
    const wf2 = clone();
    wf2.root.next.next.branches[0].next = { id: 'e1', type: 'end' };
    wf2.root.next.next.branches[1].next = { id: 'e2', type: 'end' };
    expect(checkWorkflow(wf2, expense).problems).toContainEqual({ path: 'workflows.expense_approval.nodes.reviewer', message: expect.stringContaining('never runs') });
  });

  it('reports unknown fields in conditions, sources and permissions', () => {
    const wf = clone();
    wf.root.next.next.branches[0].when = { and: [{ field: 'amount', op: 'gt', value: 1 }, { field: 'amout', op: 'gt', value: 1 }] };
    wf.root.next.next.next.approvers = [{ kind: 'field', field: 'reason' }];
    wf.root.next.fields = { nope: 'hidden' };
    const problems = checkWorkflow(wf, expense).problems;
    expect(problems).toContainEqual({ path: 'workflows.expense_approval.nodes.by_amount.branches.big.when', message: expect.stringContaining('"amout"') });
    expect(problems).toContainEqual({ path: 'workflows.expense_approval.nodes.reviewer.approvers.0.field', message: expect.stringContaining('use a user or department field') });
    expect(problems).toContainEqual({ path: 'workflows.expense_approval.nodes.lead.fields.nope', message: expect.stringContaining('unknown field') });
  });

  it('reports duplicate ids, a misplaced initiator, ratio without percentage, open-ended manager chain', () => {
    const wf = clone();
    wf.root.next.next.next.id = 'lead';
    wf.root.next.next.next.ratio = undefined;
    wf.root.next.approvers = [{ kind: 'manager_chain' }];
    const p = checkWorkflow(wf, expense).problems;
    expect(p.map((x) => x.message)).toEqual(
      expect.arrayContaining([expect.stringContaining('used more than once'), expect.stringContaining('needs ratio'), expect.stringContaining('toLevel or toTitle')]),
    );
    const wf2 = clone();
    wf2.root.type = 'approver';
    wf2.root.approvers = [{ kind: 'initiator' }];
    expect(checkWorkflow(wf2, expense).problems.map((x) => x.message)).toContain('the first node must be the initiator node');
  });

  it('schema errors point at node ids too', () => {
    const wf = clone();
    wf.root.next.mode = 'majority';
    wf.root.next.next.branches[0].next.approvers[0] = { kind: 'role' };
    const p = paths(wf, expense);
    expect(p).toContain('workflows.expense_approval.nodes.lead.mode');
    expect(p.some((x) => x.startsWith('workflows.expense_approval.nodes.cfo.approvers.0'))).toBe(true);
  });

  it('refuses SLA auto-decisions that come before the first escalation', () => {
    const wf = clone();
    wf.root.next.sla = { escalate: { after: 60 }, auto: { after: 30, action: 'approve' } };
    expect(paths(wf, expense)).toContain('workflows.expense_approval.nodes.lead.sla.auto.after');
  });
});

describe('conditions and verdicts', () => {
  it('compares money exactly as decimals', () => {
    expect(compareDecimal('50000.00', '50000')).toBe(0);
    expect(compareDecimal('50000.01', '50000')).toBe(1);
    expect(compareDecimal('-1.5', '-1.25')).toBe(-1);
    expect(compareDecimal('0.30', '0.3')).toBe(0);
    expect(compareDecimal('100000000000000000000.1', '100000000000000000000.09')).toBe(1);
    expect(evaluate({ field: 'amount', op: 'gt', value: 50000 }, { amount: '50000.001' })).toBe(true);
    expect(evaluate({ field: 'amount', op: 'between', value: ['10', '20'] }, { amount: '20.00' })).toBe(true);
    expect(evaluate({ or: [{ field: 'kind', op: 'in', value: ['a', 'b'] }, { not: { field: 'x', op: 'empty' } }] }, { kind: 'c', x: '' })).toBe(false);
    expect(evaluate({ field: 'amount', op: 'gt', value: 1 }, {})).toBe(false);
  });

  it('node verdicts per mode', () => {
    const t = (status: string, origin = 'main') => ({ status, origin }) as never;
    expect(nodeOutcome([t('approved'), t('pending')], 'any')).toBe('approved');
    expect(nodeOutcome([t('approved'), t('pending')], 'all')).toBe(null);
    expect(nodeOutcome([t('approved'), t('rejected')], 'all')).toBe('rejected');
    expect(nodeOutcome([t('approved'), t('pending'), t('pending')], 'ratio', 60)).toBe(null);
    expect(nodeOutcome([t('approved'), t('approved'), t('pending')], 'ratio', 60)).toBe('approved');
    expect(nodeOutcome([t('rejected'), t('rejected'), t('pending')], 'ratio', 60)).toBe('rejected');
    expect(nodeOutcome([t('approved'), t('pending', 'added_after')], 'any')).toBe(null);
    expect(nodeOutcome([t('transferred'), t('approved')], 'all')).toBe('approved');
  });
});
