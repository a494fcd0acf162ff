// The approval tree as the runtime walks it: nodes by id, and "what comes after this node".
// After the last node of a branch comes the join of its container (condition or parallel);
// after the last node of the top-level chain comes the end of the flow.
import type { Branch, WorkflowDef, WorkflowNode } from '../../shared/workflow-definition.ts';

export type After =
  | { kind: 'node'; node: WorkflowNode }
  | { kind: 'join'; container: WorkflowNode & { type: 'condition' | 'parallel' }; branch: Branch }
  | { kind: 'finish' };

interface Place {
  node: WorkflowNode;
  /** The branch chain that holds the node; null on the top-level chain. */
  parent: { container: WorkflowNode & { type: 'condition' | 'parallel' }; branch: Branch } | null;
}

export class Tree {
  readonly def: WorkflowDef;
  private readonly places = new Map<string, Place>();

  constructor(def: WorkflowDef) {
    this.def = def;
    const visit = (start: WorkflowNode | undefined, parent: Place['parent']) => {
      for (let n = start; n; n = n.next) {
        this.places.set(n.id, { node: n, parent });
        if (n.type === 'condition' || n.type === 'parallel') for (const b of n.branches) visit(b.next, { container: n, branch: b });
      }
    };
    visit(def.root, null);
  }

  node(id: string): WorkflowNode {
    const p = this.places.get(id);
    if (!p) throw new Error(`node "${id}" is not in workflow ${this.def.name}`);
    return p.node;
  }

  has(id: string): boolean {
    return this.places.has(id);
  }

  /** True when the node sits on the top-level chain (not inside any branch). */
  isTopLevel(id: string): boolean {
    return this.places.get(id)?.parent === null;
  }

  /** Is the node inside (any depth of) a parallel branch? */
  insideParallel(id: string): boolean {
    for (let p = this.places.get(id)?.parent; p; p = this.places.get(p.container.id)?.parent) {
      if (p.container.type === 'parallel') return true;
    }
    return false;
  }

  after(id: string): After {
    const p = this.places.get(id);
    if (!p) throw new Error(`node "${id}" is not in workflow ${this.def.name}`);
    if (p.node.next) return { kind: 'node', node: p.node.next };
    if (p.parent) return { kind: 'join', container: p.parent.container, branch: p.parent.branch };
    return { kind: 'finish' };
  }

  /** Top-level nodes in order (the main chain), for "return to an earlier node". */
  mainChain(): WorkflowNode[] {
    const out: WorkflowNode[] = [];
    for (let n: WorkflowNode | undefined = this.def.root; n; n = n.next) out.push(n);
    return out;
  }
}
