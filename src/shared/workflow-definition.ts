// Approval trees: the DingTalk/Feishu-style flow a citizen developer draws in the designer and
// that the workflow engine interprets. A tree, not a graph: every node has an optional `next`;
// condition and parallel nodes hold branches, each branch a chain of its own; after the
// branches the flow continues with the container's `next`. Shared by server and web.
//
// Durations are whole minutes. People are named by username (portable across installs and
// readable in git); the engine resolves them to user ids when a task is created.
import { z } from 'zod';
import { Condition, IDENT_RE, Label, type EntityDef, type FieldDef } from './definition.ts';

export const NODE_TYPES = ['initiator', 'approver', 'handler', 'cc', 'condition', 'parallel', 'delay', 'action', 'end'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

const NodeId = z
  .string()
  .min(1)
  .max(60)
  .regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'a node id starts with a letter and uses letters, digits, "_" and "-"');
const Username = z.string().min(1).max(100);
const Minutes = z.number().int().positive().max(525_600, 'at most one year (525600 minutes)');
/** A field of the document, or a path over link fields (`process_category.supervisor`), at most 3 hops. */
const FieldPath = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,3}$/, 'a field name, or a path over link fields such as "process_category.supervisor"');

/** Where the people of an approver / handler / CC node come from. Several sources are united. */
export const ApproverSource = z.discriminatedUnion('kind', [
  /** Named users. */
  z.object({ kind: z.literal('users'), users: z.array(Username).min(1).max(200) }).strict(),
  /** Everyone with a role; `scope` narrows to the initiator's department (or its subtree). */
  z
    .object({
      kind: z.literal('role'),
      role: z.string().min(1).max(60),
      scope: z.enum(['all', 'initiator_department', 'initiator_department_tree']).optional(),
    })
    .strict(),
  /** Head of the initiator's department (levelsUp 0), of its parent (1), and so on. */
  z.object({ kind: z.literal('department_head'), levelsUp: z.number().int().min(0).max(20).default(0) }).strict(),
  /**
   * The initiator's manager chain (manager, manager's manager, ...), up to `toLevel` levels or up
   * to and including the first manager with the title `toTitle`. With mode `sequential` each level
   * signs in turn (逐级审批).
   */
  z
    .object({
      kind: z.literal('manager_chain'),
      toLevel: z.number().int().min(1).max(20).optional(),
      toTitle: z.string().min(1).max(100).optional(),
    })
    .strict(),
  /**
   * A `user` field of the document, or a `department` field (its head). The field may be reached
   * through link fields: `process_category.supervisor` reads the supervisor of the record that the
   * document's `process_category` link points at (a routing table a citizen developer edits).
   */
  z.object({ kind: z.literal('field'), field: FieldPath }).strict(),
  /** The initiator chooses when submitting (`picks[nodeId]`). */
  z.object({ kind: z.literal('initiator_pick'), multiple: z.boolean().optional() }).strict(),
  /** The initiator (confirmation by the person who submitted). */
  z.object({ kind: z.literal('initiator') }).strict(),
]);
export type ApproverSource = z.infer<typeof ApproverSource>;

export const APPROVAL_MODES = ['any', 'all', 'sequential', 'ratio'] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

/** What happens when the sources yield nobody. */
export const EmptyRule = z.union([
  z.object({ action: z.enum(['auto_approve', 'auto_reject', 'admin']) }).strict(),
  z.object({ action: z.literal('user'), user: Username }).strict(),
]);
export type EmptyRule = z.infer<typeof EmptyRule>;

export const FIELD_ACCESS = ['editable', 'read_only', 'hidden'] as const;
export type FieldAccess = (typeof FIELD_ACCESS)[number];

/**
 * `afterField` (on remind, escalate and auto): the number of minutes is read from this numeric
 * field of the document (or a path over link fields) when the task starts, so one step can have
 * a timeout per severity, per line or per routing-table row; `after` is used when the field is
 * empty or not a positive number.
 */
