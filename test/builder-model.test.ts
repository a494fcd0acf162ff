// The designers' pure editing functions: approval-tree edits keep a tree the engine accepts
// (checked with the shared validator), and server problem paths land on the right field/node.
import { describe, expect, it } from 'vitest';
import { checkWorkflow, type WorkflowDef, type WorkflowNode } from '../src/shared/workflow-definition.ts';
import { addBranch, allIds, findBranch, findNode, insertAt, makeNode, moveBranch, removeBranch, removeNode, replaceNode, updateBranch } from '../src/web/builder/approval/tree.ts';
import { defaultLayout, indexProblems, namingExample, newField, pruneLayout, renameInLayout, unplaced } from '../src/web/builder/model.ts';
import { validateApp } from '../src/server/modeling/index.ts';
import { app, entity, field } from './modeling-helpers.ts';

const expense = entity('expense', [field('title', 'text'), field('amount', 'money'), field('owner', 'user')], { submittable: true });
const wf = (root: WorkflowNode): WorkflowDef => ({ name: 'exp', entity: 'expense', label: { zh: '费用' }, root });
const start = (): WorkflowNode => ({ id: 'start', type: 'initiator' });

describe('approval tree edits', () => {
  it('every node type the "+" offers, inserted after a node, gives a valid tree', () => {
    for (const type of ['approver', 'handler', 'cc', 'condition', 'parallel', 'delay', 'action', 'end'] as const) {
      const root = insertAt(start(), { after: 'start' }, makeNode(start(), type));
      const r = checkWorkflow(wf(root), expense);
      expect(r.problems, type).toEqual([]);
      expect(root.next?.type).toBe(type);
    }
  });

  it('builds a two-level approval with an amount branch, ids unique, default branch kept last', () => {
    let root = start();
    const lead = makeNode(root, 'approver');
    root = insertAt(root, { after: 'start' }, lead);
    const cond = makeNode(root, 'condition');
    root = insertAt(root, { after: lead.id }, cond);
    const big = (cond as { branches: { id: string }[] }).branches[0]!.id;
    root = updateBranch(root, { id: big, name: { zh: '大额' }, when: { field: 'amount', op: 'gt', value: '50000' } });
    const cfo = makeNode(root, 'approver');
    root = insertAt(root, { branch: big }, { ...cfo, approvers: [{ kind: 'role', role: 'cfo' }] } as WorkflowNode);
    root = addBranch(root, cond.id);
    const c = findNode(root, cond.id) as { branches: { id: string; default?: boolean }[] };
    expect(c.branches).toHaveLength(3);
    expect(c.branches.at(-1)!.default).toBe(true);
    // The default branch cannot be moved ahead of another.
    expect(moveBranch(root, c.branches[2]!.id, -1)).toBe(root);
    const swapped = moveBranch(root, c.branches[1]!.id, -1);
    expect((findNode(swapped, cond.id) as { branches: { id: string }[] }).branches.map((b) => b.id)).toEqual([c.branches[1]!.id, big, c.branches[2]!.id]);
    expect(checkWorkflow(wf(root), expense).problems).toEqual([]);
    expect(allIds(root).size).toBe(7); // start, approver1, condition1, 3 branches, approver2
    expect(findBranch(root, big)!.branch.next!.id).toBe(cfo.id);
    // The whole app with this workflow publishes.
    const v = validateApp(app('exp_app', [expense], { workflows: [wf(root)] }));
    expect(v.ok, JSON.stringify(v)).toBe(true);
  });

  it('removing a node keeps its follower, removing the last conditional branch removes the container, the initiator stays', () => {
    let root = start();
    const a = makeNode(root, 'approver');
    root = insertAt(root, { after: 'start' }, a);
    const cc = makeNode(root, 'cc');
    root = insertAt(root, { after: a.id }, cc);
    const removed = removeNode(root, a.id);
    expect(removed.next!.id).toBe(cc.id);
    expect(removeNode(root, 'start')).toBe(root);
    const cond = makeNode(root, 'condition');
    root = insertAt(root, { after: 'start' }, cond);
    const only = (cond as { branches: { id: string }[] }).branches[0]!.id;
    const gone = removeBranch(root, only);
    expect(findNode(gone, cond.id)).toBeUndefined();
    expect(gone.next!.id).toBe(a.id);
    // A parallel with two lanes: deleting one keeps the other lane's nodes in the flow.
    const par = makeNode(root, 'parallel') as WorkflowNode & { branches: { id: string }[] };
    let p = insertAt(root, { after: 'start' }, par);
    const d = makeNode(p, 'delay');
    p = insertAt(p, { branch: par.branches[1]!.id }, d);
    const merged = removeBranch(p, par.branches[0]!.id);
    expect(findNode(merged, par.id)).toBeUndefined();
    expect([merged.next!.id, merged.next!.next!.id]).toEqual([d.id, cond.id]);
    expect(checkWorkflow(wf(merged), expense).problems).toEqual([]);
    // Replacing a node's settings keeps what follows it.
    const renamed = replaceNode(root, { ...(findNode(root, a.id) as WorkflowNode), name: { zh: '主管' } } as WorkflowNode);
    expect(findNode(renamed, a.id)!.name).toEqual({ zh: '主管' });
    expect(findNode(renamed, a.id)!.next!.id).toBe(cc.id);
  });
});

