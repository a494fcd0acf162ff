// One approval task: the document as this step sees it (fields the step marks editable are inputs
// — the runtime form's own FieldInput — whose changes go with the verdict; read-only ones are
// shown; hidden ones are not sent by the server), the trail, and what I can do —
// approve / reject (with the e-signature dialog when the step requires it), return to a chosen
// step, transfer, add signers. /approvals/:id shows an approval I started or was copied on, with
// withdraw for the initiator.
import { useMemo, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App as AntApp, Button, Card, Descriptions, Form, Input, Modal, Radio, Select, Space, Typography, type FormInstance } from 'antd';
import { api, isApiError, recordsPath, type AppDef, type EntityDef, type FieldDef, type InstanceView, type RecordJson, type TaskView } from '../api.ts';
import { ErrorResult } from '../runtime/ErrorResult.tsx';
import { useI18n } from '../i18n/index.tsx';
import { PageLoading } from '../PageLoading.tsx';
import { errorText } from '../session.ts';
import { cell, useNames } from '../runtime/cells.tsx';
import { FieldInput, UserPicker } from '../runtime/FieldInput.tsx';
import { COUNTS_KEY, useAppDef, useMeContext } from '../runtime/hooks.ts';
import { checkValue, COMPUTED, findEntity, label, recordLink } from '../runtime/model.ts';
import { fieldErrors, toValues } from '../runtime/payload.ts';
import { ApprovalTrail, StatusTag } from '../runtime/Trail.tsx';

type Action = 'approve' | 'reject' | 'return' | 'transfer' | 'add_signer';

export default function TaskPage() {
  const { id = '' } = useParams();
  const { t } = useI18n();
  const q = useQuery({ queryKey: ['task', id], queryFn: () => api.get<TaskView>(`/workflow/tasks/${id}`) });
  if (q.isPending) return <PageLoading />;
  if (q.isError) return <ErrorResult title={errorText(q.error, t)} />;
  return <TaskBody view={q.data} />;
}

const FULL_WIDTH = new Set(['long_text', 'child_table', 'attachment', 'image', 'signature', 'multi_select']);
/** Shown read-only with the runtime form's own (disabled) input: photos as thumbnails, files as links. */
const AS_INPUT = new Set(['attachment', 'image', 'signature']);

function ReadOnlyValue({ field, value, app }: { field: FieldDef; value: unknown; app: AppDef | undefined }) {
  const { locale } = useI18n();
  const me = useMeContext();
  const names = useNames(locale);
  if (app && AS_INPUT.has(field.type)) return <FieldInput field={field} app={app} me={me} value={value} disabled />;
  if (app && field.type === 'link' && typeof value === 'string' && value) return <LinkValue app={app} target={field.target ?? ''} id={value} />;
  return <>{cell(field, value, locale, names)}</>;
}

/** A link field reads as the linked record's name and title (e.g. the routing row "车削"), not its id. */
function LinkValue({ app, target, id }: { app: AppDef; target: string; id: string }) {
  const entity = findEntity(app, target);
  // same query as the form's link picker, so the two share the cached record
  const r = useQuery({ queryKey: ['record', app.name, target, id], queryFn: () => api.get<RecordJson>(`${recordsPath(app.name, target)}/${id}`), staleTime: 60_000 });
  if (!r.data) return <>{r.isError ? id.slice(0, 8) : '…'}</>;
  const tf = entity?.titleField ? r.data.values[entity.titleField] : undefined;
  return <>{[r.data.name, tf].filter((x) => x !== null && x !== undefined && x !== '').map(String).join(' · ') || id.slice(0, 8)}</>;
}

/**
 * The document as this step sees it. With `editable` (my pending task): a form where the fields
 * the step marks editable are the runtime form's inputs and the others are shown read-only.
 */
