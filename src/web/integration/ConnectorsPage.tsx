// Connectors: the list, a drawer to create or change one with a form generated from its driver
// kind (secrets as password inputs, never pre-filled: the API never returns them), and a
// connection test per row whose result stays visible beside it.
import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Checkbox, Drawer, Form, Grid, Input, InputNumber, Select, Space, Switch, Table, Tag, Typography } from 'antd';
import { ApiOutlined, DeleteOutlined, EditOutlined, PlusOutlined } from '@ant-design/icons';
import { isApiError } from '../api.ts';
import { integrationApi, type ConnectionTestResult, type Connector, type DriverInfo } from './api.ts';
import { buildConfig, buildSecrets, DRIVER_FORMS, formOf, splitConfig, visible, type FieldSpec } from './driverForms.ts';
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
  secrets: Record<string, string>;
  removeSecrets?: boolean;
  advanced?: string;
}

function ConfigField({ spec, secret, labelOf }: { spec: FieldSpec; secret: boolean; labelOf: (l: readonly [string, string]) => string }) {
  const { it } = useIntegrationI18n();
  const name = [secret ? 'secrets' : 'config', spec.key];
  const label = labelOf(spec.label);
  const extra = spec.help ? labelOf(spec.help) : undefined;
  const testId = `${secret ? 'secret' : 'cfg'}-${spec.key}`;
  const rules = spec.required && !secret ? [{ required: true, message: it('common.required') }] : [];
  if (secret) {
    return (
      <Form.Item name={name} label={label} extra={extra}>
        {spec.multiline ? (
          <Input.TextArea rows={3} autoComplete="off" spellCheck={false} data-testid={testId} className="int-mono" />
        ) : (
          <Input.Password autoComplete="new-password" data-testid={testId} />
        )}
      </Form.Item>
    );
  }
  switch (spec.kind) {
    case 'number':
      return (
        <Form.Item name={name} label={label} extra={extra} rules={rules}>
          <InputNumber style={{ width: '100%' }} placeholder={spec.placeholder} data-testid={testId} />
        </Form.Item>
      );
    case 'bool':
      return (
        <Form.Item name={name} label={label} extra={extra} valuePropName="checked">
          <Switch data-testid={testId} />
        </Form.Item>
      );
    case 'select':
      return (
        <Form.Item name={name} label={label} extra={extra} rules={rules}>
          <Select allowClear={!spec.required} options={spec.options?.map((o) => ({ value: o, label: o }))} data-testid={testId} />
        </Form.Item>
      );
    case 'tags':
      return (
        <Form.Item name={name} label={label} extra={extra} rules={rules}>
          <Select mode="tags" tokenSeparators={[',', ' ']} placeholder={spec.placeholder} open={false} suffixIcon={null} data-testid={testId} />
        </Form.Item>
      );
    case 'headers':
    case 'json':
    case 'jsonata':
      return (
        <Form.Item name={name} label={label} extra={extra} rules={rules}>
          <Input.TextArea rows={spec.kind === 'jsonata' ? 2 : 3} spellCheck={false} className="int-mono" placeholder={spec.placeholder} data-testid={testId} />
        </Form.Item>
      );
    default:
      return (
        <Form.Item name={name} label={label} extra={extra} rules={rules}>
          <Input placeholder={spec.placeholder} autoComplete="off" spellCheck={false} data-testid={testId} />
        </Form.Item>
      );
  }
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
  const { it, locale, both } = useIntegrationI18n();
  const { message } = App.useApp();
  const problem = useProblem();
  const qc = useQueryClient();
  const [form] = Form.useForm<FormShape>();
  const [initial] = useState((): FormShape => {
    if (!editing) return { kind: 'http', name: '', enabled: true, config: { method: 'POST', auth: 'none' }, secrets: {} };
    const { values, advanced } = splitConfig(editing.kind, editing.config);
    return { kind: editing.kind, name: editing.name, description: editing.description ?? '', enabled: editing.enabled, config: values, secrets: {}, advanced };
  });
  const kind = Form.useWatch('kind', form) ?? initial.kind;
  const configValues = (Form.useWatch('config', form) ?? initial.config) as Record<string, unknown>;
  const removeSecrets = Form.useWatch('removeSecrets', form) ?? false;
  const driver = drivers.find((d) => d.kind === kind);
  const spec = formOf(kind);
  const labelOf = (l: readonly [string, string]) => (locale === 'en' ? l[1] : l[0]);
  const [failure, setFailure] = useState<string | null>(null);


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
        form.setFields(
          err.errors.flatMap((e) => {
            const m = /^body\.(config|secrets)\.(.+)$/.exec(e.path);
            const key = m ? formOf(kind)[m[1] === 'secrets' ? 'secrets' : 'config'].find((s) => m[2] === s.key || m[2]!.startsWith(`${s.key}.`))?.key : undefined;
            return m && key ? [{ name: [m[1]!, key], errors: [e.message] }] : [];
          }),
        );
      }
    },
  });

  const submit = (v: FormShape) => {
    setFailure(null);
    let config: Record<string, unknown>;
    try {
      config = buildConfig(v.kind, v.config ?? {}, v.advanced ?? '');
    } catch (e) {
      setFailure(it('common.invalidJson', { msg: (e as Error).message }));
      return;
    }
    const secrets = buildSecrets(v.kind, v.secrets ?? {}, v.config ?? {});
    const body: Record<string, unknown> = { name: v.name.trim(), description: v.description?.trim() || null, enabled: v.enabled, config };
    if (!editing) body.kind = v.kind;
    if (v.removeSecrets) body.secrets = null;
    else if (secrets) body.secrets = secrets;
    save.mutate(body);
  };

  return (
    <Form form={form} layout="vertical" onFinish={submit} initialValues={initial} requiredMark="optional">
        <Form.Item name="kind" label={it('conn.kind')} rules={[{ required: true, message: it('common.required') }]}>
          <Select disabled={!!editing} data-testid="connector-kind" options={drivers.map((d) => ({ value: d.kind, label: both(d.label, d.kind) }))} />
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
        {spec.config.length === 0 && kind in DRIVER_FORMS ? <Typography.Paragraph type="secondary">{it('conn.noFields')}</Typography.Paragraph> : null}
        {spec.config.filter((s) => visible(s, configValues)).map((s) => (
          <ConfigField key={s.key} spec={s} secret={false} labelOf={labelOf} />
        ))}
        <Form.Item name="advanced" label={it('conn.advanced')} extra={it('conn.advancedHelp')}>
          <Input.TextArea rows={3} spellCheck={false} className="int-mono" data-testid="connector-advanced" />
        </Form.Item>
        {driver?.secrets && spec.secrets.length ? (
          <>
            <Typography.Title level={5}>{it('conn.secrets')}</Typography.Title>
            <Typography.Paragraph type="secondary">{editing?.hasSecrets ? it('conn.secretsKept') : it('conn.secretsNone')}</Typography.Paragraph>
            {!removeSecrets
              ? spec.secrets.filter((s) => visible(s, configValues)).map((s) => <ConfigField key={s.key} spec={s} secret labelOf={labelOf} />)
              : null}
            {editing?.hasSecrets ? (
              <Form.Item name="removeSecrets" valuePropName="checked">
                <Checkbox>{it('conn.removeSecrets')}</Checkbox>
              </Form.Item>
            ) : null}
          </>
        ) : null}
        {failure ? <Alert type="error" showIcon title={failure} data-testid="connector-error" /> : null}
        <div className="int-drawer-actions">
          <Button onClick={onClose}>{it('common.cancel')}</Button>
          <Button type="primary" htmlType="submit" loading={save.isPending} data-testid="connector-save">
            {it('common.save')}
          </Button>
        </div>
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
      <Card>
        <Table<Connector>
          rowKey="id"
          size="middle"
          loading={list.isPending}
          dataSource={list.data ?? []}
          pagination={false}
          scroll={{ x: 'max-content' }}
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
            { title: it('common.name'), dataIndex: 'name', render: (n: string, c) => (<span><strong>{n}</strong>{c.description ? <div className="int-muted">{c.description}</div> : null}</span>) },
            { title: it('conn.kind'), dataIndex: 'kind', render: (k: string) => both(driverOf(k)?.label, k) },
            {
              title: it('conn.role'),
              key: 'role',
              render: (_: unknown, c) => (
                <Space size={4} wrap>
                  {driverOf(c.kind)?.destination ? <Tag>{it('conn.destination')}</Tag> : null}
                  {driverOf(c.kind)?.source ? <Tag>{it('conn.source')}</Tag> : null}
                  {c.hasSecrets ? <Tag color="gold">{it('conn.hasSecrets')}</Tag> : null}
                </Space>
              ),
            },
            { title: it('common.enabled'), dataIndex: 'enabled', render: (e: boolean) => (e ? <Tag color="green">{it('common.enabled')}</Tag> : <Tag>{it('common.disabled')}</Tag>) },
            { title: it('conn.updated'), dataIndex: 'updatedAt', render: when },
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
