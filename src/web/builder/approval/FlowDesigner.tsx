// The approval designer in the DingTalk style: a vertical tree of node cards with a "+" between
// nodes (approver, handler, CC, condition branch, parallel branch, delay, action, end), branches
// side by side, a side drawer per node, and the server's problems shown on the offending node.
import { useState } from 'react';
import { Alert, Button, Dropdown, Empty, Form, Input, Modal, Select, Space, Tooltip, Typography } from 'antd';
import { ArrowLeftOutlined, ArrowRightOutlined, ClockCircleOutlined, CloseOutlined, PlusOutlined, WarningFilled } from '@ant-design/icons';
import type { AppDef, Condition, EntityDef } from '../../../shared/definition.ts';
import type { ApproverSource, Branch, NodeType, WorkflowDef, WorkflowNode } from '../../../shared/workflow-definition.ts';
import { useBuilderI18n, type BuilderKey, type BT } from '../i18n.ts';
import { isIdent, uniqueName, workflowsOf, type Problem, type ProblemIndex } from '../model.ts';
import { NodeDrawer } from './NodeDrawer.tsx';
import { addBranch, findBranch, findNode, insertAt, makeNode, moveBranch, removeBranch, removeNode, replaceNode, updateBranch, type Anchor } from './tree.ts';

const ADDABLE: NodeType[] = ['approver', 'handler', 'cc', 'condition', 'parallel', 'delay', 'action', 'end'];

function sourceText(s: ApproverSource, bt: BT): string {
  switch (s.kind) {
    case 'users':
      return `${bt('src.users')}: ${s.users.join(', ') || '—'}`;
    case 'role':
      return `${bt('src.role')}: ${s.role || bt('flow.notSet')}`;
    case 'department_head':
      return s.levelsUp ? `${bt('src.department_head')} (+${s.levelsUp})` : bt('src.department_head');
    case 'manager_chain':
      return `${bt('src.manager_chain')} ${s.toLevel ? `≤ ${s.toLevel}` : ''}${s.toTitle ? ` → ${s.toTitle}` : ''}`;
    case 'field':
      return `${bt('src.field')}: ${s.field || bt('flow.notSet')}`;
    default:
      return bt(`src.${s.kind}` as BuilderKey);
  }
}

function condText(c: Condition | undefined, entity: EntityDef | undefined, bt: BT, lbl: (l: EntityDef['label'] | undefined, f?: string) => string): string {
  if (!c) return bt('flow.notSet');
  if ('and' in c) return c.and.map((x) => condText(x, entity, bt, lbl)).join(` ${bt('cond.and')} `);
  if ('or' in c) return c.or.map((x) => condText(x, entity, bt, lbl)).join(` ${bt('cond.or')} `);
  if ('not' in c) return `${bt('cond.not')} (${condText(c.not, entity, bt, lbl)})`;
  const f = entity?.fields.find((x) => x.name === c.field);
  const v = c.value === undefined ? '' : Array.isArray(c.value) ? c.value.join(', ') : String(c.value);
  return `${f ? lbl(f.label, f.name) : c.field} ${bt(`op.${c.op}` as BuilderKey)} ${v}`.trim();
}

interface Ctx {
  wf: WorkflowDef;
  entity: EntityDef | undefined;
  problems: ProblemIndex;
  onAdd: (a: Anchor, t: NodeType) => void;
  onOpenNode: (id: string) => void;
  onOpenBranch: (id: string) => void;
  onDelete: (id: string) => void;
  onAddBranch: (containerId: string) => void;
  onRemoveBranch: (id: string) => void;
  onMoveBranch: (id: string, d: -1 | 1) => void;
}

function AddButton({ anchor, ctx, label }: { anchor: Anchor; ctx: Ctx; label: string }) {
  const { bt } = useBuilderI18n();
  const testId = 'after' in anchor ? `add-after-${anchor.after}` : `add-in-${anchor.branch}`;
  return (
    <div className="flow-add">
      <Dropdown
        trigger={['click']}
        menu={{ items: ADDABLE.map((t) => ({ key: t, label: bt(`node.${t}` as BuilderKey), 'data-testid': `add-${t}` })), onClick: ({ key }) => ctx.onAdd(anchor, key as NodeType) }}
      >
        <Button shape="circle" type="primary" size="small" icon={<PlusOutlined />} aria-label={label} data-testid={testId} />
      </Dropdown>
    </div>
  );
}