/** A business-hours calendar defined by an administrator (`PUT /api/v1/workflow/calendars/:name`). */
export const CalendarName = z
  .string()
  .min(1)
  .max(40)
  .regex(/^[a-z][a-z0-9_-]*$/, 'a calendar name: lower-case letters, digits, "_" and "-", starting with a letter');

export const Sla = z
  .object({
    /** Remind the assignee after N minutes, again every `every` minutes while pending. */
    remind: z.object({ after: Minutes, afterField: FieldPath.optional(), every: Minutes.optional() }).strict().optional(),
    /** Escalate to the assignee's manager after N minutes; repeat level by level up to `maxLevels`. */
    escalate: z
      .object({ after: Minutes, afterField: FieldPath.optional(), repeat: z.boolean().optional(), maxLevels: z.number().int().min(1).max(20).optional() })
      .strict()
      .optional(),
    /** Decide automatically after N minutes. */
    auto: z.object({ after: Minutes, afterField: FieldPath.optional(), action: z.enum(['approve', 'reject']) }).strict().optional(),
    /** Count these minutes in business time (true) or wall-clock time (false); default: the workflow's choice. */
    businessHours: z.boolean().optional(),
    /** The business-hours calendar (an administrator's, `default` is the plant's); naming one counts in business time. */
    calendar: CalendarName.optional(),
  })
  .strict();
export type Sla = z.infer<typeof Sla>;

interface NodeBase {
  id: string;
  name?: Label;
  next?: WorkflowNode;
}
export interface InitiatorNode extends NodeBase {
  type: 'initiator';
  fields?: Record<string, FieldAccess>;
}
export interface ApproverNode extends NodeBase {
  type: 'approver';
  approvers: ApproverSource[];
  mode?: ApprovalMode;
  /** mode `ratio`: percentage of approvals needed (1..100). */
  ratio?: number;
  onEmpty?: EmptyRule;
  onInitiator?: 'none' | 'auto_approve' | 'skip' | 'to_manager';
  fields?: Record<string, FieldAccess>;
  sla?: Sla;
  /** Require the approver to re-enter the password (or signing PIN) and store an e-signature. */
  signature?: boolean;
}
export interface HandlerNode extends NodeBase {
  type: 'handler';
  approvers: ApproverSource[];
  mode?: 'any' | 'all' | 'sequential';
  onEmpty?: EmptyRule;
  fields?: Record<string, FieldAccess>;
  sla?: Sla;
}
export interface CcNode extends NodeBase {
  type: 'cc';
  approvers: ApproverSource[];
}
export interface Branch {
  id: string;
  name?: Label;
  /** Absent on the default branch. */
  when?: Condition;
  default?: boolean;
  next?: WorkflowNode;
}
export interface ConditionNode extends NodeBase {
  type: 'condition';
  branches: Branch[];
}
export interface ParallelNode extends NodeBase {
  type: 'parallel';
  branches: Branch[];
}
export interface DelayNode extends NodeBase {
  type: 'delay';
  minutes: number;
}
export interface ActionNode extends NodeBase {
  type: 'action';
  /** A typed action registered by an engine: `set_field`, `emit_event`, `erp.write`, ... */
  action: string;
  params?: Record<string, unknown>;
}
export interface EndNode extends NodeBase {
  type: 'end';
}
export type WorkflowNode =
  | InitiatorNode
  | ApproverNode
  | HandlerNode
  | CcNode
  | ConditionNode
  | ParallelNode
  | DelayNode
  | ActionNode
  | EndNode;

const FieldPerms = z.record(z.string().max(40), z.enum(FIELD_ACCESS)).optional();
const base = { id: NodeId, name: Label.optional() };

