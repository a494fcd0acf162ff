// Connectors: the list, a drawer to create or change one with a form generated from the JSON
// Schema its driver publishes (schemaForm.ts; secrets as password inputs, never pre-filled: the
// API never returns them), and a connection test per row whose result stays visible beside it.
import { useState, type ReactNode } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Checkbox, Drawer, Form, Grid, Input, InputNumber, Select, Space, Switch, Table, Tag, Typography, type FormItemProps, type FormRule } from 'antd';
import { DrawerFormActions } from '../components/DrawerFormActions.tsx';
import { ApiOutlined, DeleteOutlined, EditOutlined, PlusOutlined } from '@ant-design/icons';
import { isApiError } from '../api.ts';
import { integrationApi, type ConnectionTestResult, type Connector, type DriverInfo } from './api.ts';
import { buildConfig, buildSecrets, FieldInputError, fieldAt, fieldsOf, initialValues, visible, type FormField } from './schemaForm.ts';
import { PageHead, QueryProblem, useConfirmedDelete, useProblem, when } from './common.tsx';
import { useIntegrationI18n } from './i18n.ts';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export function useDrawerSize(wide = 640): number | string {
  const bp = Grid.useBreakpoint();
  return bp.md ? wide : '100%';
}

interface FormShape {
  kind: string;
  name: string;
  description?: string;
  enabled: boolean;
  config: Record<string, unknown>;
  secrets: Record<string, unknown>;
  removeSecrets?: boolean;
  advanced?: string;
}

function SchemaField({ field, secret, secretRequired }: { field: FormField; secret: boolean; secretRequired?: boolean }) {
  const { it, locale } = useIntegrationI18n();
  const pick = (l: { zh: string; en: string }) => (locale === 'en' ? l.en : l.zh);
  const name = [secret ? 'secrets' : 'config', field.key];
  const label = pick(field.label);
  const extra = field.help ? pick(field.help) : undefined;
  const testId = `${secret ? 'secret' : 'cfg'}-${field.key}`;
  // Early hints from the JSON Schema; the server's zod check decides. Stored secrets are kept when
  // left empty, so a secret is marked required only while none is stored.
  const rules: FormRule[] = [];
  if (field.required && (!secret || secretRequired)) rules.push({ required: true, message: it('common.required') });
  if (field.maxLength !== undefined) rules.push({ max: field.maxLength, message: it('conn.tooLong', { n: field.maxLength }) });
  const item = (control: ReactNode, more: Partial<FormItemProps> = {}) => (
    <Form.Item name={name} label={label} extra={extra} rules={rules} {...more}>
      {control}
    </Form.Item>
  );
  const textArea = (rows: number, mono: boolean) => (
    <Input.TextArea rows={rows} autoComplete="off" spellCheck={false} className={mono ? 'int-mono' : undefined} placeholder={field.placeholder} data-testid={testId} />
  );
  switch (field.kind) {
    case 'number':
      return item(<InputNumber style={{ width: '100%' }} min={field.min} max={field.max} precision={field.integer ? 0 : undefined} placeholder={field.placeholder} data-testid={testId} />);
    case 'bool':
      return item(<Switch data-testid={testId} />, { valuePropName: 'checked' });
    case 'select':
      return item(<Select allowClear={!field.required && field.default === undefined} options={field.options?.map((o) => ({ value: o, label: o }))} data-testid={testId} />);
    case 'tags':
      return item(<Select mode="tags" tokenSeparators={[',', ' ']} placeholder={field.placeholder} open={false} suffixIcon={null} data-testid={testId} />);
    case 'keyvalue':
    case 'json':
      return item(textArea(3, true));
    default:
      if (field.widget === 'multiline') return item(textArea(3, true));
      if (field.widget === 'code') return item(textArea(2, true));
      if (secret) return item(<Input.Password autoComplete="new-password" data-testid={testId} />);
      return item(<Input placeholder={field.placeholder} autoComplete="off" spellCheck={false} data-testid={testId} />);
  }
}

/** The fields in order, each nested section (OAuth2, lookup) introduced by its label. */
function withSections(fields: FormField[], render: (f: FormField) => ReactNode): ReactNode[] {
  const out: ReactNode[] = [];
  let current: string | undefined;
  for (const f of fields) {
    const section = f.key.includes('.') ? f.key.slice(0, f.key.lastIndexOf('.')) : undefined;
    if (section && section !== current && f.section) out.push(<SectionTitle key={`section:${section}`} label={f.section} />);
    current = section;
    out.push(render(f));
  }
  return out;
}