describe('form model helpers', () => {
  it('new fields of every type validate inside an app, and layouts follow renames and deletions', () => {
    const e = entity('thing', [field('title', 'text')]);
    const child = entity('line', [field('qty', 'integer')], { child: true });
    const a = app('things', [e, child]);
    for (const f of ['text', 'long_text', 'integer', 'decimal', 'money', 'percent', 'date', 'datetime', 'duration', 'boolean', 'select', 'multi_select', 'user', 'department', 'link', 'erp_link', 'child_table', 'attachment', 'image', 'signature', 'qr_code', 'geolocation', 'formula', 'auto_number'] as const) {
      e.fields.push(newField(f, e, a));
    }
    e.layout = defaultLayout(e);
    const v = validateApp(a);
    expect(v.ok, JSON.stringify(v)).toBe(true);
    const renamed = renameInLayout(e.layout, 'title', 'headline')!;
    expect(renamed.groups[0]!.fields[0]).toBe('headline');
    const pruned = pruneLayout({ ...e, fields: e.fields.filter((f) => f.name !== 'title') });
    expect(pruned.layout!.groups[0]!.fields).not.toContain('title');
    expect(unplaced({ ...e, layout: { kind: 'tabs', groups: [{ id: 'g', title: { zh: 'g' }, fields: ['title'] }] } })).toHaveLength(e.fields.length - 1);
  });

  it('files server problems under their field, entity or node (and branch)', () => {
    const idx = indexProblems([
      { path: 'entities.request.fields.title.pattern', message: 'bad regex' },
      { path: 'entities.request.namingSeries', message: 'bad pattern' },
      { path: 'workflows.w.nodes.cond1.branches.b1.when', message: 'unknown field' },
      { path: 'workflows.w.nodes.approver2.approvers.0.role', message: 'must not be empty' },
      { path: '(root)', message: 'odd' },
    ]);
    expect(idx.fields.get('request/title')![0]!.message).toBe('bad regex');
    expect(idx.entities.get('request')![0]!.message).toBe('bad pattern');
    expect(idx.nodes.get('w/cond1')).toHaveLength(1);
    expect(idx.nodes.get('w/b1')).toHaveLength(1);
    expect(idx.nodes.get('w/approver2')![0]!.message).toBe('must not be empty');
    expect(idx.other).toHaveLength(1);
  });

  it('shows a naming series example only for a valid pattern', () => {
    const d = new Date(2026, 2, 5);
    expect(namingExample('ECN-{YYYY}-{####}', d)).toBe('ECN-2026-0001');
    expect(namingExample('PO{YY}{MM}{DD}-{###}', d)).toBe('PO260305-001');
    expect(namingExample('ECN-{YYYY}', d)).toBeNull();
    expect(namingExample('ecn-{####}', d)).toBeNull();
  });
});