export const Branch: z.ZodType<Branch> = z.lazy(() =>
  z
    .object({
      id: NodeId,
      name: Label.optional(),
      when: Condition.optional(),
      default: z.boolean().optional(),
      next: WorkflowNode.optional(),
    })
    .strict(),
);

export const WorkflowNode: z.ZodType<WorkflowNode> = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.object({ ...base, type: z.literal('initiator'), fields: FieldPerms, next: WorkflowNode.optional() }).strict(),
    z
      .object({
        ...base,
        type: z.literal('approver'),
        approvers: z.array(ApproverSource).max(20),
        mode: z.enum(APPROVAL_MODES).optional(),
        ratio: z.number().int().min(1).max(100).optional(),
        onEmpty: EmptyRule.optional(),
        onInitiator: z.enum(['none', 'auto_approve', 'skip', 'to_manager']).optional(),
        fields: FieldPerms,
        sla: Sla.optional(),
        signature: z.boolean().optional(),
        next: WorkflowNode.optional(),
      })
      .strict(),
    z
      .object({
        ...base,
        type: z.literal('handler'),
        approvers: z.array(ApproverSource).max(20),
        mode: z.enum(['any', 'all', 'sequential']).optional(),
        onEmpty: EmptyRule.optional(),
        fields: FieldPerms,
        sla: Sla.optional(),
        next: WorkflowNode.optional(),
      })
      .strict(),
    z.object({ ...base, type: z.literal('cc'), approvers: z.array(ApproverSource).max(20), next: WorkflowNode.optional() }).strict(),
    z.object({ ...base, type: z.literal('condition'), branches: z.array(Branch).min(1).max(50), next: WorkflowNode.optional() }).strict(),
    z.object({ ...base, type: z.literal('parallel'), branches: z.array(Branch).min(2).max(20), next: WorkflowNode.optional() }).strict(),
    z.object({ ...base, type: z.literal('delay'), minutes: Minutes, next: WorkflowNode.optional() }).strict(),
    z
      .object({
        ...base,
        type: z.literal('action'),
        action: z.string().min(1).max(80),
        params: z.record(z.string(), z.unknown()).optional(),
        next: WorkflowNode.optional(),
      })
      .strict(),
    z.object({ ...base, type: z.literal('end'), next: WorkflowNode.optional() }).strict(),
  ]),
) as z.ZodType<WorkflowNode>;

export interface WorkflowDef {
  name: string;
  /** The entity (document type) of the same app whose submission starts this workflow. */
  entity: string;
  label: Label;
  description?: string;
  /** SLA minutes of every node count in business time (a node's `sla.businessHours` overrides). */
  businessHours?: boolean;
  /** The calendar for business time (default `default`, the plant's); naming one implies businessHours. */
  calendar?: string;
  root: WorkflowNode;
}

export const WorkflowDef: z.ZodType<WorkflowDef> = z
  .object({
    name: z.string().min(1).max(40).regex(IDENT_RE, 'use lower-case letters, digits and single underscores'),
    entity: z.string().min(1).max(30),
    label: Label,
    description: z.string().max(2000).optional(),
    businessHours: z.boolean().optional(),
    calendar: CalendarName.optional(),
    root: WorkflowNode,
  })
  .strict();

/** Context values a branch condition may read besides the document's fields (`$initiator.department`...). */
export const CONDITION_CONTEXT_FIELDS = ['initiator_id', 'initiator_department_id', 'initiator_roles'] as const;

export interface WorkflowProblem {
  /** `workflows.<name>.nodes.<nodeId>[.detail]` */
  path: string;
  message: string;
}

/** Every node of the tree, depth first, with the branch that holds it (if any). */
export function walkNodes(root: WorkflowNode, fn: (node: WorkflowNode, parent: { container: WorkflowNode; branch: Branch } | null) => void): void {
  const visitChain = (start: WorkflowNode | undefined, parent: { container: WorkflowNode; branch: Branch } | null) => {
    for (let n = start; n; n = n.next) {
      fn(n, parent);
      if (n.type === 'condition' || n.type === 'parallel') for (const b of n.branches) visitChain(b.next, { container: n, branch: b });
    }
  };
  visitChain(root, null);
}