function NodeCard({ node, ctx }: { node: WorkflowNode; ctx: Ctx }) {
  const { bt, lbl } = useBuilderI18n();
  const problems: Problem[] = ctx.problems.nodes.get(`${ctx.wf.name}/${node.id}`) ?? [];
  const title = lbl(node.name, bt(`node.${node.type}` as BuilderKey));
  let summary = '';
  if (node.type === 'approver' || node.type === 'handler' || node.type === 'cc') summary = node.approvers.map((s) => sourceText(s, bt)).join('；') || bt('flow.notSet');
  if ((node.type === 'approver' || node.type === 'handler') && node.approvers.length) summary += ` · ${bt(`mode.${node.mode ?? 'any'}` as BuilderKey).split(' ')[0]}`;
  if (node.type === 'initiator') summary = bt('node.initiator');
  if (node.type === 'delay') summary = `${node.minutes} ${bt('common.minutes')}`;
  if (node.type === 'action') summary = node.action;
  if (node.type === 'condition' || node.type === 'parallel') return null;
  return (
    <div className={`flow-card flow-${node.type}${problems.length ? ' has-error' : ''}`} data-testid={`node-${node.id}`}>
      <div className="flow-card-head">
        <span>{bt(`node.${node.type}` as BuilderKey)}</span>
        {node.type !== 'initiator' ? (
          <Button type="text" size="small" className="flow-card-del" icon={<CloseOutlined />} aria-label={`${bt('flow.deleteNode')} ${title}`} onClick={() => ctx.onDelete(node.id)} />
        ) : null}
      </div>
      <button type="button" className="flow-card-body" onClick={() => ctx.onOpenNode(node.id)} aria-label={bt('flow.edit', { name: title })}>
        <div className="flow-card-title">{title}</div>
        <div className="flow-card-summary">{summary}</div>
        {(node.type === 'approver' && node.sla) || (node.type === 'handler' && node.sla) ? <div className="flow-card-summary"><ClockCircleOutlined aria-hidden /> SLA</div> : null}
      </button>
      {problems.length ? (
        <div className="flow-card-errors" role="alert" data-testid={`node-${node.id}-errors`}>
          <WarningFilled /> {problems.map((p) => p.message).join('; ')}
        </div>
      ) : null}
    </div>
  );
}

function Chain({ start, ctx }: { start: WorkflowNode | undefined; ctx: Ctx }) {
  const { bt, lbl } = useBuilderI18n();
  const out = [];
  for (let n = start; n; n = n.next) {
    const name = lbl(n.name, bt(`node.${n.type}` as BuilderKey));
    if (n.type === 'condition' || n.type === 'parallel') out.push(<Branches key={n.id} node={n} ctx={ctx} />);
    else out.push(<NodeCard key={n.id} node={n} ctx={ctx} />);
    if (n.type !== 'end') out.push(<AddButton key={`${n.id}+`} anchor={{ after: n.id }} ctx={ctx} label={bt('flow.addAfter', { name })} />);
  }
  return <>{out}</>;
}

