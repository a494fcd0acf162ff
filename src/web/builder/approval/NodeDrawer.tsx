// The side drawer of one node (or one branch): people sources, approval mode, empty-approver and
// initiator-is-approver rules, SLA and escalation, e-signature, field permissions; a branch's
// condition built from form fields. Antd's Drawer traps focus and closes on Escape.
import { useId, type ReactNode } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Alert, Button, Checkbox, Divider, Drawer, Input, InputNumber, Radio, Select, Space, Table, Typography } from 'antd';
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import type { EntityDef, Label } from '../../../shared/definition.ts';
import { APPROVAL_MODES, FIELD_ACCESS, type ApproverSource, type Branch, type EmptyRule, type FieldAccess, type Sla, type WorkflowNode } from '../../../shared/workflow-definition.ts';
import { ConditionEditor } from '../ConditionEditor.tsx';
import { builderApi } from '../builderApi.ts';
import { CALENDARS_KEY, calendarsApi, DEFAULT_CALENDAR } from '../../calendars/api.ts';
import { useBuilderI18n, type BuilderKey } from '../i18n.ts';
import { cleanLabel, type Problem } from '../model.ts';

/** The calendar select's value for "no calendar named" (a calendar name never starts with "_"). */
const PLANT_CALENDAR = '_plant';
const SOURCE_KINDS: ApproverSource['kind'][] = ['users', 'role', 'department_head', 'manager_chain', 'field', 'initiator_pick', 'initiator'];

function Row({ label, id, children, error }: { label: string; id: string; children: ReactNode; error?: string | undefined }) {
  return (
    <div className={`prop${error ? ' prop-error' : ''}`}>
      <label className="prop-label" htmlFor={id}>
        {label}
      </label>
      {children}
      {error ? (
        <div className="builder-error-text" role="alert">
          {error}
        </div>
      ) : null}
    </div>
  );
}

function defaultSource(kind: ApproverSource['kind']): ApproverSource {
  switch (kind) {
    case 'users':
      return { kind, users: [] } as unknown as ApproverSource;
    case 'role':
      return { kind, role: '' } as ApproverSource;
    case 'department_head':
      return { kind, levelsUp: 0 };
    case 'manager_chain':
      return { kind, toLevel: 2 };
    case 'field':
      return { kind, field: '' } as ApproverSource;
    case 'initiator_pick':
      return { kind };
    default:
      return { kind: 'initiator' };
  }
}