function conditionFields(c: Condition, out: string[]): string[] {
  if ('and' in c) c.and.forEach((x) => conditionFields(x, out));
  else if ('or' in c) c.or.forEach((x) => conditionFields(x, out));
  else if ('not' in c) conditionFields(c.not, out);
  else out.push(c.field);
  return out;
}

/** Does a chain always stop at an `end` node (so that nothing after its container can run)? */
function chainAlwaysEnds(start: WorkflowNode | undefined): boolean {
  for (let n = start; n; n = n.next) {
    if (n.type === 'end') return true;
    if ((n.type === 'condition' || n.type === 'parallel') && n.branches.every((b) => chainAlwaysEnds(b.next))) return true;
  }
  return false;
}

/**
 * Checks what the schema cannot: unique ids, reachability, default branches, approver sources,
 * fields named in conditions, sources and permissions exist on the entity (when given).
 * Returns every problem, each with a path by node id.
 */
/**
 * Follows a field path (`process_category.supervisor`) from an entity through its link fields.
 * Without the app's entities only the first hop can be checked (`field` is then undefined for a
 * path). Returns the last field, or a message a person can act on.
 */
export function followFieldPath(path: string, entity: EntityDef, entities?: readonly EntityDef[]): { field?: FieldDef; error?: string } {
  const segs = path.split('.');
  let cur: EntityDef | undefined = entity;
  for (const [i, seg] of segs.entries()) {
    const f: FieldDef | undefined = cur.fields.find((x) => x.name === seg);
    if (!f) return { error: `unknown field "${seg}"${i ? ` in "${segs.slice(0, i).join('.')}"` : ''}: ${cur.name} has no such field` };
    if (i === segs.length - 1) return { field: f };
    if (f.type !== 'link') return { error: `"${seg}" is a ${f.type} field, not a link, so "${segs.slice(0, i + 2).join('.')}" cannot follow it` };
    if (!entities) return {};
    cur = entities.find((e) => e.name === f.target);
    if (!cur) return { error: `the link "${seg}" points at "${f.target}", which is not an entity of this app` };
  }
  return {};
}

const NUMERIC_FIELD = (f: FieldDef) => f.type === 'integer' || f.type === 'decimal' || f.type === 'duration' || (f.type === 'formula' && (f.resultType === 'integer' || f.resultType === 'decimal'));