function Branches({ node, ctx }: { node: WorkflowNode & { type: 'condition' | 'parallel' }; ctx: Ctx }) {
  const { bt, lbl } = useBuilderI18n();
  const isCond = node.type === 'condition';
  const containerProblems = ctx.problems.nodes.get(`${ctx.wf.name}/${node.id}`) ?? [];
  const nonDefault = node.branches.filter((b) => !b.default).length;
  return (
    <div className={`flow-branches${containerProblems.length ? ' has-error' : ''}`} data-testid={`node-${node.id}`}>
      <div className="flow-branches-head">
        <Button size="small" onClick={() => ctx.onAddBranch(node.id)} data-testid={`add-branch-${node.id}`}>
          {bt(isCond ? 'flow.addBranch' : 'flow.addParallel')}
        </Button>
        <Button size="small" type="link" onClick={() => ctx.onOpenNode(node.id)} aria-label={bt('flow.edit', { name: lbl(node.name, bt(`node.${node.type}`)) })}>
          {lbl(node.name, bt(`node.${node.type}`))}
        </Button>
        <Button size="small" type="text" danger icon={<CloseOutlined />} aria-label={`${bt('flow.deleteNode')} ${lbl(node.name, node.id)}`} onClick={() => ctx.onDelete(node.id)} />
      </div>
      {containerProblems.length ? (
        <div className="flow-card-errors" role="alert" data-testid={`node-${node.id}-errors`}>
          <WarningFilled /> {containerProblems.map((p) => p.message).join('; ')}
        </div>
      ) : null}
      <div className="flow-branch-row">
        {node.branches.map((b: Branch, i) => {
          const bp = (ctx.problems.nodes.get(`${ctx.wf.name}/${b.id}`) ?? []).length > 0;
          const name = lbl(b.name, isCond ? (b.default ? bt('flow.defaultBranch') : bt('flow.branchN', { n: i + 1 })) : bt('flow.parallelN', { n: i + 1 }));
          return (
            <div className="flow-branch" key={b.id}>
              <div className={`flow-card flow-branch-card${bp ? ' has-error' : ''}`} data-testid={`branch-${b.id}`}>
                <div className="flow-card-head">
                  <span>{isCond ? (b.default ? bt('flow.defaultBranch') : bt('flow.priority', { n: i + 1 })) : bt('node.parallel')}</span>
                  <span>
                    {isCond && !b.default ? (
                      <>
                        <Tooltip title={bt('common.moveUp')}>
                          <Button type="text" size="small" icon={<ArrowLeftOutlined />} aria-label={`${bt('common.moveUp')} ${name}`} disabled={i === 0} onClick={() => ctx.onMoveBranch(b.id, -1)} />
                        </Tooltip>
                        <Tooltip title={bt('common.moveDown')}>
                          <Button type="text" size="small" icon={<ArrowRightOutlined />} aria-label={`${bt('common.moveDown')} ${name}`} disabled={i >= nonDefault - 1} onClick={() => ctx.onMoveBranch(b.id, 1)} />
                        </Tooltip>
                      </>
                    ) : null}
                    {!b.default ? <Button type="text" size="small" icon={<CloseOutlined />} aria-label={`${bt('flow.deleteBranch')} ${name}`} onClick={() => ctx.onRemoveBranch(b.id)} /> : null}
                  </span>
                </div>
                <button type="button" className="flow-card-body" onClick={() => ctx.onOpenBranch(b.id)} aria-label={bt('flow.edit', { name })}>
                  <div className="flow-card-title">{name}</div>
                  <div className="flow-card-summary">{isCond ? (b.default ? bt('node.isDefault') : condText(b.when, ctx.entity, bt, lbl)) : ''}</div>
                </button>
                {bp ? (
                  <div className="flow-card-errors" role="alert" data-testid={`branch-${b.id}-errors`}>
                    <WarningFilled /> {(ctx.problems.nodes.get(`${ctx.wf.name}/${b.id}`) ?? []).map((p) => p.message).join('; ')}
                  </div>
                ) : null}
              </div>
              <AddButton anchor={{ branch: b.id }} ctx={ctx} label={bt('flow.addAfter', { name })} />
              <Chain start={b.next} ctx={ctx} />
            </div>
          );
        })}
      </div>
    </div>
  );
}

