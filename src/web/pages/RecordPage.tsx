// A record: the form for a new one, or the document with its actions, history and approval trail.
// Every field type renders; visible-if / required-if follow the values as they are typed; the
// server's validation problems land on the fields they name.
import { lazy, Suspense, useEffect, useMemo, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App as AntApp, Breadcrumb, Button, Card, Empty, Form, Grid, Modal, Space, Tabs, Tag, Timeline, Typography } from 'antd';
import { QrcodeOutlined } from '@ant-design/icons';
import { api, isApiError, recordsPath, type AppDef, type EntityDef, type FieldDef, type HistoryEntry, type InstanceView, type Me, type RecordJson } from '../api.ts';
import { ErrorResult } from '../runtime/ErrorResult.tsx';
import { useI18n, type MessageKey } from '../i18n/index.tsx';
import { PageLoading } from '../PageLoading.tsx';
import { errorText } from '../session.ts';
import { FieldInput } from '../runtime/FieldInput.tsx';
import { useAppDef, useMeContext } from '../runtime/hooks.ts';
import { canDo, checkValue, defaultValue, evalCond, fieldRights, findEntity, initiatorStepRights, formatDateTime, label, lockedBy, recordLink } from '../runtime/model.ts';
import { fieldErrors, toValues } from '../runtime/payload.ts';
import { ApprovalTrail, StatusTag } from '../runtime/Trail.tsx';

const QrImage = lazy(() => import('../runtime/QrImage.tsx'));

export default function RecordPage() {
  const { app: appName = '', entity: entityName = '', id = 'new' } = useParams();
  const me = useMeContext();
  const { t, locale } = useI18n();
  const appQ = useAppDef(appName);
  const isNew = id === 'new';
  const rec = useQuery({
    queryKey: ['record', appName, entityName, id],
    queryFn: () => api.get<RecordJson>(`${recordsPath(appName, entityName)}/${id}`),
    enabled: !isNew,
  });
  if (appQ.isPending || (!isNew && rec.isPending)) return <PageLoading />;
  if (appQ.isError) return <ErrorResult title={t('app.notFound')} detail={errorText(appQ.error, t)} />;
  const app = appQ.data.definition;
  const entity = findEntity(app, entityName);
  if (!entity) return <ErrorResult title={t('notFound.title')} />;
  if (!isNew && rec.isError) return <ErrorResult title={errorText(rec.error, t)} />;
  const record = isNew ? undefined : rec.data;
  return (
    <div className="record-page">
      <Breadcrumb
        className="page-crumbs"
        items={[
          { title: <Link to={`/a/${app.name}`}>{label(app.label, locale)}</Link> },
          { title: <Link to={`/a/${app.name}/${entity.name}`}>{label(entity.label, locale)}</Link> },
          { title: record ? (record.name ?? record.id.slice(0, 8)) : t('app.new') },
        ]}
      />
      <RecordView key={record ? `${record.id}:${record.version}` : 'new'} app={app} entity={entity} me={me} record={record} />
    </div>
  );
}