export function validateWorkflow(wf: WorkflowDef, entity?: EntityDef, entities?: readonly EntityDef[]): WorkflowProblem[] {
  const problems: WorkflowProblem[] = [];
  const at = (id: string, rest?: string) => `workflows.${wf.name}.nodes.${id}${rest ? `.${rest}` : ''}`;
  const fields = entity ? new Map(entity.fields.map((f) => [f.name, f])) : null;
  const known = (name: string) => !fields || fields.has(name) || ['name', 'status', 'created_by', 'owner_department_id'].includes(name);
  if (entity && entity.name !== wf.entity) problems.push({ path: `workflows.${wf.name}.entity`, message: `the workflow is attached to "${wf.entity}", not "${entity.name}"` });
  if (wf.root.type !== 'initiator') problems.push({ path: at(wf.root.id), message: 'the first node must be the initiator node' });

  const seen = new Set<string>();
  walkNodes(wf.root, (n, parent) => {
    if (seen.has(n.id)) problems.push({ path: at(n.id), message: `node id "${n.id}" is used more than once` });
    seen.add(n.id);
    if (n.type === 'initiator' && n !== wf.root) problems.push({ path: at(n.id), message: 'only the first node may be the initiator node' });
    if (n.type === 'end' && n.next) problems.push({ path: at(n.next.id), message: `unreachable: node "${n.next.id}" comes after the end node "${n.id}"` });
    if ((n.type === 'condition' || n.type === 'parallel') && n.next && n.branches.every((b) => chainAlwaysEnds(b.next))) {
      problems.push({ path: at(n.next.id), message: `unreachable: every branch of "${n.id}" ends the flow, so "${n.next.id}" never runs` });
    }
    if (n.type === 'condition') {
      const defaults = n.branches.filter((b) => b.default);
      if (defaults.length === 0) problems.push({ path: at(n.id, 'branches'), message: 'a condition node needs a default branch (taken when no condition matches)' });
      if (defaults.length > 1) problems.push({ path: at(n.id, 'branches'), message: 'a condition node has exactly one default branch' });
      n.branches.forEach((b, i) => {
        if (seen.has(b.id)) problems.push({ path: at(n.id, `branches.${b.id}`), message: `branch id "${b.id}" is used more than once` });
        seen.add(b.id);
        if (b.default && b.when) problems.push({ path: at(n.id, `branches.${b.id}.when`), message: 'the default branch has no condition' });
        if (!b.default && !b.when) problems.push({ path: at(n.id, `branches.${b.id}.when`), message: 'a branch needs a condition (or is the default branch)' });
        if (b.default && i !== n.branches.length - 1) {
          problems.push({ path: at(n.id, `branches.${b.id}`), message: 'the default branch must be the last one (it is taken when no condition above it matches)' });
        }
        if (b.when) {
          for (const f of conditionFields(b.when, [])) {
            const head = f.split('.')[0]!;
            if (f.startsWith('initiator_') && (CONDITION_CONTEXT_FIELDS as readonly string[]).includes(f)) continue;
            if (!known(head)) problems.push({ path: at(n.id, `branches.${b.id}.when`), message: `unknown field "${f}" in the condition: ${entity?.name} has no field "${head}"` });
          }
        }
      });
    }
    if (n.type === 'parallel') {
      for (const b of n.branches) {
        if (seen.has(b.id)) problems.push({ path: at(n.id, `branches.${b.id}`), message: `branch id "${b.id}" is used more than once` });
        seen.add(b.id);
        if (b.when || b.default) problems.push({ path: at(n.id, `branches.${b.id}`), message: 'parallel branches all run: they take no condition and no default' });
      }
    }
    if (n.type === 'approver' || n.type === 'handler' || n.type === 'cc') {
      if (n.approvers.length === 0) problems.push({ path: at(n.id, 'approvers'), message: `the ${n.type} node needs at least one source of people` });
      n.approvers.forEach((s, i) => {
        if (s.kind === 'field' && entity) {
          const { field: f, error } = followFieldPath(s.field, entity, entities);
          if (error) problems.push({ path: at(n.id, `approvers.${i}.field`), message: error });
          else if (f && f.type !== 'user' && f.type !== 'department') {
            problems.push({ path: at(n.id, `approvers.${i}.field`), message: `field "${s.field}" is a ${f.type} field; use a user or department field` });
          }
        }
        if (s.kind === 'manager_chain' && s.toLevel === undefined && s.toTitle === undefined) {
          problems.push({ path: at(n.id, `approvers.${i}`), message: 'a manager chain needs toLevel or toTitle (where the chain stops)' });
        }
      });
    }
    if (n.type === 'approver' && n.mode === 'ratio' && n.ratio === undefined) problems.push({ path: at(n.id, 'ratio'), message: 'mode "ratio" needs ratio (percentage of approvals, 1..100)' });
    if (n.type === 'approver' && n.mode !== 'ratio' && n.ratio !== undefined) problems.push({ path: at(n.id, 'ratio'), message: 'ratio is only used with mode "ratio"' });
    if ('fields' in n && n.fields && fields) {
      for (const f of Object.keys(n.fields)) if (!known(f)) problems.push({ path: at(n.id, `fields.${f}`), message: `unknown field "${f}": ${entity?.name} has no such field` });
    }
    if ('sla' in n && n.sla && entity) {
      for (const part of ['remind', 'escalate', 'auto'] as const) {
        const ref = n.sla[part]?.afterField;
        if (!ref) continue;
        const { field: f, error } = followFieldPath(ref, entity, entities);
        if (error) problems.push({ path: at(n.id, `sla.${part}.afterField`), message: error });
        else if (f && !NUMERIC_FIELD(f)) problems.push({ path: at(n.id, `sla.${part}.afterField`), message: `field "${ref}" is a ${f.type} field; the minutes come from an integer, decimal or numeric formula field` });
      }
    }
    if ('sla' in n && n.sla?.escalate && n.sla.auto && n.sla.auto.after <= n.sla.escalate.after) {
      problems.push({ path: at(n.id, 'sla.auto.after'), message: 'auto-decision comes before the first escalation: make auto.after larger than escalate.after' });
    }
    void parent;
  });
  return problems;
}

