// Edits of an approval tree (immutable: every edit returns a new root). A place in the tree is
// "after node X" or "at the start of branch B"; nodes and branches are found by id.
import type { Branch, NodeType, WorkflowNode } from '../../../shared/workflow-definition.ts';

export type Anchor = { after: string } | { branch: string };

const copy = <T>(v: T): T => structuredClone(v);

/** Calls fn on every node and every branch (depth first). */
export function visit(root: WorkflowNode, onNode: (n: WorkflowNode) => void, onBranch?: (b: Branch, container: WorkflowNode) => void): void {
  for (let n: WorkflowNode | undefined = root; n; n = n.next) {
    onNode(n);
    if (n.type === 'condition' || n.type === 'parallel') {
      for (const b of n.branches) {
        onBranch?.(b, n);
        if (b.next) visit(b.next, onNode, onBranch);
      }
    }
  }
}

export function allIds(root: WorkflowNode): Set<string> {
  const ids = new Set<string>();
  visit(root, (n) => ids.add(n.id), (b) => ids.add(b.id));
  return ids;
}

export function newId(root: WorkflowNode, base: string): string {
  const ids = allIds(root);
  for (let i = 1; ; i++) if (!ids.has(`${base}${i}`)) return `${base}${i}`;
}

export function findNode(root: WorkflowNode, id: string): WorkflowNode | undefined {
  let found: WorkflowNode | undefined;
  visit(root, (n) => {
    if (n.id === id) found = n;
  });
  return found;
}

export function findBranch(root: WorkflowNode, id: string): { branch: Branch; container: WorkflowNode } | undefined {
  let found: { branch: Branch; container: WorkflowNode } | undefined;
  visit(
    root,
    () => {},
    (b, c) => {
      if (b.id === id) found = { branch: b, container: c };
    },
  );
  return found;
}

/** A fresh node of a type with what the validator needs already filled in. */
export function makeNode(root: WorkflowNode, type: NodeType): WorkflowNode {
  const id = newId(root, type);
  switch (type) {
    case 'approver':
      return { id, type, name: { zh: '审批人', en: 'Approver' }, approvers: [{ kind: 'department_head', levelsUp: 0 }], mode: 'any', onEmpty: { action: 'admin' } };
    case 'handler':
      return { id, type, name: { zh: '办理人', en: 'Handler' }, approvers: [{ kind: 'initiator' }], mode: 'any' };
    case 'cc':
      return { id, type, name: { zh: '抄送人', en: 'CC' }, approvers: [{ kind: 'initiator' }] };
    case 'condition': {
      const b1 = newId(root, 'branch');
      return {
        id,
        type,
        name: { zh: '条件分支', en: 'Condition' },
        branches: [
          { id: b1, name: { zh: '条件 1', en: 'Condition 1' }, when: { field: 'status', op: 'eq', value: 'draft' } },
          { id: `${b1}_default`, name: { zh: '其他情况', en: 'Otherwise' }, default: true },
        ],
      };
    }
    case 'parallel': {
      const b1 = newId(root, 'lane');
      return { id, type, name: { zh: '并行分支', en: 'Parallel' }, branches: [{ id: b1, name: { zh: '分支 1', en: 'Branch 1' } }, { id: `${b1}_b`, name: { zh: '分支 2', en: 'Branch 2' } }] };
    }
    case 'delay':
      return { id, type, name: { zh: '延时等待', en: 'Delay' }, minutes: 60 };
    case 'action':
      return { id, type, name: { zh: '自动动作', en: 'Action' }, action: 'set_field', params: {} };
    case 'end':
      return { id, type, name: { zh: '结束', en: 'End' } };
    default:
      return { id, type: 'initiator' };
  }
}

/** Inserts `node` (its own `next` is replaced) at the anchor: the old follower comes after it. */
export function insertAt(root: WorkflowNode, anchor: Anchor, node: WorkflowNode): WorkflowNode {
  const r = copy(root);
  const n = copy(node);
  if ('after' in anchor) {
    const at = findNode(r, anchor.after);
    if (!at) return root;
    n.next = at.next;
    if (n.next === undefined) delete n.next;
    at.next = n;
  } else {
    const b = findBranch(r, anchor.branch)?.branch;
    if (!b) return root;
    n.next = b.next;
    if (n.next === undefined) delete n.next;
    b.next = n;
  }
  return r;
}