function SectionTitle({ label }: { label: { zh: string; en: string } }) {
  const { locale } = useIntegrationI18n();
  return <Typography.Text strong className="int-form-section">{locale === 'en' ? label.en : label.zh}</Typography.Text>;
}

function ConnectorDrawer({ open, editing, drivers, onClose }: { open: boolean; editing: Connector | null; drivers: DriverInfo[]; onClose: () => void }) {
  const { it } = useIntegrationI18n();
  const size = useDrawerSize();
  return (
    <Drawer
      open={open}
      onClose={onClose}
      size={size}
      destroyOnHidden
      title={editing ? it('conn.edit', { name: editing.name }) : it('conn.create')}
      closable={{ 'aria-label': it('common.close') }}
      data-testid="connector-drawer"
    >
      {/* Mounted per opening: the form starts from this connector, and typing is never reset. */}
      <ConnectorForm key={editing?.id ?? 'new'} editing={editing} drivers={drivers} onClose={onClose} />
    </Drawer>
  );
}

function ConnectorForm({ editing, drivers, onClose }: { editing: Connector | null; drivers: DriverInfo[]; onClose: () => void }) {
  const { it, both } = useIntegrationI18n();
  const { message } = App.useApp();
  const problem = useProblem();
  const qc = useQueryClient();
  const [form] = Form.useForm<FormShape>();
  const fieldsFor = (k: string) => {
    const d = drivers.find((x) => x.kind === k);
    return { driver: d, config: fieldsOf(d?.configSchema), secrets: fieldsOf(d?.secretSchema) };
  };
  const [initial] = useState((): FormShape => {
    if (!editing) {
      const kind = drivers.some((d) => d.kind === 'http') ? 'http' : (drivers[0]?.kind ?? '');
      return { kind, name: '', enabled: true, config: initialValues(fieldsFor(kind).config, undefined).values, secrets: {} };
    }
    const { values, advanced } = initialValues(fieldsFor(editing.kind).config, editing.config);
    return { kind: editing.kind, name: editing.name, description: editing.description ?? '', enabled: editing.enabled, config: values, secrets: {}, advanced };
  });
  const kind = Form.useWatch('kind', form) ?? initial.kind;
  const configValues = (Form.useWatch('config', form) ?? initial.config) as Record<string, unknown>;
  const removeSecrets = Form.useWatch('removeSecrets', form) ?? false;
  const spec = fieldsFor(kind);
  const [failure, setFailure] = useState<string | null>(null);

  /** A new connector's kind changed: start from that driver's defaults. */
  const kindChanged = (k: string) => {
    form.setFieldValue('config', initialValues(fieldsFor(k).config, undefined).values);
    form.setFieldValue('secrets', {});
    form.setFieldValue('advanced', '');
  };

  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) => (editing ? integrationApi.updateConnector(editing.id, body) : integrationApi.createConnector(body)),
    onSuccess: (c) => {
      void message.success(`${it('common.saved')}: ${c.name}`);
      void qc.invalidateQueries({ queryKey: ['integration'] });
      onClose();
    },
    onError: (err) => {
      setFailure(problem(err));
      if (isApiError(err)) {
        const fields = err.errors.flatMap((e) => {
          const m = /^body\.(config|secrets)\.(.+)$/.exec(e.path);
          const f = m ? fieldAt(m[1] === 'secrets' ? spec.secrets : spec.config, m[2]!) : undefined;
          return m && f ? [{ name: [m[1]!, f.key], errors: [e.message] }] : [];
        });
        form.setFields(fields);
        // On a phone the field can be screens above the save button: bring it into view.
        if (fields[0]) form.scrollToField(fields[0].name, { block: 'center' });
      }
    },
  });

  const submit = (v: FormShape) => {
    setFailure(null);
    let config: Record<string, unknown>;
    let secrets: Record<string, unknown> | undefined;
    try {
      config = buildConfig(spec.config, v.config ?? {}, v.advanced ?? '');
      secrets = buildSecrets(spec.secrets, v.secrets ?? {}, v.config ?? {});
    } catch (e) {
      if (e instanceof FieldInputError) {
        const secret = spec.secrets.some((f) => f.key === e.key) && !spec.config.some((f) => f.key === e.key);
        form.setFields([{ name: [secret ? 'secrets' : 'config', e.key], errors: [e.message] }]);
        form.scrollToField([secret ? 'secrets' : 'config', e.key], { block: 'center' });
        setFailure(it('conn.badValue', { msg: e.message }));
      } else setFailure(it('common.invalidJson', { msg: (e as Error).message }));
      return;
    }
    const body: Record<string, unknown> = { name: v.name.trim(), description: v.description?.trim() || null, enabled: v.enabled, config };
    if (!editing) body.kind = v.kind;
    if (v.removeSecrets) body.secrets = null;
    else if (secrets) body.secrets = secrets;
    save.mutate(body);
  };

  return (
    <Form form={form} layout="vertical" onFinish={submit} initialValues={initial} requiredMark="optional" scrollToFirstError={{ block: 'center' }}>
        <Form.Item name="kind" label={it('conn.kind')} rules={[{ required: true, message: it('common.required') }]}>
          <Select disabled={!!editing} onChange={kindChanged} data-testid="connector-kind" options={drivers.map((d) => ({ value: d.kind, label: both(d.label, d.kind) }))} />
        </Form.Item>
        <Form.Item
          name="name"
          label={it('common.name')}
          extra={it('conn.nameHelp')}
          rules={[{ required: true, message: it('common.required') }, { pattern: NAME_RE, message: it('conn.nameInvalid') }]}
        >
          <Input autoComplete="off" data-testid="connector-name" />
        </Form.Item>
        <Form.Item name="description" label={it('common.description')}>
          <Input autoComplete="off" />
        </Form.Item>
        <Form.Item name="enabled" label={it('common.enabled')} valuePropName="checked">
          <Switch />
        </Form.Item>
        <Typography.Title level={5}>{it('conn.config')}</Typography.Title>
        {spec.config.length === 0 && spec.driver ? <Typography.Paragraph type="secondary">{it('conn.noFields')}</Typography.Paragraph> : null}
        {withSections(spec.config.filter((f) => visible(f, configValues)), (f) => (
          <SchemaField key={`${kind}:${f.key}`} field={f} secret={false} />
        ))}
        <Form.Item name="advanced" label={it('conn.advanced')} extra={it('conn.advancedHelp')}>
          <Input.TextArea rows={3} spellCheck={false} className="int-mono" data-testid="connector-advanced" />
        </Form.Item>
        {spec.driver?.secrets && spec.secrets.length ? (
          <>
            <Typography.Title level={5}>{it('conn.secrets')}</Typography.Title>
            <Typography.Paragraph type="secondary">{editing?.hasSecrets ? it('conn.secretsKept') : it('conn.secretsNone')}</Typography.Paragraph>
            {!removeSecrets
              ? withSections(spec.secrets.filter((f) => visible(f, configValues)), (f) => <SchemaField key={`${kind}:${f.key}`} field={f} secret secretRequired={!editing?.hasSecrets} />)
              : null}
            {editing?.hasSecrets ? (
              <Form.Item name="removeSecrets" valuePropName="checked">
                <Checkbox>{it('conn.removeSecrets')}</Checkbox>
              </Form.Item>
            ) : null}
          </>
        ) : null}
        <DrawerFormActions error={failure} testId="connector" cancelLabel={it('common.cancel')} onCancel={onClose}>
          <Button type="primary" htmlType="submit" loading={save.isPending} data-testid="connector-save">
            {it('common.save')}
          </Button>
        </DrawerFormActions>
    </Form>
  );
}