function RecordView({ app, entity, me, record }: { app: AppDef; entity: EntityDef; me: Me; record: RecordJson | undefined }) {
  const { t, locale } = useI18n();
  const { message, modal } = AntApp.useApp();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const screens = Grid.useBreakpoint();
  const [search] = useSearchParams();
  const [form] = Form.useForm<Record<string, unknown>>();
  const [problem, setProblem] = useState<string | null>(null);
  const [qrOpen, setQrOpen] = useState(false);
  const draft = !record || record.status === 'draft';
  const rights = useMemo(() => (draft ? initiatorStepRights(app, entity.name, fieldRights(entity, me)) : fieldRights(entity, me)), [app, entity, me, draft]);
  const base = recordsPath(app.name, entity.name);

  const initial = useMemo(() => {
    if (record) return record.values;
    const v: Record<string, unknown> = {};
    for (const f of entity.fields) {
      const d = search.get(f.name) ?? defaultValue(f, me);
      if (d !== undefined && d !== null) v[f.name] = d;
    }
    return v;
  }, [record, entity, me, search]);
  useEffect(() => form.setFieldsValue(initial), [form, initial]);
  const values = (Form.useWatch([], form) as Record<string, unknown> | undefined) ?? initial;

  const approvals = useQuery({
    queryKey: ['instances', app.name, entity.name, record?.id],
    queryFn: () => api.get<{ items: InstanceView[] }>(`/workflow/instances?app=${app.name}&entity=${entity.name}&recordId=${record?.id ?? ''}`),
    enabled: Boolean(record && record.status === 'draft'),
  });
  const running = approvals.data?.items.find((i) => i.status === 'running');
  const canWrite = record ? record.status === 'draft' && !running && canDo(entity, me, 'write') : canDo(entity, me, 'create');
  const writable = (f: FieldDef) => canWrite && rights[f.name] !== 'read' && !lockedBy(f, record, entity);
  const visible = (f: FieldDef) => rights[f.name] !== 'hidden' && evalCond(f.visibleIf, values, me);
  const requiredNow = (f: FieldDef) => Boolean(f.required) || (f.requiredIf ? evalCond(f.requiredIf, values, me) : false);

  const refresh = async (r?: RecordJson) => {
    await queryClient.invalidateQueries({ queryKey: ['records', app.name, entity.name] });
    await queryClient.invalidateQueries({ queryKey: ['record', app.name, entity.name] });
    await queryClient.invalidateQueries({ queryKey: ['instances', app.name, entity.name] });
    await queryClient.invalidateQueries({ queryKey: ['inbox-counts'] });
    if (r) await queryClient.invalidateQueries({ queryKey: ['history', app.name, entity.name, r.id] });
  };

  const showError = (err: unknown) => {
    if (isApiError(err) && err.errors.length) {
      const byField = fieldErrors(err.errors, (n) => t('form.row', { n }));
      const known = entity.fields.filter((f) => byField.has(f.name));
      form.setFields(known.map((f) => ({ name: f.name, errors: byField.get(f.name)! })));
      if (known.length) {
        setProblem(t('form.fixErrors'));
        return;
      }
    }
    setProblem(errorText(err, t));
  };

  /** Client checks first: required, required-if, ranges and patterns. */
  const check = (): boolean => {
    const bad = entity.fields
      .filter((f) => visible(f) && writable(f) && f.type !== 'formula' && f.type !== 'auto_number')
      .map((f) => ({ f, msg: checkValue(f, values[f.name], requiredNow(f) && (f.default === undefined || record !== undefined), t) }))
      .filter((x) => x.msg);
    form.setFields(entity.fields.map((f) => ({ name: f.name, errors: bad.filter((b) => b.f === f).map((b) => b.msg!) })));
    if (bad.length) setProblem(t('form.fixErrors'));
    return bad.length === 0;
  };

  const payload = () => toValues(app, entity, values, (n) => {
    const f = entity.fields.find((x) => x.name === n);
    return Boolean(f && writable(f) && visible(f));
  });

  const save = useMutation({
    mutationFn: async (andSubmit: boolean) => {
      if (!record && andSubmit) {
        // a new document submitted at once: one request, one transaction — a refused submit leaves no draft
        const r = await api.post<RecordJson>(base, { values: payload(), submit: true });
        return { r, sentForApproval: Boolean(r.intercepted?.workflow), andSubmit };
      }
      let r = record
        ? await api.patch<RecordJson>(`${base}/${record.id}`, { values: payload(), version: record.version })
        : await api.post<RecordJson>(base, { values: payload() });
      let sentForApproval = false;
      if (andSubmit) {
        r = await api.post<RecordJson>(`${base}/${r.id}/submit`, { version: r.version });
        sentForApproval = Boolean(r.intercepted?.workflow);
      }
      return { r, sentForApproval, andSubmit };
    },
    onMutate: () => setProblem(null),
    onSuccess: async ({ r, sentForApproval, andSubmit }) => {
      void message.success(sentForApproval ? t('form.inApproval') : andSubmit ? t('form.submitted') : t('form.saved'));
      await refresh(r);
      if (!record) void navigate(recordLink(app.name, entity.name, r.id), { replace: true });
    },
    onError: showError,
  });

  const transition = useMutation({
    mutationFn: async (action: 'cancel' | 'amend' | 'delete') => {
      if (!record) throw new Error('no record');
      if (action === 'delete') {
        await api.delete(`${base}/${record.id}`);
        return { action, r: null };
      }
      return { action, r: await api.post<RecordJson>(`${base}/${record.id}/${action}`, { version: record.version }) };
    },
    onSuccess: async ({ action, r }) => {
      await refresh(r ?? undefined);
      if (action === 'delete') void navigate(`/a/${app.name}/${entity.name}`, { replace: true });
      else if (action === 'amend' && r) void navigate(recordLink(app.name, entity.name, r.id));
      else void message.success(t('task.done'));
    },
    onError: showError,
  });

  const onSave = (andSubmit: boolean) => {
    if (check()) save.mutate(andSubmit);
  };
  const busy = save.isPending || transition.isPending;
  const fields = entity.fields.filter(visible);
  const wide = screens.md ?? false;

  const actions = (
    <Space wrap className="record-actions">
      {canWrite ? (
        <Button onClick={() => onSave(false)} loading={save.isPending && !save.variables} disabled={busy} className="touch-button" data-testid="record-save">
          {t('form.save')}
        </Button>
      ) : null}
      {canWrite && entity.submittable && canDo(entity, me, 'submit') ? (
        <Button type="primary" onClick={() => onSave(true)} loading={save.isPending && save.variables === true} disabled={busy} className="touch-button" data-testid="record-submit">
          {t('form.submit')}
        </Button>
      ) : null}
      {record?.status === 'submitted' && canDo(entity, me, 'cancel') ? (
        <Button danger disabled={busy} className="touch-button" onClick={() => modal.confirm({ title: t('form.confirmCancel'), onOk: () => transition.mutateAsync('cancel') })}>
          {t('form.cancelDoc')}
        </Button>
      ) : null}
      {record?.status === 'cancelled' && canDo(entity, me, 'create') ? (
        <Button disabled={busy} className="touch-button" onClick={() => transition.mutate('amend')}>
          {t('form.amend')}
        </Button>
      ) : null}
      {record?.status === 'draft' && canDo(entity, me, 'delete') ? (
        <Button danger type="text" disabled={busy} className="touch-button" onClick={() => modal.confirm({ title: t('form.confirmDelete'), onOk: () => transition.mutateAsync('delete') })}>
          {t('form.delete')}
        </Button>
      ) : null}
    </Space>
  );

  const formCard = (
    <Form
      form={form}
      layout="vertical"
      initialValues={initial}
      requiredMark
      className={wide ? 'record-form record-form-wide' : 'record-form'}
      onFinish={() => onSave(false)}
      // a field's old complaint goes away as soon as it is changed
      onValuesChange={(changed: Record<string, unknown>) => {
        form.setFields(Object.keys(changed).map((name) => ({ name, errors: [] })));
        if (form.getFieldsError().every((f) => f.errors.length === 0)) setProblem(null);
      }}
    >
      {running ? (
        <Alert type="info" showIcon className="form-problem" title={t('form.inApprovalHint')} action={<Link to={`/approvals/${running.id}`}>{t('form.viewApproval')}</Link>} />
      ) : null}
      {problem ? <Alert type="error" showIcon title={problem} className="form-problem" role="alert" /> : null}
      <div className="record-grid">
        {fields.map((f) => (
          <Form.Item
            key={f.name}
            name={f.name}
            label={label(f.label, locale)}
            required={requiredNow(f) && writable(f)}
            extra={f.help ? label(f.help, locale) : undefined}
            className={['long_text', 'child_table', 'attachment', 'image', 'signature', 'multi_select'].includes(f.type) ? 'field-full' : undefined}
            valuePropName="value"
          >
            <FieldInput field={f} app={app} me={me} disabled={!writable(f)} />
          </Form.Item>
        ))}
      </div>
    </Form>
  );

  const title = record ? (record.name ?? (entity.titleField ? String(record.values[entity.titleField] ?? '') : '') ?? record.id.slice(0, 8)) : t('form.newTitle', { entity: label(entity.label, locale) });
  return (
    <>
      <Card
        variant="borderless"
        className="record-card"
        title={
          <Space wrap>
            <Typography.Title level={4} className="record-title" data-testid="record-title">
              {title || record?.id.slice(0, 8)}
            </Typography.Title>
            {record ? <StatusTag status={record.status} /> : null}
          </Space>
        }
        extra={record ? <Button type="text" icon={<QrcodeOutlined />} aria-label={t('form.qr')} onClick={() => setQrOpen(true)} /> : null}
      >
        {record ? (
          <Tabs
            items={[
              { key: 'form', label: t('form.details'), children: formCard },
              { key: 'trail', label: t('form.trail'), children: <RecordTrail app={app.name} entity={entity.name} recordId={record.id} /> },
              { key: 'history', label: t('form.history'), children: <History app={app} entity={entity} recordId={record.id} /> },
            ]}
          />
        ) : (
          formCard
        )}
      </Card>
      <div className="sticky-actions">{actions}</div>
      {record ? (
        <Modal open={qrOpen} onCancel={() => setQrOpen(false)} footer={null} title={t('form.qr')} width={300}>
          <Suspense fallback={null}>
            <div className="qr-center">
              <QrImage text={`${window.location.origin}${recordLink(app.name, entity.name, record.id)}`} size={220} alt={`${t('form.qr')}: ${title}`} />
            </div>
          </Suspense>
        </Modal>
      ) : null}
    </>
  );
}