/**
 * The calendar a node's SLA minutes are counted on, or null for wall-clock minutes. The node's
 * `sla` decides first (businessHours false = wall clock; a calendar name or businessHours true =
 * business time), then the workflow's; the calendar defaults to the plant's `default`.
 */
export function slaCalendar(wf: Pick<WorkflowDef, 'businessHours' | 'calendar'>, node: WorkflowNode): string | null {
  const sla = node.type === 'approver' || node.type === 'handler' ? node.sla : undefined;
  if (sla?.businessHours === false) return null;
  if (sla?.businessHours || sla?.calendar) return sla.calendar ?? wf.calendar ?? 'default';
  if (wf.businessHours === false) return null;
  if (wf.businessHours || wf.calendar) return wf.calendar ?? 'default';
  return null;
}

/** Every calendar a workflow names, with the path a problem about it points at. */
export function calendarRefs(wf: WorkflowDef): Array<{ path: string; name: string }> {
  const out: Array<{ path: string; name: string }> = [];
  if (wf.calendar) out.push({ path: `workflows.${wf.name}.calendar`, name: wf.calendar });
  walkNodes(wf.root, (n) => {
    if ((n.type === 'approver' || n.type === 'handler') && n.sla?.calendar) out.push({ path: `workflows.${wf.name}.nodes.${n.id}.sla.calendar`, name: n.sla.calendar });
  });
  return out;
}

/** `root.next.approvers.0` → `workflows.x.nodes.<id>.approvers.0`: schema errors point at node ids too. */
function nodePath(prefix: string, input: unknown, path: ReadonlyArray<PropertyKey>): string {
  let out: string[] = [];
  let cur: unknown = input;
  for (const seg of path) {
    cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg as string] : undefined;
    const id = cur && typeof cur === 'object' ? (cur as { id?: unknown }).id : undefined;
    if ((seg === 'root' || seg === 'next') && typeof id === 'string') out = ['nodes', id];
    else if (typeof seg === 'number' && typeof id === 'string' && out.at(-1) === 'branches') out.push(id);
    else out.push(String(seg));
  }
  return [prefix, ...out].join('.');
}

/** Parses and validates; throws nothing, returns the problems (schema problems first). */
export function checkWorkflow(input: unknown, entity?: EntityDef, entities?: readonly EntityDef[]): { workflow?: WorkflowDef; problems: WorkflowProblem[] } {
  const parsed = WorkflowDef.safeParse(input);
  if (!parsed.success) {
    const name = (input as { name?: unknown })?.name;
    const prefix = `workflows.${typeof name === 'string' ? name : '?'}`;
    return { problems: parsed.error.issues.map((i) => ({ path: nodePath(prefix, input, i.path), message: i.message })) };
  }
  return { workflow: parsed.data, problems: validateWorkflow(parsed.data, entity, entities) };
}