export default function ConnectorsPage() {
  const { it, both } = useIntegrationI18n();
  const problem = useProblem();
  const drivers = useQuery({ queryKey: ['integration', 'drivers'], queryFn: integrationApi.drivers, staleTime: 300_000 });
  const list = useQuery({ queryKey: ['integration', 'connectors'], queryFn: integrationApi.connectors });
  const [drawer, setDrawer] = useState<{ open: boolean; editing: Connector | null }>({ open: false, editing: null });
  const [tests, setTests] = useState<Record<string, ConnectionTestResult | { error: string } | 'running'>>({});

  const test = async (c: Connector) => {
    setTests((t) => ({ ...t, [c.id]: 'running' }));
    try {
      const r = await integrationApi.testConnector(c.id);
      setTests((t) => ({ ...t, [c.id]: r }));
    } catch (err) {
      setTests((t) => ({ ...t, [c.id]: { error: problem(err) } }));
    }
  };
  const confirmDelete = useConfirmedDelete((c: Connector) => integrationApi.deleteConnector(c.id), {
    title: (c) => it('conn.deleteConfirm', { name: c.name }),
    done: it('conn.deleted'),
  });
  const driverOf = (kind: string) => drivers.data?.find((d) => d.kind === kind);
  // Below md (a phone) the list keeps two columns, name and actions, the rest shown under the
  // name, so a row fits the screen and its buttons are never off to the side.
  const wide = Grid.useBreakpoint().md !== false;
  const roleTags = (c: Connector) => [
    driverOf(c.kind)?.destination ? <Tag key="destination">{it('conn.destination')}</Tag> : null,
    driverOf(c.kind)?.source ? <Tag key="source">{it('conn.source')}</Tag> : null,
    c.hasSecrets ? <Tag key="secrets" color="gold">{it('conn.hasSecrets')}</Tag> : null,
  ];
  const enabledTag = (e: boolean) => (e ? <Tag key="enabled" color="green">{it('common.enabled')}</Tag> : <Tag key="enabled">{it('common.disabled')}</Tag>);

  return (
    <div data-testid="integration-connectors">
      <PageHead
        title={it('tab.connectors')}
        extra={
          <Button type="primary" icon={<PlusOutlined />} onClick={() => setDrawer({ open: true, editing: null })} data-testid="connector-create" disabled={!drivers.data}>
            {it('conn.create')}
          </Button>
        }
      />
      {list.isError ? <QueryProblem error={list.error} /> : null}
      <Card size={wide ? 'default' : 'small'}>
        <Table<Connector>
          rowKey="id"
          size={wide ? 'middle' : 'small'}
          loading={list.isPending}
          dataSource={list.data ?? []}
          pagination={false}
          scroll={wide ? { x: 'max-content' } : undefined}
          locale={{ emptyText: it('conn.empty') }}
          expandable={{
            expandedRowKeys: Object.keys(tests),
            showExpandColumn: false,
            expandedRowRender: (c) => {
              const r = tests[c.id];
              if (!r) return null;
              if (r === 'running') return <Typography.Text type="secondary">{it('flow.previewRunning')}</Typography.Text>;
              if ('error' in r) return <Alert type="error" showIcon title={r.error} data-testid={`test-result-${c.name}`} />;
              return (
                <Alert
                  type={r.ok ? 'success' : 'error'}
                  showIcon
                  data-testid={`test-result-${c.name}`}
                  title={it(r.ok ? 'conn.testOk' : 'conn.testFail', { ms: r.latencyMs, msg: r.message })}
                />
              );
            },
          }}
          columns={[
            {
              title: it('common.name'),
              dataIndex: 'name',
              render: (n: string, c) => (
                <span className={wide ? undefined : 'int-wrap'}>
                  <strong>{n}</strong>
                  {c.description ? <div className="int-muted">{c.description}</div> : null}
                  {wide ? null : (
                    <div className="int-conn-more">
                      <div className="int-muted">{both(driverOf(c.kind)?.label, c.kind)}</div>
                      <Space size={4} wrap>
                        {[...roleTags(c), enabledTag(c.enabled)]}
                      </Space>
                    </div>
                  )}
                </span>
              ),
            },
            { title: it('conn.kind'), dataIndex: 'kind', responsive: ['md'], render: (k: string) => both(driverOf(k)?.label, k) },
            { title: it('conn.role'), key: 'role', responsive: ['md'], render: (_: unknown, c) => <Space size={4} wrap>{roleTags(c)}</Space> },
            { title: it('common.enabled'), dataIndex: 'enabled', responsive: ['md'], render: enabledTag },
            { title: it('conn.updated'), dataIndex: 'updatedAt', responsive: ['md'], render: when },
            {
              title: it('common.actions'),
              key: 'actions',
              render: (_: unknown, c) => (
                <Space size={4} wrap>
                  <Button size="small" icon={<ApiOutlined />} loading={tests[c.id] === 'running'} onClick={() => void test(c)} data-testid={`test-${c.name}`}>
                    {it('conn.test')}
                  </Button>
                  <Button size="small" icon={<EditOutlined />} onClick={() => setDrawer({ open: true, editing: c })} data-testid={`edit-${c.name}`}>
                    {it('common.edit')}
                  </Button>
                  <Button size="small" danger icon={<DeleteOutlined />} onClick={() => confirmDelete(c)} aria-label={`${it('common.delete')} ${c.name}`} />
                </Space>
              ),
            },
          ]}
        />
      </Card>
      <ConnectorDrawer open={drawer.open} editing={drawer.editing} drivers={drivers.data ?? []} onClose={() => setDrawer((d) => ({ ...d, open: false }))} />
    </div>
  );
}