export function FlowDesigner({ app, problems, onChange }: { app: AppDef; problems: ProblemIndex; onChange: (next: AppDef) => void }) {
  const { bt, lbl } = useBuilderI18n();
  const workflows = workflowsOf(app);
  const [current, setCurrent] = useState<string | undefined>(workflows[0]?.name);
  const [open, setOpen] = useState<{ kind: 'node' | 'branch'; id: string } | null>(null);
  const [creating, setCreating] = useState(false);
  const [form] = Form.useForm<{ name: string; zh: string; entity: string }>();
  const wf = workflows.find((w) => w.name === current) ?? workflows[0];
  const entity = wf ? app.entities.find((e) => e.name === wf.entity) : undefined;

  const setWf = (next: WorkflowDef) => onChange({ ...app, workflows: workflows.map((w) => (w.name === next.name ? next : w)) });
  const setRoot = (root: WorkflowNode) => wf && setWf({ ...wf, root });

  const create = (v: { name: string; zh: string; entity: string }) => {
    const root: WorkflowNode = { id: 'start', type: 'initiator', name: { zh: '发起人', en: 'Initiator' } };
    const next: WorkflowDef = { name: v.name, entity: v.entity, label: { zh: v.zh }, root };
    // An approval attaches to a submittable document.
    const entities = app.entities.map((e) => (e.name === v.entity && !e.submittable ? { ...e, submittable: true } : e));
    onChange({ ...app, entities, workflows: [...workflows, next] });
    setCurrent(v.name);
    setCreating(false);
  };

  const wfProblems = wf ? [...problems.nodes.entries()].filter(([k]) => k.startsWith(`${wf.name}/`)).flatMap(([, v]) => v) : [];
  const orphanProblems = wf ? (problems.nodes.get(`${wf.name}/`) ?? []) : [];

  let target: Parameters<typeof NodeDrawer>[0]['target'] = null;
  if (wf && open?.kind === 'node') {
    const node = findNode(wf.root, open.id);
    if (node) target = { kind: 'node', node };
  } else if (wf && open?.kind === 'branch') {
    const f = findBranch(wf.root, open.id);
    if (f) target = { kind: 'branch', branch: f.branch, container: f.container };
  }
  const drawerProblems = wf && open ? (problems.nodes.get(`${wf.name}/${open.id}`) ?? []) : [];

  const ctx: Ctx | null = wf
    ? {
        wf,
        entity,
        problems,
        onAdd: (anchor, type) => {
          const node = makeNode(wf.root, type);
          setRoot(insertAt(wf.root, anchor, node));
          if (type !== 'end' && type !== 'parallel') setOpen(type === 'condition' && node.type === 'condition' ? { kind: 'branch', id: node.branches[0]!.id } : { kind: 'node', id: node.id });
        },
        onOpenNode: (id) => setOpen({ kind: 'node', id }),
        onOpenBranch: (id) => setOpen({ kind: 'branch', id }),
        onDelete: (id) => setRoot(removeNode(wf.root, id)),
        onAddBranch: (id) => setRoot(addBranch(wf.root, id)),
        onRemoveBranch: (id) => setRoot(removeBranch(wf.root, id)),
        onMoveBranch: (id, d) => setRoot(moveBranch(wf.root, id, d)),
      }
    : null;

  const submittables = app.entities.filter((e) => !e.child);
  return (
    <div className="flow-designer">
      <div className="flow-toolbar">
        <label className="prop-label" htmlFor="wf-select">
          {bt('flow.workflow')}
        </label>
        <Select id="wf-select" style={{ width: 240 }} value={wf?.name} onChange={setCurrent} options={workflows.map((w) => ({ value: w.name, label: `${lbl(w.label, w.name)} (${w.name})` }))} placeholder={bt('flow.none')} />
        <Button
          icon={<PlusOutlined />}
          data-testid="flow-create"
          onClick={() => {
            form.setFieldsValue({ name: uniqueName(`${app.name}_approval`, workflows.map((w) => w.name)).replace(/_1$/, ''), zh: '审批', entity: submittables[0]?.name ?? '' });
            setCreating(true);
          }}
        >
          {bt('flow.create')}
        </Button>
        {wf ? (
          <Button danger onClick={() => onChange({ ...app, workflows: workflows.filter((w) => w.name !== wf.name) })}>
            {bt('flow.delete')}
          </Button>
        ) : null}
        {wf ? (
          <Typography.Text type="secondary">
            {bt('flow.entity')}: {lbl(entity?.label, wf.entity)}
          </Typography.Text>
        ) : null}
      </div>
      {wfProblems.length ? <Alert type="error" showIcon title={bt('editor.problems', { n: wfProblems.length })} description={orphanProblems.map((p) => `${p.path}: ${p.message}`).join('; ') || undefined} style={{ margin: '8px 0' }} data-testid="flow-problems" /> : null}
      {wf && ctx ? (
        <div className="flow-canvas" data-testid="flow-canvas">
          <div className="flow-tree">
            <Chain start={wf.root} ctx={ctx} />
            <div className="flow-end">{bt('flow.end')}</div>
          </div>
        </div>
      ) : (
        <Empty description={bt('flow.none')} />
      )}
      <NodeDrawer
        target={target}
        entity={entity}
        problems={drawerProblems}
        onClose={() => setOpen(null)}
        onNode={(n) => wf && setRoot(replaceNode(wf.root, n))}
        onBranch={(b) => wf && setRoot(updateBranch(wf.root, b))}
      />
      <Modal open={creating} title={bt('flow.create')} okText={bt('common.ok')} cancelText={bt('common.cancel')} onCancel={() => setCreating(false)} onOk={() => form.submit()} destroyOnHidden>
        <Form form={form} layout="vertical" onFinish={create}>
          <Form.Item name="name" label={bt('flow.name')} rules={[{ required: true }, { validator: (_r, v: string) => (isIdent(v ?? '') && !workflows.some((w) => w.name === v) ? Promise.resolve() : Promise.reject(new Error(bt('apps.nameInvalid')))) }]}>
            <Input />
          </Form.Item>
          <Form.Item name="zh" label={bt('flow.labelZh')} rules={[{ required: true }]}>
            <Input />
          </Form.Item>
          <Form.Item name="entity" label={bt('flow.entity')} rules={[{ required: true }]} extra={bt('flow.needsSubmittable')}>
            <Select options={submittables.map((e) => ({ value: e.name, label: `${lbl(e.label, e.name)} (${e.name})` }))} />
          </Form.Item>
        </Form>
      </Modal>
      <Space />
    </div>
  );
}