function DocumentCard({ instance, record, app, entity, editable, form, problem }: {
  instance: InstanceView;
  record: Record<string, unknown>;
  app: AppDef | undefined;
  entity: EntityDef | undefined;
  editable: ReadonlySet<string>;
  form: FormInstance<Record<string, unknown>>;
  problem: string | null;
}) {
  const { t, locale } = useI18n();
  const me = useMeContext();
  // the server leaves hidden fields out of `record`
  const shown = (entity?.fields ?? []).filter((f) => editable.has(f.name) || (f.type !== 'child_table' && record[f.name] !== undefined));
  const extra = <Link to={recordLink(instance.app, instance.entity, instance.recordId)}>{t('task.openRecord')}</Link>;
  if (!editable.size || !app) {
    return (
      <Card size="small" title={t('task.document')} extra={extra}>
        <Descriptions column={1} size="small" className="task-document">
          {record.name ? <Descriptions.Item label={t('list.name')}>{String(record.name)}</Descriptions.Item> : null}
          {shown.map((f) => (
            <Descriptions.Item key={f.name} label={label(f.label, locale)}>
              <ReadOnlyValue field={f} value={record[f.name]} app={app} />
            </Descriptions.Item>
          ))}
        </Descriptions>
      </Card>
    );
  }
  return (
    <Card size="small" title={t('task.document')} extra={extra}>
      <Form
        form={form}
        layout="vertical"
        initialValues={record}
        requiredMark
        className="record-form task-document task-edit"
        // a field's old complaint goes away as soon as it is changed
        onValuesChange={(changed: Record<string, unknown>) => form.setFields(Object.keys(changed).map((name) => ({ name, errors: [] })))}
      >
        <Alert type="info" showIcon title={t('task.editHint')} className="form-problem" />
        {problem ? <Alert type="error" showIcon title={problem} className="form-problem" role="alert" /> : null}
        {record.name ? <Form.Item label={t('list.name')}>{String(record.name)}</Form.Item> : null}
        {shown.map((f) =>
          editable.has(f.name) ? (
            <Form.Item
              key={f.name}
              name={f.name}
              label={label(f.label, locale)}
              required={Boolean(f.required)}
              extra={f.help ? label(f.help, locale) : undefined}
              className={FULL_WIDTH.has(f.type) ? 'field-full' : undefined}
              data-testid={`task-field-${f.name}`}
            >
              <FieldInput field={f} app={app} me={me} />
            </Form.Item>
          ) : (
            <Form.Item key={f.name} label={label(f.label, locale)} className={AS_INPUT.has(f.type) ? 'field-full' : undefined} data-testid={`task-field-${f.name}`}>
              <ReadOnlyValue field={f} value={record[f.name]} app={app} />
            </Form.Item>
          ),
        )}
      </Form>
    </Card>
  );
}

/** Fields this step lets me change: editable at the node, not computed, on my pending task. */
function editableFields(view: TaskView, entity: EntityDef | undefined): Set<string> {
  const mine = view.actions.includes('approve') || view.actions.includes('reject');
  if (!mine || !entity) return new Set();
  return new Set(entity.fields.filter((f: FieldDef) => view.fields[f.name] === 'editable' && !COMPUTED.has(f.type)).map((f) => f.name));
}