function SourceEditor({ src, index, entity, onChange, onRemove, error }: { src: ApproverSource; index: number; entity: EntityDef | undefined; onChange: (s: ApproverSource) => void; onRemove: () => void; error?: string | undefined }) {
  const { bt, lbl, locale } = useBuilderI18n();
  const uid = useId();
  const roles = useQuery({ queryKey: ['builder', 'roles'], queryFn: builderApi.roles, staleTime: 60_000, enabled: src.kind === 'role' });
  const users = useQuery({ queryKey: ['builder', 'users'], queryFn: () => builderApi.users(''), staleTime: 60_000, enabled: src.kind === 'users' });
  const n = index + 1;
  return (
    <div className={`source-box${error ? ' has-error' : ''}`} data-testid={`source-${index}`}>
      <Space wrap align="end">
        <Row label={`${bt('src.kind')} ${n}`} id={`${uid}-kind`}>
          <Select id={`${uid}-kind`} style={{ width: 190 }} value={src.kind} onChange={(k: ApproverSource['kind']) => onChange(defaultSource(k))} options={SOURCE_KINDS.map((k) => ({ value: k, label: bt(`src.${k}` as BuilderKey) }))} />
        </Row>
        {src.kind === 'users' ? (
          <Row label={bt('src.usernames')} id={`${uid}-users`}>
            <Select
              id={`${uid}-users`}
              mode="tags"
              style={{ minWidth: 220 }}
              value={src.users}
              onChange={(u: string[]) => onChange({ kind: 'users', users: u })}
              options={(users.data ?? []).map((u) => ({ value: u.username, label: `${u.displayName} (${u.username})` }))}
            />
          </Row>
        ) : null}
        {src.kind === 'role' ? (
          <>
            <Row label={bt('src.role')} id={`${uid}-role`}>
              <Select
                id={`${uid}-role`}
                data-testid={`source-${index}-role`}
                style={{ width: 200 }}
                showSearch={{ optionFilterProp: 'label' }}
                value={src.role || undefined}
                loading={roles.isPending}
                onChange={(role: string) => onChange({ ...src, role })}
                options={(roles.data ?? []).map((r) => ({ value: r.code, label: `${locale === 'en' && r.nameEn ? r.nameEn : r.name} (${r.code})` }))}
              />
            </Row>
            <Row label={bt('src.roleScope')} id={`${uid}-scope`}>
              <Select
                id={`${uid}-scope`}
                style={{ width: 180 }}
                value={src.scope ?? 'all'}
                onChange={(scope: 'all' | 'initiator_department' | 'initiator_department_tree') => {
                  const next: ApproverSource & { scope?: string } = { ...src, scope };
                  if (scope === 'all') delete next.scope;
                  onChange(next);
                }}
                options={(['all', 'initiator_department', 'initiator_department_tree'] as const).map((s) => ({ value: s, label: bt(`src.scope.${s}`) }))}
              />
            </Row>
          </>
        ) : null}
        {src.kind === 'department_head' ? (
          <Row label={bt('src.levelsUp')} id={`${uid}-lv`}>
            <InputNumber id={`${uid}-lv`} min={0} max={20} value={src.levelsUp} onChange={(v) => onChange({ kind: 'department_head', levelsUp: v ?? 0 })} />
          </Row>
        ) : null}
        {src.kind === 'manager_chain' ? (
          <>
            <Row label={bt('src.toLevel')} id={`${uid}-tl`}>
              <InputNumber id={`${uid}-tl`} min={1} max={20} value={src.toLevel ?? null} onChange={(v) => onChange({ ...src, toLevel: v ?? undefined })} />
            </Row>
            <Row label={bt('src.toTitle')} id={`${uid}-tt`}>
              <Input id={`${uid}-tt`} value={src.toTitle ?? ''} onChange={(e) => onChange({ ...src, toTitle: e.target.value || undefined })} />
            </Row>
          </>
        ) : null}
        {src.kind === 'field' ? (
          <Row label={bt('src.formField')} id={`${uid}-f`}>
            <Select
              id={`${uid}-f`}
              style={{ width: 200 }}
              value={src.field || undefined}
              onChange={(field: string) => onChange({ kind: 'field', field })}
              options={(entity?.fields ?? []).filter((f) => f.type === 'user' || f.type === 'department').map((f) => ({ value: f.name, label: `${lbl(f.label, f.name)} (${f.name})` }))}
            />
          </Row>
        ) : null}
        {src.kind === 'initiator_pick' ? (
          <Checkbox checked={!!src.multiple} onChange={(e) => onChange({ kind: 'initiator_pick', ...(e.target.checked ? { multiple: true } : {}) })}>
            {bt('src.multiple')}
          </Checkbox>
        ) : null}
        <Button type="text" danger icon={<DeleteOutlined />} aria-label={`${bt('src.remove')} ${n}`} onClick={onRemove} />
      </Space>
      {error ? <div className="builder-error-text">{error}</div> : null}
    </div>
  );
}

type Editable = { kind: 'node'; node: WorkflowNode } | { kind: 'branch'; branch: Branch; container: WorkflowNode };