function RecordTrail({ app, entity, recordId }: { app: string; entity: string; recordId: string }) {
  const { t } = useI18n();
  const q = useQuery({
    queryKey: ['instances', app, entity, recordId],
    queryFn: () => api.get<{ items: InstanceView[] }>(`/workflow/instances?app=${app}&entity=${entity}&recordId=${recordId}`),
  });
  if (q.isPending) return <PageLoading />;
  if (q.isError) return <Alert type="warning" title={errorText(q.error, t)} />;
  if (!q.data.items.length) return <Empty description={t('inbox.empty')} />;
  return (
    <Space orientation="vertical" style={{ width: '100%' }}>
      {q.data.items.map((i) => (
        <ApprovalTrail key={i.id} instanceId={i.id} />
      ))}
    </Space>
  );
}

const HISTORY_KEYS: Record<string, MessageKey> = {
  create: 'history.create',
  update: 'history.update',
  submit: 'history.submit',
  cancel: 'history.cancel',
  amend: 'history.amend',
  delete: 'history.delete',
};

function History({ app, entity, recordId }: { app: AppDef; entity: EntityDef; recordId: string }) {
  const { t, locale } = useI18n();
  const q = useQuery({
    queryKey: ['history', app.name, entity.name, recordId],
    queryFn: () => api.get<HistoryEntry[] | { items: HistoryEntry[] }>(`${recordsPath(app.name, entity.name)}/${recordId}/history`),
  });
  if (q.isPending) return <PageLoading />;
  if (q.isError) return <Alert type="warning" title={errorText(q.error, t)} />;
  const items = Array.isArray(q.data) ? q.data : q.data.items;
  if (!items.length) return <Empty description={t('form.noHistory')} />;
  const fieldLabel = (n: string) => {
    const f = entity.fields.find((x) => x.name === n);
    return f ? label(f.label, locale) : n;
  };
  const show = (v: unknown) => (v === null || v === undefined ? '—' : typeof v === 'object' ? JSON.stringify(v).slice(0, 80) : String(v));
  return (
    <Timeline
      className="history"
      items={items.map((h) => ({
        key: h.id,
        content: (
          <div>
            <Typography.Text strong>{HISTORY_KEYS[h.action] ? t(HISTORY_KEYS[h.action]!) : h.action}</Typography.Text>{' '}
            <Typography.Text type="secondary">
              {h.changed_by_name ?? ''} · {formatDateTime(h.changed_at, locale)}
            </Typography.Text>
            {h.changes.length ? (
              <ul className="history-changes">
                {h.changes.slice(0, 12).map((c) => (
                  <li key={c.field}>
                    <Tag>{fieldLabel(c.field)}</Tag> {show(c.before)} → {show(c.after)}
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ),
      }))}
    />
  );
}
