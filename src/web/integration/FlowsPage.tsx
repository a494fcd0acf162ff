// Flows: which events go to which connector, mapped how, at what pace. The drawer evaluates the
// JSONata mapping live against a sample event with the same library the server uses (loaded on
// demand), and for a saved flow can ask the server to apply its stored mapping (no delivery made).
import { useEffect, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Col, Drawer, Form, Input, InputNumber, Row, Select, Space, Switch, Table, Tag, Typography } from 'antd';
import { DrawerFormActions } from '../components/DrawerFormActions.tsx';
import { CloudServerOutlined, DeleteOutlined, EditOutlined, PlusOutlined, SendOutlined } from '@ant-design/icons';
import { integrationApi, type Flow, type FlowInput } from './api.ts';
import { useDrawerSize } from './ConnectorsPage.tsx';
import { JsonBlock, PageHead, QueryProblem, useConfirmedDelete, useProblem } from './common.tsx';
import { useIntegrationI18n } from './i18n.ts';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

export const SAMPLE_EVENT = {
  specversion: '1.0',
  id: '0b0e5a4e-3f6c-4a0e-9d55-2b8c1f6a7e10',
  source: '/trellis/apps/purchase/order',
  type: 'trellis.record.submitted',
  subject: 'PO-2026-0001',
  time: '2026-03-02T08:30:00.000Z',
  datacontenttype: 'application/json',
  data: {
    app: 'purchase',
    entity: 'order',
    action: 'submit',
    id: 'PO-2026-0001',
    name: 'PO-2026-0001',
    status: 'submitted',
    version: 2,
    record: { supplier: 'S-001', material: 'M-1001', quantity: '12.50', amount: '56800.00', delivery_date: '2026-03-20' },
  },
};

interface FlowForm {
  name: string;
  description?: string;
  connector: string;
  eventTypes: string[];
  condApp?: string;
  condEntity?: string;
  condSource?: string;
  mapping?: string;
  enabled: boolean;
  ratePerSecond?: number | null;
  burst?: number;
  maxConcurrency?: number;
  batchSize?: number;
  windowStart?: string;
  windowEnd?: string;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  alertBacklog?: number | null;
  alertOldest?: number | null;
  alertFailure?: number | null;
}

type Preview = { state: 'idle' } | { state: 'running' } | { state: 'ok'; value: unknown } | { state: 'error'; message: string };

/** Evaluates a mapping against an event in the browser, with the server's JSONata library. */
async function evaluate(mapping: string, eventText: string): Promise<unknown> {
  const event: unknown = JSON.parse(eventText);
  if (!mapping.trim()) return event;
  const { default: jsonata } = await import('jsonata');
  const out: unknown = await jsonata(mapping).evaluate(event);
  if (out === undefined) throw new Error('the mapping produced no value for this event');
  return JSON.parse(JSON.stringify(out)) as unknown;
}

function errMessage(e: unknown): string {
  const x = e as { message?: string; position?: number };
  return `${x.message ?? String(e)}${typeof x.position === 'number' ? ` (@${x.position})` : ''}`;
}

function FlowDrawer({ open, editing, connectors, onClose }: { open: boolean; editing: Flow | null; connectors: Array<{ id: string; name: string }>; onClose: () => void }) {
  const { it } = useIntegrationI18n();
  const size = useDrawerSize(760);
  return (
    <Drawer
      open={open}
      onClose={onClose}
      size={size}
      destroyOnHidden
      title={editing ? it('flow.edit', { name: editing.name }) : it('flow.create')}
      closable={{ 'aria-label': it('common.close') }}
      data-testid="flow-drawer"
    >
      <FlowEditor key={editing?.id ?? 'new'} editing={editing} connectors={connectors} onClose={onClose} />
    </Drawer>
  );
}