function TaskBody({ view }: { view: TaskView }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [action, setAction] = useState<Action | null>(null);
  const [form] = Form.useForm<{ comment?: string; target?: string; to?: string; users?: string[]; position?: 'before' | 'after'; password?: string }>();
  const [docForm] = Form.useForm<Record<string, unknown>>();
  const [problem, setProblem] = useState<string | null>(null);
  const needsSignature = Boolean(view.node?.signature);
  const appQ = useAppDef(view.instance.app);
  const app = appQ.data?.definition;
  const entity = app ? findEntity(app, view.instance.entity) : undefined;
  const editable = useMemo(() => editableFields(view, entity), [view, entity]);

  /** The editable fields I changed, in the records API's shape (undefined: none). */
  const changes = (): Record<string, unknown> | undefined => {
    if (!editable.size || !app || !entity) return undefined;
    const values = toValues(app, entity, docForm.getFieldsValue(true) as Record<string, unknown>, (n) => editable.has(n));
    const changed = Object.entries(values).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(view.record[k] ?? null));
    return changed.length ? Object.fromEntries(changed) : undefined;
  };
  /** Client checks of the editable fields before an approval: required, ranges, patterns. */
  const checkEdits = (): boolean => {
    if (!entity) return true;
    const values = docForm.getFieldsValue(true) as Record<string, unknown>;
    const bad = entity.fields.filter((f) => editable.has(f.name)).map((f) => ({ f, msg: checkValue(f, values[f.name], Boolean(f.required), t) }));
    docForm.setFields(bad.map((b) => ({ name: b.f.name, errors: b.msg ? [b.msg] : [] })));
    const ok = bad.every((b) => !b.msg);
    setProblem(ok ? null : t('form.fixErrors'));
    return ok;
  };

  const act = useMutation({
    mutationFn: (body: Record<string, unknown>) => api.post(`/workflow/tasks/${view.task.id}/actions`, body),
    onSuccess: async () => {
      void message.success(t('task.done'));
      setAction(null);
      await queryClient.invalidateQueries({ queryKey: ['record', view.instance.app, view.instance.entity] });
      await queryClient.invalidateQueries({ queryKey: ['inbox'] });
      await queryClient.invalidateQueries({ queryKey: COUNTS_KEY });
      await queryClient.invalidateQueries({ queryKey: ['trail', view.instance.id] });
      await queryClient.invalidateQueries({ queryKey: ['task', view.task.id] });
      void navigate('/inbox/todo');
    },
    // 422 on fields this step edits (`body.changes.x`, or the record's own `values.x`): shown on the fields
    onError: (err) => {
      if (!isApiError(err) || !editable.size) return;
      const byField = fieldErrors(err.errors.map((e) => ({ ...e, path: e.path.replace(/^body\.changes\./, 'values.') })), (n) => t('form.row', { n }));
      const known = [...editable].filter((f) => byField.has(f));
      if (!known.length) return;
      docForm.setFields(known.map((name) => ({ name, errors: byField.get(name)! })));
      setProblem(errorText(err, t));
      setAction(null);
    },
  });

  const submit = async () => {
    const v = await form.validateFields();
    const comment = v.comment?.trim() || undefined;
    if (action === 'approve' || action === 'reject') act.mutate({ action, comment, changes: changes(), ...(needsSignature ? { password: v.password } : {}) });
    else if (action === 'return') act.mutate({ action, target: v.target, comment });
    else if (action === 'transfer') act.mutate({ action, to: v.to, comment });
    else if (action === 'add_signer') act.mutate({ action, users: v.users, position: v.position ?? 'after', comment });
  };
  const open = (a: Action) => {
    if (a === 'approve' && !checkEdits()) return;
    act.reset();
    form.resetFields();
    setAction(a);
  };
  const titles: Record<Action, string> = {
    approve: needsSignature ? t('task.signTitle') : t('task.approve'),
    reject: needsSignature ? t('task.signTitle') : t('task.reject'),
    return: t('task.return'),
    transfer: t('task.transfer'),
    add_signer: t('task.addSigner'),
  };
  const can = (a: Action) => view.actions.includes(a);

  return (
    <Space orientation="vertical" size="middle" className="task-page">
      <Card
        variant="borderless"
        title={
          <Space wrap>
            <Typography.Title level={4} className="page-title" data-testid="task-title">
              {view.instance.title}
            </Typography.Title>
            <StatusTag status={view.task.status} />
          </Space>
        }
      >
        {view.node?.name ? <Typography.Paragraph type="secondary">{label(view.node.name, 'zh-CN')}</Typography.Paragraph> : null}
        {view.task.kind === 'resubmit' && view.task.status === 'pending' ? (
          <Alert type="warning" showIcon title={t('task.returnedHint')} />
        ) : view.actions.length === 0 ? (
          <Alert type="info" showIcon title={t('task.notYours')} />
        ) : null}
      </Card>
      <DocumentCard instance={view.instance} record={view.record} app={app} entity={entity} editable={editable} form={docForm} problem={problem} />
      <ApprovalTrail instanceId={view.instance.id} />
      {view.task.kind === 'resubmit' && view.task.status === 'pending' ? <ResubmitActions instanceId={view.instance.id} /> : null}
      {view.actions.length && view.task.kind !== 'resubmit' ? (
        <div className="sticky-actions">
          <Space wrap className="task-actions">
            {can('approve') ? <Button type="primary" onClick={() => open('approve')} className="touch-button" data-testid="task-approve">{t('task.approve')}</Button> : null}
            {can('reject') ? <Button danger onClick={() => open('reject')} className="touch-button">{t('task.reject')}</Button> : null}
            {can('return') ? <Button onClick={() => open('return')} className="touch-button">{t('task.return')}</Button> : null}
            {can('transfer') ? <Button onClick={() => open('transfer')} className="touch-button">{t('task.transfer')}</Button> : null}
            {can('add_signer') ? <Button onClick={() => open('add_signer')} className="touch-button">{t('task.addSigner')}</Button> : null}
          </Space>
        </div>
      ) : null}
      <Modal
        open={action !== null}
        title={action ? titles[action] : ''}
        onCancel={() => setAction(null)}
        onOk={() => void submit()}
        okText={t('common.ok')}
        confirmLoading={act.isPending}
        okButtonProps={{ danger: action === 'reject', id: 'task-confirm' }}
        destroyOnHidden
      >
        <Form form={form} layout="vertical" initialValues={{ position: 'after', target: view.returnTargets[0]?.nodeId }} onFinish={() => void submit()}>
          {act.isError ? <Alert type="error" showIcon title={errorText(act.error, t)} className="form-problem" role="alert" /> : null}
          {(action === 'approve' || action === 'reject') && needsSignature ? <Alert type="warning" showIcon title={t('task.signHint')} className="form-problem" /> : null}
          {action === 'return' ? (
            <Form.Item name="target" label={t('task.returnTo')} rules={[{ required: true, message: t('form.required') }]}>
              <Radio.Group options={view.returnTargets.map((r) => ({ value: r.nodeId, label: r.name }))} className="return-targets" />
            </Form.Item>
          ) : null}
          {action === 'transfer' ? (
            <Form.Item name="to" label={t('task.transferTo')} rules={[{ required: true, message: t('form.required') }]}>
              <UserPicker value={null} onChange={() => {}} />
            </Form.Item>
          ) : null}
          {action === 'add_signer' ? (
            <>
              <Form.Item name="users" label={t('task.signers')} rules={[{ required: true, message: t('form.required') }]}>
                <MultiUserPicker />
              </Form.Item>
              <Form.Item name="position" label={t('task.position')}>
                <Radio.Group options={[{ value: 'before', label: t('task.before') }, { value: 'after', label: t('task.after') }]} />
              </Form.Item>
            </>
          ) : null}
          <Form.Item name="comment" label={t('task.comment')} rules={action === 'reject' || action === 'return' ? [{ required: true, message: t('form.required') }] : []}>
            <Input.TextArea autoSize={{ minRows: 2, maxRows: 6 }} maxLength={4000} />
          </Form.Item>
          {(action === 'approve' || action === 'reject') && needsSignature ? (
            <Form.Item name="password" label={t('task.password')} rules={[{ required: true, message: t('form.required') }]}>
              <Input.Password autoComplete="current-password" />
            </Form.Item>
          ) : null}
        </Form>
      </Modal>
    </Space>
  );
}

