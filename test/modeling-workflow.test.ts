// Approval trees are part of the app definition: validateApp checks them with node-id paths,
// so a broken tree is refused when the app is validated or published, not at the first submit.
import { describe, expect, it } from 'vitest';
import { validateApp } from '../src/server/modeling/index.ts';

const tree = (branches: unknown[]) => ({
  name: 'expense_approval',
  entity: 'expense',
  label: { zh: '费用审批', en: 'Expense approval' },
  root: {
    id: 'start',
    type: 'initiator',
    next: {
      id: 'lead',
      type: 'approver',
      approvers: [{ kind: 'department_head', levelsUp: 0 }],
      next: { id: 'by_amount', type: 'condition', branches },
    },
  },
});

const app = (workflows: unknown[]) => ({
  name: 'expenses',
  label: { zh: '费用', en: 'Expenses' },
  entities: [
    {
      name: 'expense',
      label: { zh: '费用报销' },
      submittable: true,
      fields: [{ name: 'amount', type: 'money', label: { zh: '金额' }, required: true }],
      permissions: [{ role: '*', actions: ['read', 'create', 'write', 'submit'] }],
    },
  ],
  workflows,
});

const big = { id: 'big', when: { field: 'amount', op: 'gt', value: '50000' }, next: { id: 'cfo', type: 'approver', approvers: [{ kind: 'role', role: 'cfo' }] } };

describe('approval trees inside app definitions', () => {
  it('accepts a valid tree with an amount condition and a default branch', () => {
    const r = validateApp(app([tree([big, { id: 'normal', default: true }])]));
    expect(r.ok, JSON.stringify(!r.ok && r.errors)).toBe(true);
  });

  it('refuses a condition without a default branch, naming the node', () => {
    const r = validateApp(app([tree([big])]));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toContainEqual(expect.objectContaining({ path: 'workflows.expense_approval.nodes.by_amount.branches', message: expect.stringContaining('default branch') }));
  });

  it('refuses a condition on a field the entity does not have', () => {
    const bad = { ...big, when: { field: 'amout', op: 'gt', value: '1' } };
    const r = validateApp(app([tree([bad, { id: 'normal', default: true }])]));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(JSON.stringify(r.errors)).toContain('amout');
  });

  it('refuses a tree attached to an entity that does not exist', () => {
    const r = validateApp(app([{ ...tree([big, { id: 'normal', default: true }]), entity: 'purchase' }]));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toContainEqual(expect.objectContaining({ path: 'workflows.expense_approval.entity' }));
  });
});