function FlowEditor({ editing, connectors, onClose }: { editing: Flow | null; connectors: Array<{ id: string; name: string }>; onClose: () => void }) {
  const { it } = useIntegrationI18n();
  const { message } = App.useApp();
  const problem = useProblem();
  const qc = useQueryClient();
  const [form] = Form.useForm<FlowForm>();
  const [sample, setSample] = useState(JSON.stringify(SAMPLE_EVENT, null, 2));
  const [preview, setPreview] = useState<Preview>({ state: 'idle' });
  const [serverPreview, setServerPreview] = useState<Preview>({ state: 'idle' });
  const [failure, setFailure] = useState<string | null>(null);
  const mapping = Form.useWatch('mapping', form) ?? '';

  useEffect(() => {
    let cancelled = false;
    setPreview({ state: 'running' });
    const timer = setTimeout(() => {
      evaluate(mapping, sample).then(
        (value) => !cancelled && setPreview({ state: 'ok', value }),
        (e: unknown) => !cancelled && setPreview({ state: 'error', message: errMessage(e) }),
      );
    }, 300);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [mapping, sample]);

  const [initial] = useState((): FlowForm => {
    if (!editing) return { name: '', connector: connectors[0]?.name ?? '', eventTypes: ['trellis.record.submitted'], enabled: true, burst: 10, maxConcurrency: 4, batchSize: 1, maxAttempts: 10, backoffBaseMs: 1000, backoffCapMs: 300_000 };
    return {
      name: editing.name,
      description: editing.description ?? '',
      connector: connectors.find((c) => c.id === editing.connectorId)?.name ?? editing.connectorId,
      eventTypes: editing.eventTypes,
      condApp: editing.condition.app,
      condEntity: editing.condition.entity,
      condSource: editing.condition.source,
      mapping: editing.mapping ?? '',
      enabled: editing.enabled,
      ratePerSecond: editing.ratePerSecond,
      burst: editing.burst,
      maxConcurrency: editing.maxConcurrency,
      batchSize: editing.batchSize,
      windowStart: editing.window?.start,
      windowEnd: editing.window?.end,
      maxAttempts: editing.maxAttempts,
      backoffBaseMs: editing.backoffBaseMs,
      backoffCapMs: editing.backoffCapMs,
      alertBacklog: editing.alerts.backlog ?? null,
      alertOldest: editing.alerts.oldestPendingSeconds ?? null,
      alertFailure: editing.alerts.failureRatePct ?? null,
    };
  });

  const save = useMutation({
    mutationFn: (body: Partial<FlowInput>) => (editing ? integrationApi.updateFlow(editing.id, body) : integrationApi.createFlow(body)),
    onSuccess: (f) => {
      void message.success(`${it('common.saved')}: ${f.name}`);
      void qc.invalidateQueries({ queryKey: ['integration'] });
      onClose();
    },
    onError: (err) => setFailure(problem(err)),
  });

  const submit = (v: FlowForm) => {
    setFailure(null);
    const condition: FlowInput['condition'] = {};
    if (v.condApp?.trim()) condition.app = v.condApp.trim();
    if (v.condEntity?.trim()) condition.entity = v.condEntity.trim();
    if (v.condSource?.trim()) condition.source = v.condSource.trim();
    const alerts: FlowInput['alerts'] = {};
    if (v.alertBacklog) alerts.backlog = v.alertBacklog;
    if (v.alertOldest) alerts.oldestPendingSeconds = v.alertOldest;
    if (typeof v.alertFailure === 'number') alerts.failureRatePct = v.alertFailure;
    const body: Partial<FlowInput> = {
      name: v.name.trim(),
      description: v.description?.trim() || null,
      connector: v.connector,
      eventTypes: v.eventTypes.map((e) => e.trim()).filter(Boolean),
      condition,
      mapping: v.mapping?.trim() ? v.mapping : null,
      enabled: v.enabled,
      ratePerSecond: v.ratePerSecond ?? null,
      window: v.windowStart && v.windowEnd ? { start: v.windowStart, end: v.windowEnd } : null,
      alerts,
    };
    if (v.burst) body.burst = v.burst;
    if (v.maxConcurrency) body.maxConcurrency = v.maxConcurrency;
    if (v.batchSize) body.batchSize = v.batchSize;
    if (v.maxAttempts) body.maxAttempts = v.maxAttempts;
    if (v.backoffBaseMs) body.backoffBaseMs = v.backoffBaseMs;
    if (v.backoffCapMs) body.backoffCapMs = v.backoffCapMs;
    save.mutate(body);
  };

  const askServer = async () => {
    if (!editing) return;
    setServerPreview({ state: 'running' });
    try {
      const r = await integrationApi.previewFlow(editing.id, JSON.parse(sample) as Record<string, unknown>);
      setServerPreview(r.error !== undefined ? { state: 'error', message: r.error } : { state: 'ok', value: r.payload });
    } catch (err) {
      setServerPreview({ state: 'error', message: err instanceof SyntaxError ? it('common.invalidJson', { msg: err.message }) : problem(err) });
    }
  };

  const windowRule = (other: 'windowStart' | 'windowEnd') => ({
    validator: async (_r: unknown, v: string | undefined) => {
      if (v && !HHMM.test(v)) throw new Error(it('flow.windowInvalid'));
      if (!!v !== !!form.getFieldValue(other)) throw new Error(it('flow.windowBoth'));
    },
  });
  const num = (name: keyof FlowForm, label: string, extra?: string, min = 1, max?: number) => (
    <Col xs={24} sm={12} md={8}>
      <Form.Item name={name} label={label} extra={extra}>
        <InputNumber style={{ width: '100%' }} min={min} max={max} data-testid={`flow-${name}`} />
      </Form.Item>
    </Col>
  );

  return (
      <Form form={form} layout="vertical" onFinish={submit} initialValues={initial} requiredMark="optional">
        <Row gutter={12}>
          <Col xs={24} sm={12}>
            <Form.Item name="name" label={it('common.name')} rules={[{ required: true, message: it('common.required') }, { pattern: NAME_RE, message: it('conn.nameInvalid') }]}>
              <Input autoComplete="off" data-testid="flow-name" />
            </Form.Item>
          </Col>
          <Col xs={24} sm={12}>
            <Form.Item name="connector" label={it('flow.connector')} rules={[{ required: true, message: it('common.required') }]}>
              <Select data-testid="flow-connector" options={connectors.map((c) => ({ value: c.name, label: c.name }))} />
            </Form.Item>
          </Col>
        </Row>
        <Form.Item name="description" label={it('common.description')}>
          <Input autoComplete="off" />
        </Form.Item>
        <Form.Item name="eventTypes" label={it('flow.eventTypes')} extra={it('flow.eventTypesHelp')} rules={[{ required: true, message: it('common.required') }]}>
          <Select mode="tags" open={false} suffixIcon={null} tokenSeparators={[',', ' ']} data-testid="flow-events" />
        </Form.Item>
        <Row gutter={12}>
          <Col xs={24} sm={8}>
            <Form.Item name="condApp" label={it('flow.condApp')}>
              <Input autoComplete="off" placeholder="purchase" />
            </Form.Item>
          </Col>
          <Col xs={24} sm={8}>
            <Form.Item name="condEntity" label={it('flow.condEntity')}>
              <Input autoComplete="off" placeholder="order" />
            </Form.Item>
          </Col>
          <Col xs={24} sm={8}>
            <Form.Item name="condSource" label={it('flow.condSource')}>
              <Input autoComplete="off" placeholder="/trellis/apps/purchase/*" />
            </Form.Item>
          </Col>
        </Row>
        <Form.Item name="enabled" label={it('common.enabled')} valuePropName="checked">
          <Switch />
        </Form.Item>

        <Typography.Title level={5}>{it('flow.mapping')}</Typography.Title>
        <Row gutter={12}>
          <Col xs={24} md={12}>
            <Form.Item name="mapping" label={it('flow.mapping')} extra={it('flow.mappingHelp')}>
              <Input.TextArea rows={8} spellCheck={false} className="int-mono" placeholder={'{\n  "order_no": subject,\n  "amount": data.record.amount\n}'} data-testid="flow-mapping" />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item label={it('flow.sample')} htmlFor="flow-sample">
              <Input.TextArea id="flow-sample" rows={8} spellCheck={false} className="int-mono" value={sample} onChange={(e) => setSample(e.target.value)} data-testid="flow-sample" />
            </Form.Item>
          </Col>
        </Row>
        <div className="int-preview" data-testid="flow-preview" aria-live="polite">
          <Typography.Text strong>{it('flow.preview')}</Typography.Text>
          {preview.state === 'running' ? <Typography.Text type="secondary"> {it('flow.previewRunning')}</Typography.Text> : null}
          {preview.state === 'error' ? <Alert type="error" showIcon title={it('flow.previewError', { msg: preview.message })} /> : null}
          {preview.state === 'ok' ? <JsonBlock value={preview.value} label={it('flow.preview')} /> : null}
          {editing ? (
            <div className="int-server-preview">
              <Button size="small" icon={<CloudServerOutlined />} onClick={() => void askServer()} loading={serverPreview.state === 'running'} data-testid="flow-server-preview">
                {it('flow.previewServer')}
              </Button>
              {serverPreview.state === 'error' ? <Alert type="error" showIcon title={it('flow.previewError', { msg: serverPreview.message })} /> : null}
              {serverPreview.state === 'ok' ? <JsonBlock value={serverPreview.value} label={it('flow.previewServer')} /> : null}
            </div>
          ) : null}
        </div>

        <Typography.Title level={5}>{it('flow.pace')}</Typography.Title>
        <Row gutter={12}>
          <Col xs={24} sm={12} md={8}>
            <Form.Item name="ratePerSecond" label={it('flow.rate')} extra={it('flow.rateHelp')}>
              <InputNumber style={{ width: '100%' }} min={0.001} data-testid="flow-rate" />
            </Form.Item>
          </Col>
          {num('burst', it('flow.burst'))}
          {num('maxConcurrency', it('flow.concurrency'), undefined, 1, 256)}
          {num('batchSize', it('flow.batch'), undefined, 1, 1000)}
          <Col xs={12} sm={12} md={8}>
            <Form.Item name="windowStart" label={it('flow.windowStart')} extra={it('flow.windowHelp')} dependencies={['windowEnd']} rules={[windowRule('windowEnd')]}>
              <Input placeholder="02:00" autoComplete="off" />
            </Form.Item>
          </Col>
          <Col xs={12} sm={12} md={8}>
            <Form.Item name="windowEnd" label={it('flow.windowEnd')} dependencies={['windowStart']} rules={[windowRule('windowStart')]}>
              <Input placeholder="04:00" autoComplete="off" />
            </Form.Item>
          </Col>
        </Row>
        <Typography.Title level={5}>{it('flow.retries')}</Typography.Title>
        <Row gutter={12}>
          {num('maxAttempts', it('flow.maxAttempts'), undefined, 1, 1000)}
          {num('backoffBaseMs', it('flow.backoffBase'), undefined, 10)}
          {num('backoffCapMs', it('flow.backoffCap'), undefined, 10)}
        </Row>
        <Typography.Title level={5}>{it('flow.thresholds')}</Typography.Title>
        <Row gutter={12}>
          {num('alertBacklog', it('flow.alertBacklog'))}
          {num('alertOldest', it('flow.alertOldest'))}
          {num('alertFailure', it('flow.alertFailure'), undefined, 0, 100)}
        </Row>
        <DrawerFormActions error={failure} testId="flow" cancelLabel={it('common.cancel')} onCancel={onClose}>
          <Button type="primary" htmlType="submit" loading={save.isPending} data-testid="flow-save">
            {it('common.save')}
          </Button>
        </DrawerFormActions>
      </Form>
  );
}

function TestEventDrawer({ flow, onClose }: { flow: Flow | null; onClose: () => void }) {
  const { it } = useIntegrationI18n();
  const size = useDrawerSize(560);
  return (
    <Drawer
      open={!!flow}
      onClose={onClose}
      size={size}
      destroyOnHidden
      title={`${it('flow.testEventTitle')}${flow ? ` · ${flow.name}` : ''}`}
      closable={{ 'aria-label': it('common.close') }}
      data-testid="event-drawer"
    >
      {flow ? <TestEventForm key={flow.id} flow={flow} onClose={onClose} /> : null}
    </Drawer>
  );
}

function TestEventForm({ flow, onClose }: { flow: Flow; onClose: () => void }) {
  const { it } = useIntegrationI18n();
  const { message } = App.useApp();
  const problem = useProblem();
  const c = flow.condition;
  const [type, setType] = useState(() => flow.eventTypes[0]?.replace(/\*/g, 'test') ?? 'trellis.test.ping');
  const [subject, setSubject] = useState(() => `TEST-${Date.now().toString(36).toUpperCase()}`);
  const [data, setData] = useState(() =>
    JSON.stringify({ ...(c.app ? { app: c.app } : {}), ...(c.entity ? { entity: c.entity } : {}), action: 'test', record: SAMPLE_EVENT.data.record }, null, 2),
  );
  const [failure, setFailure] = useState<string | null>(null);
  const send = useMutation({
    mutationFn: () => {
      let parsed: unknown;
      try {
        parsed = data.trim() ? JSON.parse(data) : null;
      } catch (e) {
        throw new Error(it('common.invalidJson', { msg: (e as Error).message }), { cause: e });
      }
      const src = c.app ? `/trellis/apps/${c.app}/${c.entity ?? 'test'}` : undefined;
      return integrationApi.emitEvent({ type: type.trim(), subject: subject.trim() || null, partitionKey: subject.trim() || null, data: parsed, ...(src ? { source: src } : {}) });
    },
    onSuccess: (ev) => {
      void message.success(it('flow.testEventSent', { id: ev.id }));
      onClose();
    },
    onError: (err) => setFailure(problem(err)),
  });
  return (
    <>
      <Form layout="vertical">
        <Form.Item label={it('flow.testType')} htmlFor="event-type" required>
          <Input id="event-type" value={type} onChange={(e) => setType(e.target.value)} autoComplete="off" data-testid="event-type" />
        </Form.Item>
        <Form.Item label={it('flow.testSubject')} htmlFor="event-subject">
          <Input id="event-subject" value={subject} onChange={(e) => setSubject(e.target.value)} autoComplete="off" data-testid="event-subject" />
        </Form.Item>
        <Form.Item label={it('flow.testData')} htmlFor="event-data">
          <Input.TextArea id="event-data" rows={10} className="int-mono" spellCheck={false} value={data} onChange={(e) => setData(e.target.value)} data-testid="event-data" />
        </Form.Item>
      </Form>
      <DrawerFormActions error={failure} testId="event" cancelLabel={it('common.cancel')} onCancel={onClose}>
        <Button type="primary" icon={<SendOutlined />} loading={send.isPending} onClick={() => send.mutate()} disabled={!type.trim()} data-testid="event-send">
          {it('flow.testEvent')}
        </Button>
      </DrawerFormActions>
    </>
  );
}

export default function FlowsPage() {
  const { it } = useIntegrationI18n();
  const flows = useQuery({ queryKey: ['integration', 'flows'], queryFn: integrationApi.flows });
  const connectors = useQuery({ queryKey: ['integration', 'connectors'], queryFn: integrationApi.connectors });
  const [drawer, setDrawer] = useState<{ open: boolean; editing: Flow | null }>({ open: false, editing: null });
  const [eventFor, setEventFor] = useState<Flow | null>(null);
  const connectorName = (id: string) => connectors.data?.find((c) => c.id === id)?.name ?? id;

  const confirmDelete = useConfirmedDelete((f: Flow) => integrationApi.deleteFlow(f.id), {
    title: (f) => it('flow.deleteConfirm', { name: f.name }),
    done: it('flow.deleted'),
  });

  return (
    <div data-testid="integration-flows">
      <PageHead
        title={it('tab.flows')}
        extra={
          <Button type="primary" icon={<PlusOutlined />} onClick={() => setDrawer({ open: true, editing: null })} disabled={!connectors.data?.length} data-testid="flow-create">
            {it('flow.create')}
          </Button>
        }
      />
      {flows.isError ? <QueryProblem error={flows.error} /> : null}
      <Card>
        <Table<Flow>
          rowKey="id"
          loading={flows.isPending}
          dataSource={flows.data ?? []}
          pagination={false}
          scroll={{ x: 'max-content' }}
          locale={{ emptyText: it('flow.empty') }}
          columns={[
            { title: it('common.name'), dataIndex: 'name', render: (n: string, f) => (<span><strong>{n}</strong>{f.description ? <div className="int-muted">{f.description}</div> : null}</span>) },
            { title: it('flow.eventTypes'), dataIndex: 'eventTypes', render: (e: string[]) => <Space size={4} wrap>{e.map((x) => <Tag key={x}><code>{x}</code></Tag>)}</Space> },
            { title: it('flow.connector'), dataIndex: 'connectorId', render: connectorName },
            {
              title: it('flow.pace'),
              key: 'pace',
              render: (_: unknown, f) => (
                <span className="int-muted">
                  {f.ratePerSecond ? `${f.ratePerSecond}/s · ` : ''}×{f.maxConcurrency} · {it('flow.batch')} {f.batchSize}
                  {f.window ? ` · ${f.window.start}–${f.window.end}` : ''}
                </span>
              ),
            },
            { title: it('common.enabled'), dataIndex: 'enabled', render: (e: boolean) => (e ? <Tag color="green">{it('common.enabled')}</Tag> : <Tag>{it('common.disabled')}</Tag>) },
            {
              title: it('common.actions'),
              key: 'actions',
              render: (_: unknown, f) => (
                <Space size={4} wrap>
                  <Button size="small" icon={<EditOutlined />} onClick={() => setDrawer({ open: true, editing: f })} data-testid={`edit-flow-${f.name}`}>
                    {it('common.edit')}
                  </Button>
                  <Button size="small" icon={<SendOutlined />} onClick={() => setEventFor(f)} data-testid={`event-flow-${f.name}`}>
                    {it('flow.testEvent')}
                  </Button>
                  <Button size="small" danger icon={<DeleteOutlined />} onClick={() => confirmDelete(f)} aria-label={`${it('common.delete')} ${f.name}`} />
                </Space>
              ),
            },
          ]}
        />
      </Card>
      {connectors.data ? <FlowDrawer open={drawer.open} editing={drawer.editing} connectors={connectors.data} onClose={() => setDrawer((d) => ({ ...d, open: false }))} /> : null}
      <TestEventDrawer flow={eventFor} onClose={() => setEventFor(null)} />
    </div>
  );
}
