// Formula fields are JSONata over the record. At publish time we parse each one and walk its
// syntax tree: every name it reads must be a field of the record (or of a child table's rows
// inside `items.(...)`), and formula fields may not depend on each other in a circle.
import jsonata from 'jsonata';
import { SYSTEM_COLUMNS, type AppDef, type EntityDef } from '../../shared/definition.ts';

export interface FormulaAnalysis {
  /** Parse or reference problems (messages only; the caller adds the path). */
  problems: string[];
  /** Fields of the entity itself that the formula reads. */
  deps: Set<string>;
}

type Scope = EntityDef | 'any' | 'scalar';
type Node = Record<string, unknown>;

export function analyseFormula(app: AppDef, entity: EntityDef, expr: string): FormulaAnalysis {
  const problems: string[] = [];
  const deps = new Set<string>();
  let ast: unknown;
  try {
    ast = jsonata(expr).ast();
  } catch (err) {
    const e = err as { message?: string; position?: number };
    return { problems: [`is not a valid JSONata expression: ${e.message ?? String(err)}${e.position !== undefined ? ` (at character ${e.position})` : ''}`], deps };
  }

  const resolve = (scope: Scope, name: string): Scope => {
    if (scope === 'any') return 'any';
    if (scope === 'scalar') {
      problems.push(`reads "${name}" from a value that is not a child table`);
      return 'any';
    }
    const f = scope.fields.find((x) => x.name === name);
    if (!f) {
      if ((SYSTEM_COLUMNS as readonly string[]).includes(name)) {
        if (scope === entity) deps.add(name);
        return 'scalar';
      }
      problems.push(`refers to "${name}", which is not a field of entity "${scope.name}" (fields: ${scope.fields.map((x) => x.name).join(', ')})`);
      return 'any';
    }
    if (scope === entity) deps.add(name);
    switch (f.type) {
      case 'child_table':
        return app.entities.find((e) => e.name === f.target) ?? 'any';
      case 'attachment':
      case 'image':
      case 'signature':
      case 'geolocation':
        return 'any';
      case 'link':
      case 'user':
      case 'department':
        return 'scalar'; // a link holds the id only; formulas see the record's own values
      default:
        return 'scalar';
    }
  };

  const walkPath = (steps: Node[], scope: Scope) => {
    let here = scope;
    for (const step of steps) {
      let next: Scope;
      if (step.type === 'name' && typeof step.value === 'string') {
        next = resolve(here, step.value);
      } else {
        for (const [k, v] of Object.entries(step)) if (k !== 'stages' && k !== 'predicate') walk(v, here);
        next = 'any';
      }
      for (const s of [...((step.stages as unknown[]) ?? []), ...((step.predicate as unknown[]) ?? [])]) walk(s, next === 'scalar' ? here : next);
      here = next;
    }
  };

  const walk = (node: unknown, scope: Scope): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const n of node) walk(n, scope);
      return;
    }
    const n = node as Node;
    if (n.type === 'path' && Array.isArray(n.steps)) return walkPath(n.steps as Node[], scope);
    if (n.type === 'name' && typeof n.value === 'string') {
      resolve(scope, n.value);
      return;
    }
    for (const v of Object.values(n)) walk(v, scope);
  };

  walk(ast, entity);
  return { problems, deps };
}

/** Finds a cycle among formula fields of one entity: returns the field names in order, or null. */
export function findCycle(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 1 | 2>(); // 1 = on the stack, 2 = done
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 1);
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (!graph.has(m)) continue;
      const s = state.get(m);
      if (s === 1) return [...stack.slice(stack.indexOf(m)), m];
      if (s === undefined) {
        const c = visit(m);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return null;
  };
  for (const n of graph.keys()) {
    if (!state.has(n)) {
      const c = visit(n);
      if (c) return c;
    }
  }
  return null;
}