/** Removes a node; its follower takes its place (a container goes with its branches). */
export function removeNode(root: WorkflowNode, id: string): WorkflowNode {
  if (root.id === id) return root; // the initiator stays
  const r = copy(root);
  const relink = (holder: { next?: WorkflowNode }) => {
    const target = holder.next!;
    if (target.next) holder.next = target.next;
    else delete holder.next;
  };
  visit(
    r,
    (n) => {
      if (n.next?.id === id) relink(n);
    },
    (b) => {
      if (b.next?.id === id) relink(b);
    },
  );
  return r;
}

export function replaceNode(root: WorkflowNode, node: WorkflowNode): WorkflowNode {
  if (root.id === node.id) return { ...copy(node), ...(root.next ? { next: root.next } : {}) } as WorkflowNode;
  const r = copy(root);
  const swap = (holder: { next?: WorkflowNode }) => {
    const keepNext = holder.next!.next;
    const n = copy(node);
    if (keepNext) n.next = keepNext;
    else delete n.next;
    holder.next = n;
  };
  visit(
    r,
    (n) => {
      if (n.next?.id === node.id) swap(n);
    },
    (b) => {
      if (b.next?.id === node.id) swap(b);
    },
  );
  return r;
}

/** Replaces a branch's settings (name, condition, default) keeping its chain. */
export function updateBranch(root: WorkflowNode, branch: Branch): WorkflowNode {
  const r = copy(root);
  visit(r, (n) => {
    if (n.type !== 'condition' && n.type !== 'parallel') return;
    n.branches = n.branches.map((b) => (b.id === branch.id ? { ...copy(branch), ...(b.next ? { next: b.next } : {}) } : b));
    for (const b of n.branches) if (!b.next) delete b.next;
  });
  return r;
}

export function addBranch(root: WorkflowNode, containerId: string): WorkflowNode {
  const r = copy(root);
  const c = findNode(r, containerId);
  if (!c || (c.type !== 'condition' && c.type !== 'parallel')) return root;
  const id = newId(r, c.type === 'condition' ? 'branch' : 'lane');
  const n = c.branches.filter((b) => !b.default).length + 1;
  const b: Branch =
    c.type === 'condition'
      ? { id, name: { zh: `条件 ${n}`, en: `Condition ${n}` }, when: { field: 'status', op: 'eq', value: 'draft' } }
      : { id, name: { zh: `分支 ${n}`, en: `Branch ${n}` } };
  // New condition branches go before the default branch (which must stay last).
  const at = c.type === 'condition' ? c.branches.findIndex((x) => x.default) : -1;
  if (at >= 0) c.branches.splice(at, 0, b);
  else c.branches.push(b);
  return r;
}

/**
 * Removes a branch. When what is left would no longer branch (a condition with only its default
 * branch, a parallel with one lane), the container goes and the remaining branch's nodes take
 * its place in the flow, as in DingTalk.
 */
export function removeBranch(root: WorkflowNode, branchId: string): WorkflowNode {
  const r = copy(root);
  const found = findBranch(r, branchId);
  if (!found) return root;
  const c = found.container as WorkflowNode & { branches: Branch[] };
  c.branches = c.branches.filter((b) => b.id !== branchId);
  const stillBranches = c.type === 'parallel' ? c.branches.length >= 2 : c.branches.some((b) => !b.default);
  if (stillBranches) return r;
  // Splice: the remaining chain, then whatever followed the container.
  const rest = c.branches[0]?.next;
  const after = c.next;
  let chain: WorkflowNode | undefined = rest;
  if (chain) {
    let tail = chain;
    while (tail.next) tail = tail.next;
    if (after) tail.next = after;
  } else chain = after;
  const swap = (holder: { next?: WorkflowNode }) => {
    if (chain) holder.next = chain;
    else delete holder.next;
  };
  visit(
    r,
    (n) => {
      if (n.next?.id === c.id) swap(n);
    },
    (b) => {
      if (b.next?.id === c.id) swap(b);
    },
  );
  return r;
}

/** Moves a condition branch up or down (priority); the default branch stays last. */
export function moveBranch(root: WorkflowNode, branchId: string, d: -1 | 1): WorkflowNode {
  const r = copy(root);
  const found = findBranch(r, branchId);
  if (!found) return root;
  const c = found.container as WorkflowNode & { branches: Branch[] };
  const i = c.branches.findIndex((b) => b.id === branchId);
  const j = i + d;
  if (j < 0 || j >= c.branches.length || c.branches[j]!.default || c.branches[i]!.default) return root;
  [c.branches[i], c.branches[j]] = [c.branches[j]!, c.branches[i]!];
  return r;
}