/** Several people for add-signer: picks one at a time into a list. */
function MultiUserPicker({ id, value, onChange }: { id?: string; value?: string[]; onChange?: (v: string[]) => void }) {
  const { t, locale } = useI18n();
  const names = useNames(locale);
  const list = value ?? [];
  return (
    <Space orientation="vertical" style={{ width: '100%' }}>
      <UserPicker id={id} value={null} onChange={(v) => v && !list.includes(v) && onChange?.([...list, v])} />
      {list.length ? (
        <Select aria-label={t('task.signers')} mode="multiple" open={false} value={list} onChange={(v: string[]) => onChange?.(v)} options={list.map((u) => ({ value: u, label: names.get(u) ?? u }))} style={{ width: '100%' }} />
      ) : null}
    </Space>
  );
}

export function ApprovalPage() {
  const { id = '' } = useParams();
  const { t } = useI18n();
  const me = useMeContext();
  const { message, modal } = AntApp.useApp();
  const queryClient = useQueryClient();
  const q = useQuery({ queryKey: ['approval', id], queryFn: () => api.get<{ instance: InstanceView }>(`/workflow/instances/${id}`) });
  const withdraw = useMutation({
    mutationFn: () => api.post(`/workflow/instances/${id}/actions`, { action: 'withdraw' }),
    onSuccess: async () => {
      void message.success(t('task.done'));
      await queryClient.invalidateQueries({ queryKey: ['approval', id] });
      await queryClient.invalidateQueries({ queryKey: ['trail', id] });
      await queryClient.invalidateQueries({ queryKey: ['inbox'] });
      await queryClient.invalidateQueries({ queryKey: COUNTS_KEY });
    },
    onError: (err) => void message.error(errorText(err, t)),
  });
  if (q.isPending) return <PageLoading />;
  if (q.isError) return <ErrorResult title={errorText(q.error, t)} />;
  const inst = q.data.instance;
  return (
    <Space orientation="vertical" size="middle" className="task-page">
      <Card
        variant="borderless"
        title={<Typography.Title level={4} className="page-title">{inst.title}</Typography.Title>}
        extra={<Link to={recordLink(inst.app, inst.entity, inst.recordId)}>{t('task.openRecord')}</Link>}
      >
        <StatusTag status={inst.status} />
        {inst.initiatorId === me.id && (inst.status === 'running' || inst.status === 'returned') ? (
          <Button danger className="touch-button" loading={withdraw.isPending} onClick={() => modal.confirm({ title: t('task.confirmWithdraw'), onOk: () => withdraw.mutateAsync() })}>
            {t('task.withdraw')}
          </Button>
        ) : null}
      </Card>
      <ApprovalTrail instanceId={inst.id} />
    </Space>
  );
}

/** A document returned to its initiator: resubmit it (after changing it) or withdraw the approval. */
function ResubmitActions({ instanceId }: { instanceId: string }) {
  const { t } = useI18n();
  const { message, modal } = AntApp.useApp();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const act = useMutation({
    mutationFn: (action: 'resubmit' | 'withdraw') => api.post(`/workflow/instances/${instanceId}/actions`, { action }),
    onSuccess: async () => {
      void message.success(t('task.done'));
      await queryClient.invalidateQueries({ queryKey: ['inbox'] });
      await queryClient.invalidateQueries({ queryKey: COUNTS_KEY });
      void navigate('/inbox/todo');
    },
    onError: (err) => void message.error(errorText(err, t)),
  });
  return (
    <div className="sticky-actions">
      <Space wrap>
        <Button type="primary" className="touch-button" loading={act.isPending && act.variables === 'resubmit'} onClick={() => act.mutate('resubmit')}>
          {t('task.resubmit')}
        </Button>
        <Button danger className="touch-button" onClick={() => modal.confirm({ title: t('task.confirmWithdraw'), onOk: () => act.mutateAsync('withdraw') })}>
          {t('task.withdraw')}
        </Button>
      </Space>
    </div>
  );
}