export function NodeDrawer({
  target,
  entity,
  problems,
  onClose,
  onNode,
  onBranch,
}: {
  target: Editable | null;
  entity: EntityDef | undefined;
  problems: Problem[];
  onClose: () => void;
  onNode: (n: WorkflowNode) => void;
  onBranch: (b: Branch) => void;
}) {
  const { bt, lbl } = useBuilderI18n();
  const uid = useId();
  const timed = target?.kind === 'node' && (target.node.type === 'approver' || target.node.type === 'handler');
  const calendars = useQuery({ queryKey: CALENDARS_KEY, queryFn: calendarsApi.list, staleTime: 60_000, enabled: timed });
  const errAt = (detail: string) =>
    problems
      .filter((p) => {
        const seg = p.path.split('.');
        const rest = seg.slice(4).join('.');
        return detail === '' ? rest === '' : rest === detail || rest.startsWith(`${detail}.`);
      })
      .map((p) => p.message)
      .join('; ') || undefined;

  const nameEditor = (name: Label | undefined, set: (l: Label | undefined) => void, fallback: string) => (
    <Space wrap>
      <Row label={bt('node.nameZh')} id={`${uid}-nzh`}>
        <Input id={`${uid}-nzh`} data-testid="node-name" value={name?.zh ?? ''} placeholder={fallback} onChange={(e) => set(cleanLabel({ zh: e.target.value, ...(name?.en ? { en: name.en } : {}) }))} />
      </Row>
      <Row label={bt('node.nameEn')} id={`${uid}-nen`}>
        <Input id={`${uid}-nen`} value={name?.en ?? ''} disabled={!name?.zh} onChange={(e) => set(cleanLabel({ zh: name?.zh ?? '', en: e.target.value }))} />
      </Row>
    </Space>
  );

  let title = '';
  let body: ReactNode = null;
  if (target?.kind === 'branch') {
    const b = target.branch;
    const isCond = target.container.type === 'condition';
    title = `${bt(isCond ? 'node.branch' : 'node.parallel')} · ${lbl(b.name, b.id)}`;
    const branchErr = problems.filter((p) => p.path.split('.')[5] === b.id).map((p) => p.message).join('; ') || undefined;
    body = (
      <>
        {branchErr ? <Alert type="error" showIcon title={branchErr} style={{ marginBottom: 12 }} /> : null}
        {nameEditor(b.name, (name) => onBranch({ ...b, name }), b.id)}
        {isCond ? (
          b.default ? (
            <Alert type="info" title={bt('node.isDefault')} />
          ) : (
            <>
              <div className="prop-label">{bt('node.branch')}</div>
              <ConditionEditor idPrefix="branch" fields={entity?.fields ?? []} value={b.when} onChange={(when) => onBranch(when ? { ...b, when } : (({ when: _w, ...rest }) => rest)(b))} />
            </>
          )
        ) : null}
      </>
    );
  } else if (target?.kind === 'node') {
    const n = target.node;
    const set = (patch: Record<string, unknown>) => {
      const next = { ...n, ...patch } as Record<string, unknown>;
      for (const k of Object.keys(patch)) if (next[k] === undefined) delete next[k];
      onNode(next as unknown as WorkflowNode);
    };
    title = `${bt(`node.${n.type}` as BuilderKey)} · ${lbl(n.name, n.id)}`;
    const parts: ReactNode[] = [];
    if (errAt('')) parts.push(<Alert key="err" type="error" showIcon title={errAt('')} style={{ marginBottom: 12 }} />);
    parts.push(<div key="name">{nameEditor(n.name, (name) => set({ name }), bt(`node.${n.type}` as BuilderKey))}</div>);

    if (n.type === 'approver' || n.type === 'handler' || n.type === 'cc') {
      parts.push(
        <div key="sources">
          <Divider titlePlacement="start">{bt('node.sources')}</Divider>
          {n.approvers.map((s, i) => (
            <SourceEditor
              key={i}
              src={s}
              index={i}
              entity={entity}
              error={errAt(`approvers.${i}`)}
              onChange={(src) => set({ approvers: n.approvers.map((x, j) => (j === i ? src : x)) })}
              onRemove={() => set({ approvers: n.approvers.filter((_x, j) => j !== i) })}
            />
          ))}
          {errAt('approvers') && !n.approvers.length ? <div className="builder-error-text">{errAt('approvers')}</div> : null}
          <Button size="small" icon={<PlusOutlined />} data-testid="add-source" onClick={() => set({ approvers: [...n.approvers, { kind: 'role', role: '' } as ApproverSource] })}>
            {bt('node.addSource')}
          </Button>
        </div>,
      );
    }
    if (n.type === 'approver' || n.type === 'handler') {
      const modes = n.type === 'approver' ? APPROVAL_MODES : (['any', 'all', 'sequential'] as const);
      parts.push(
        <div key="mode">
          <Divider titlePlacement="start">{bt('node.mode')}</Divider>
          <Radio.Group
            aria-label={bt('node.mode')}
            value={n.mode ?? 'any'}
            onChange={(e) => set({ mode: e.target.value, ...(e.target.value === 'ratio' ? { ratio: (n as { ratio?: number }).ratio ?? 50 } : { ratio: undefined }) })}
            options={modes.map((m) => ({ value: m, label: bt(`mode.${m}`) }))}
          />
          {n.type === 'approver' && n.mode === 'ratio' ? (
            <Row label={bt('node.ratio')} id={`${uid}-ratio`} error={errAt('ratio')}>
              <InputNumber id={`${uid}-ratio`} min={1} max={100} value={n.ratio ?? null} onChange={(v) => set({ ratio: v ?? undefined })} />
            </Row>
          ) : null}
          <Row label={bt('node.onEmpty')} id={`${uid}-empty`} error={errAt('onEmpty')}>
            <Space wrap>
              <Select
                id={`${uid}-empty`}
                style={{ width: 200 }}
                value={n.onEmpty?.action ?? 'admin'}
                onChange={(action: EmptyRule['action']) => set({ onEmpty: action === 'user' ? { action, user: '' } : { action } })}
                options={(['auto_approve', 'auto_reject', 'admin', 'user'] as const).map((a) => ({ value: a, label: bt(`empty.${a}`) }))}
              />
              {n.onEmpty?.action === 'user' ? <Input aria-label={bt('node.emptyUser')} placeholder={bt('node.emptyUser')} value={n.onEmpty.user} onChange={(e) => set({ onEmpty: { action: 'user', user: e.target.value } })} /> : null}
            </Space>
          </Row>
          {n.type === 'approver' ? (
            <>
              <Row label={bt('node.onInitiator')} id={`${uid}-init`}>
                <Select
                  id={`${uid}-init`}
                  style={{ width: 200 }}
                  value={n.onInitiator ?? 'none'}
                  onChange={(v: 'none' | 'auto_approve' | 'skip' | 'to_manager') => set({ onInitiator: v === 'none' ? undefined : v })}
                  options={(['none', 'auto_approve', 'skip', 'to_manager'] as const).map((a) => ({ value: a, label: bt(`init.${a}`) }))}
                />
              </Row>
              <Checkbox checked={!!n.signature} onChange={(e) => set({ signature: e.target.checked || undefined })}>
                {bt('node.signature')}
              </Checkbox>
            </>
          ) : null}
        </div>,
      );
      const sla: Sla = n.sla ?? {};
      const clock = sla.businessHours === false ? 'wall' : sla.businessHours || sla.calendar ? 'business' : 'inherit';
      // "default" is the plant's calendar: offered once, as no name (the workflow's or the plant's)
      const calendarOptions = [
        { value: PLANT_CALENDAR, label: bt('slaCalendar.plant') },
        ...(calendars.data ?? []).filter((c) => c.name !== DEFAULT_CALENDAR).map((c) => ({ value: c.name, label: c.definition.label ? `${lbl(c.definition.label)} (${c.name})` : c.name })),
        ...(sla.calendar && calendars.data && !calendars.data.some((c) => c.name === sla.calendar) ? [{ value: sla.calendar, label: bt('slaCalendar.missing', { name: sla.calendar }) }] : []),
      ];
      const setSla = (s: Sla) => {
        const clean = Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as Sla;
        set({ sla: Object.keys(clean).length ? clean : undefined });
      };
      const num = (label: BuilderKey, key: string, value: number | undefined, onV: (v: number | undefined) => void, err?: string) => (
        <Row label={bt(label)} id={`${uid}-${key}`} error={err}>
          <InputNumber id={`${uid}-${key}`} min={1} value={value ?? null} onChange={(v) => onV(v ?? undefined)} addonAfter={bt('common.minutes')} />
        </Row>
      );
      parts.push(
        <div key="sla">
          <Divider titlePlacement="start">{bt('node.sla')}</Divider>
          {errAt('sla') ? <div className="builder-error-text">{errAt('sla')}</div> : null}
          <Row label={bt('node.slaClock')} id={`${uid}-clock`}>
            <Select
              id={`${uid}-clock`}
              style={{ width: 260, maxWidth: '100%' }}
              value={clock}
              // a calendar name alone means business time, so leaving business time drops it
              onChange={(v: 'inherit' | 'wall' | 'business') => setSla({ ...sla, businessHours: v === 'inherit' ? undefined : v === 'business', calendar: v === 'business' ? sla.calendar : undefined })}
              options={(['inherit', 'wall', 'business'] as const).map((v) => ({ value: v, label: bt(`slaClock.${v}`) }))}
            />
          </Row>
          {clock === 'business' || errAt('sla.calendar') ? (
            <Row label={bt('node.slaCalendar')} id={`${uid}-cal`} error={errAt('sla.calendar')}>
              <Select
                id={`${uid}-cal`}
                style={{ width: 260, maxWidth: '100%' }}
                loading={calendars.isPending}
                value={sla.calendar ?? PLANT_CALENDAR}
                onChange={(v: string) => setSla({ ...sla, businessHours: true, calendar: v === PLANT_CALENDAR ? undefined : v })}
                options={calendarOptions}
                data-testid="sla-calendar"
              />
            </Row>
          ) : null}
          <Space wrap align="start">
            {num('node.remindAfter', 'ra', sla.remind?.after, (after) => setSla({ ...sla, remind: after ? { ...sla.remind, after } : undefined }))}
            {num('node.remindEvery', 're', sla.remind?.every, (every) => sla.remind && setSla({ ...sla, remind: { after: sla.remind.after, ...(every ? { every } : {}) } }))}
          </Space>
          <Space wrap align="start">
            {num('node.escalateAfter', 'ea', sla.escalate?.after, (after) => setSla({ ...sla, escalate: after ? { ...sla.escalate, after } : undefined }))}
            <Row label={bt('node.escalateMax')} id={`${uid}-em`}>
              <InputNumber id={`${uid}-em`} min={1} max={20} disabled={!sla.escalate} value={sla.escalate?.maxLevels ?? null} onChange={(v) => sla.escalate && setSla({ ...sla, escalate: { ...sla.escalate, maxLevels: v ?? undefined } })} />
            </Row>
            <Checkbox disabled={!sla.escalate} checked={!!sla.escalate?.repeat} onChange={(e) => sla.escalate && setSla({ ...sla, escalate: { ...sla.escalate, repeat: e.target.checked || undefined } })}>
              {bt('node.escalateRepeat')}
            </Checkbox>
          </Space>
          <Space wrap align="start">
            {num('node.autoAfter', 'aa', sla.auto?.after, (after) => setSla({ ...sla, auto: after ? { action: sla.auto?.action ?? 'approve', after } : undefined }), errAt('sla.auto.after'))}
            <Row label={bt('node.autoAction')} id={`${uid}-aact`}>
              <Select
                id={`${uid}-aact`}
                style={{ width: 140 }}
                disabled={!sla.auto}
                value={sla.auto?.action ?? 'approve'}
                onChange={(action: 'approve' | 'reject') => sla.auto && setSla({ ...sla, auto: { ...sla.auto, action } })}
                options={[
                  { value: 'approve', label: bt('auto.approve') },
                  { value: 'reject', label: bt('auto.reject') },
                ]}
              />
            </Row>
          </Space>
        </div>,
      );
    }
    if ((n.type === 'approver' || n.type === 'handler' || n.type === 'initiator') && entity) {
      const fields = n.fields ?? {};
      parts.push(
        <div key="fields">
          <Divider titlePlacement="start">{bt('node.fields')}</Divider>
          {errAt('fields') ? <div className="builder-error-text">{errAt('fields')}</div> : null}
          <Table
            size="small"
            pagination={false}
            rowKey="name"
            dataSource={entity.fields.filter((f) => f.type !== 'formula' && f.type !== 'auto_number')}
            columns={[
              { title: bt('field.labelZh'), key: 'l', render: (_: unknown, f) => `${lbl(f.label, f.name)} (${f.name})` },
              {
                title: bt('node.fields'),
                key: 'a',
                render: (_: unknown, f) => (
                  <Radio.Group
                    aria-label={`${bt('node.fields')} ${f.name}`}
                    size="small"
                    optionType="button"
                    value={fields[f.name] ?? (n.type === 'initiator' ? 'editable' : 'read_only')}
                    onChange={(e) => set({ fields: { ...fields, [f.name]: e.target.value as FieldAccess } })}
                    options={FIELD_ACCESS.map((a) => ({ value: a, label: bt(`fa.${a}`) }))}
                  />
                ),
              },
            ]}
          />
        </div>,
      );
    }
    if (n.type === 'delay') {
      parts.push(
        <Row key="delay" label={bt('node.minutes')} id={`${uid}-min`} error={errAt('minutes')}>
          <InputNumber id={`${uid}-min`} min={1} max={525600} value={n.minutes} onChange={(v) => set({ minutes: v ?? 1 })} addonAfter={bt('common.minutes')} />
        </Row>,
      );
    }
    if (n.type === 'action') {
      const params = Object.entries(n.params ?? {});
      parts.push(
        <div key="action">
          <Row label={bt('node.actionName')} id={`${uid}-act`} error={errAt('action')}>
            <Select
              id={`${uid}-act`}
              showSearch
              style={{ width: 240 }}
              value={n.action}
              onChange={(action: string) => set({ action })}
              options={['set_field', 'emit_event', 'erp.write', 'notify'].map((a) => ({ value: a, label: a }))}
            />
          </Row>
          <div className="prop-label">{bt('node.params')}</div>
          {params.map(([k, v], i) => (
            <Space.Compact key={i} style={{ display: 'flex', marginBottom: 4 }}>
              <Input aria-label={`${bt('node.paramKey')} ${i + 1}`} value={k} onChange={(e) => set({ params: Object.fromEntries(params.map(([a, b], j) => (j === i ? [e.target.value, b] : [a, b]))) })} />
              <Input aria-label={`${bt('node.paramValue')} ${i + 1}`} value={String(v ?? '')} onChange={(e) => set({ params: Object.fromEntries(params.map(([a, b], j) => (j === i ? [a, e.target.value] : [a, b]))) })} />
              <Button aria-label={`${bt('common.delete')} ${k}`} icon={<DeleteOutlined />} onClick={() => set({ params: Object.fromEntries(params.filter((_p, j) => j !== i)) })} />
            </Space.Compact>
          ))}
          <Button size="small" icon={<PlusOutlined />} onClick={() => set({ params: { ...(n.params ?? {}), [`param${params.length + 1}`]: '' } })}>
            {bt('node.addParam')}
          </Button>
        </div>,
      );
    }
    body = parts;
  }

  return (
    <Drawer open={!!target} onClose={onClose} title={title} size={560} destroyOnHidden data-testid="node-drawer" closable={{ 'aria-label': bt('common.close') }}>
      {body}
      {target ? (
        <Typography.Paragraph type="secondary" style={{ marginTop: 16 }}>
          id: <code>{target.kind === 'node' ? target.node.id : target.branch.id}</code>
        </Typography.Paragraph>
      ) : null}
    </Drawer>
  );
}
