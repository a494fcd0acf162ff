// Deliveries and dead letters: the list (dead and stuck first, filtered by state, flow and
// connector, kept in the URL), bulk retry, and a drawer per delivery with its payload (editable as
// JSON), the event it came from and every attempt. Each action asks first and shows the server's
// own message when it is refused (e.g. "being sent right now", "already succeeded").
import { useEffect, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Descriptions, Drawer, Input, Popconfirm, Select, Space, Table, Tabs, Tag, Typography } from 'antd';
import { EyeOutlined, ReloadOutlined, RedoOutlined, SaveOutlined, StopOutlined } from '@ant-design/icons';
import { DELIVERY_STATES, integrationApi, type Attempt, type Delivery, type DeliveryDetail } from './api.ts';
import { useDrawerSize } from './ConnectorsPage.tsx';
import { JsonBlock, PageHead, QueryProblem, StateTag, useProblem, when } from './common.tsx';
import { useIntegrationI18n } from './i18n.ts';

const PAGE = 20;
const RETRYABLE = new Set(['dead', 'retrying', 'cancelled', 'pending']);
const BULK_RETRYABLE = new Set(['dead', 'retrying', 'cancelled']);
/** Confirmations open inside the drawer, so its focus trap keeps them reachable by keyboard. */
const inside = (trigger: HTMLElement) => (trigger.closest('.ant-drawer-content') as HTMLElement | null) ?? document.body;

function PayloadEditor({ d, onSaved }: { d: DeliveryDetail; onSaved: () => void }) {
  const { it } = useIntegrationI18n();
  const { message } = App.useApp();
  const problem = useProblem();
  const [text, setText] = useState(() => JSON.stringify(d.payload, null, 2));
  const [parseError, setParseError] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  useEffect(() => {
    setText(JSON.stringify(d.payload, null, 2));
    setParseError(null);
    setFailure(null);
  }, [d.id, d.payload]);
  const save = useMutation({
    mutationFn: (payload: unknown) => integrationApi.editPayload(d.id, payload),
    onSuccess: () => {
      void message.success(it('del.payloadSaved'));
      setFailure(null);
      onSaved();
    },
  });
  const editable = !d.subscriber && d.state !== 'succeeded' && d.state !== 'in_flight';
  const onChange = (v: string) => {
    setText(v);
    try {
      JSON.parse(v);
      setParseError(null);
    } catch (e) {
      setParseError(it('common.invalidJson', { msg: (e as Error).message }));
    }
  };
  const commit = async () => {
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch (e) {
      setParseError(it('common.invalidJson', { msg: (e as Error).message }));
      return;
    }
    await save.mutateAsync(payload).catch((err: unknown) => setFailure(problem(err)));
  };
  const changed = text !== JSON.stringify(d.payload, null, 2);
  return (
    <div>
      <label htmlFor={`payload-${d.id}`} className="int-label">
        {it('del.payloadLabel')}
      </label>
      <Input.TextArea
        id={`payload-${d.id}`}
        rows={12}
        className="int-mono"
        spellCheck={false}
        value={text}
        onChange={(e) => onChange(e.target.value)}
        readOnly={!editable}
        status={parseError ? 'error' : undefined}
        aria-invalid={!!parseError}
        aria-describedby={`payload-help-${d.id}`}
        data-testid="payload-editor"
      />
      <div id={`payload-help-${d.id}`} className={parseError ? 'int-error-text' : 'int-muted'} role={parseError ? 'alert' : undefined}>
        {parseError ?? it('del.payloadHelp')}
      </div>
      {editable ? (
        <Popconfirm title={it('del.payloadConfirm', { id: d.id })} okText={it('del.savePayload')} cancelText={it('common.cancel')} onConfirm={commit} getPopupContainer={inside} disabled={!!parseError || !changed}>
          <Button icon={<SaveOutlined />} style={{ marginTop: 8 }} disabled={!!parseError || !changed} loading={save.isPending} data-testid="payload-save">
            {it('del.savePayload')}
          </Button>
        </Popconfirm>
      ) : null}
      {failure ? <Alert type="error" showIcon title={failure} style={{ marginTop: 8 }} data-testid="payload-error" /> : null}
    </div>
  );
}

function AttemptTable({ rows }: { rows: Attempt[] }) {
  const { it } = useIntegrationI18n();
  return (
    <Table<Attempt>
      rowKey={(a) => `${a.attempt}-${a.startedAt}`}
      size="small"
      pagination={false}
      dataSource={rows}
      scroll={{ x: 'max-content' }}
      locale={{ emptyText: it('del.noAttempts') }}
      data-testid="attempts"
      columns={[
        { title: it('del.attemptNo'), dataIndex: 'attempt', width: 48 },
        { title: it('del.startedAt'), dataIndex: 'startedAt', render: when },
        { title: it('del.latency'), dataIndex: 'latencyMs', render: (n: number) => it('common.ms', { n }) },
        { title: it('del.outcome'), dataIndex: 'outcome', render: (o: string) => <Tag color={o === 'ok' ? 'green' : o === 'permanent' ? 'red' : 'orange'}>{o}</Tag> },
        { title: it('del.status'), dataIndex: 'status', render: (s: number | null) => s ?? '—' },
        { title: it('del.error'), dataIndex: 'error', render: (e: string | null) => (e ? <Typography.Text type="danger" className="int-wrap">{e}</Typography.Text> : '—') },
      ]}
    />
  );
}

function DeliveryDrawer({ id, onClose }: { id: number | null; onClose: () => void }) {
  const { it } = useIntegrationI18n();
  const { message } = App.useApp();
  const problem = useProblem();
  const qc = useQueryClient();
  const size = useDrawerSize(720);
  const detail = useQuery({
    queryKey: ['integration', 'delivery', id],
    queryFn: () => integrationApi.delivery(id!),
    enabled: id !== null,
    refetchInterval: (q) => (q.state.data && ['pending', 'in_flight', 'retrying'].includes(q.state.data.state) ? 2000 : false),
  });
  const [failure, setFailure] = useState<string | null>(null);
  const [reason, setReason] = useState('');
  useEffect(() => {
    setFailure(null);
    setReason('');
  }, [id]);
  const refresh = () => void qc.invalidateQueries({ queryKey: ['integration'] });
  const retry = useMutation({ mutationFn: (x: number) => integrationApi.retry(x), onSuccess: () => { void message.success(it('del.retried')); refresh(); } });
  const skip = useMutation({ mutationFn: ({ x, reason }: { x: number; reason: string | null }) => integrationApi.skip(x, reason), onSuccess: () => { void message.success(it('del.skipped')); refresh(); } });
  const d = detail.data;

  const doRetry = (x: DeliveryDetail) => retry.mutateAsync(x.id).then(() => setFailure(null), (err: unknown) => setFailure(problem(err)));
  const doSkip = (x: DeliveryDetail) => skip.mutateAsync({ x: x.id, reason: reason.trim() || null }).then(() => setFailure(null), (err: unknown) => setFailure(problem(err)));

  return (
    <Drawer
      open={id !== null}
      onClose={onClose}
      size={size}
      title={id !== null ? it('del.detail', { id }) : ''}
      closable={{ 'aria-label': it('common.close') }}
      data-testid="delivery-drawer"
      extra={
        d ? (
          <Space wrap>
            <Popconfirm title={it('del.retryConfirm', { id: d.id })} okText={it('del.retry')} cancelText={it('common.cancel')} onConfirm={() => doRetry(d)} getPopupContainer={inside} disabled={!RETRYABLE.has(d.state)}>
              <Button type="primary" icon={<RedoOutlined />} disabled={!RETRYABLE.has(d.state)} loading={retry.isPending} data-testid="delivery-retry">
                {it('del.retry')}
              </Button>
            </Popconfirm>
            <Popconfirm
              title={it('del.skipConfirm', { id: d.id })}
              description={
                <div className="int-skip-reason">
                  <label htmlFor="skip-reason" className="int-label">
                    {it('del.skipReason')}
                  </label>
                  <Input.TextArea id="skip-reason" rows={2} maxLength={1000} value={reason} onChange={(e) => setReason(e.target.value)} data-testid="skip-reason" />
                </div>
              }
              okText={it('del.skip')}
              okButtonProps={{ danger: true }}
              cancelText={it('common.cancel')}
              onConfirm={() => doSkip(d)}
              getPopupContainer={inside}
              disabled={d.state === 'succeeded' || d.state === 'cancelled'}
            >
              <Button danger icon={<StopOutlined />} disabled={d.state === 'succeeded' || d.state === 'cancelled'} loading={skip.isPending} data-testid="delivery-skip">
                {it('del.skip')}
              </Button>
            </Popconfirm>
          </Space>
        ) : null
      }
    >
      {detail.isError ? <QueryProblem error={detail.error} /> : null}
      {failure ? <Alert type="error" showIcon title={failure} style={{ marginBottom: 12 }} data-testid="delivery-error" closable={{ 'aria-label': it('common.close') }} onClose={() => setFailure(null)} /> : null}
      {d ? (
        <>
          <Descriptions size="small" column={{ xs: 1, sm: 2 }} bordered className="int-desc" data-testid="delivery-summary">
            <Descriptions.Item label={it('del.filterState')}>
              <StateTag state={d.state} stuck={d.stuck} />
              {d.payloadEdited ? <Tag color="purple">{it('del.edited')}</Tag> : null}
            </Descriptions.Item>
            <Descriptions.Item label={it('del.attempts')}>
              {d.attempts} / {d.maxAttempts}
            </Descriptions.Item>
            <Descriptions.Item label={it('del.route')}>{d.flowName ?? (d.subscriber ? it('del.subscriber', { name: d.subscriber }) : d.route)}</Descriptions.Item>
            <Descriptions.Item label={it('del.event')}>
              <code>{d.eventType}</code>
            </Descriptions.Item>
            <Descriptions.Item label={it('del.partition')}>{d.partitionKey ?? '—'}</Descriptions.Item>
            <Descriptions.Item label={it('del.externalRef')}>{d.externalRef ?? '—'}</Descriptions.Item>
            <Descriptions.Item label={it('del.nextAttempt')}>{['pending', 'retrying'].includes(d.state) ? when(d.nextAttemptAt) : '—'}</Descriptions.Item>
            <Descriptions.Item label={it('del.created')}>{when(d.createdAt)}</Descriptions.Item>
            <Descriptions.Item label={it('del.idempotencyKey')} span={2}>
              <code className="int-wrap">{d.idempotencyKey}</code>
            </Descriptions.Item>
            {d.lastError ? (
              <Descriptions.Item label={it('del.lastError')} span={2}>
                <Typography.Text type="danger" className="int-wrap" data-testid="delivery-last-error">
                  {d.lastStatus ? `[${d.lastStatus}] ` : ''}
                  {d.lastError}
                </Typography.Text>
              </Descriptions.Item>
            ) : null}
          </Descriptions>
          <Tabs
            style={{ marginTop: 12 }}
            items={[
              { key: 'payload', label: it('del.payload'), children: <PayloadEditor d={d} onSaved={refresh} /> },
              { key: 'attempts', label: `${it('del.attemptsTab')} (${d.attemptLog.length})`, children: <AttemptTable rows={d.attemptLog} /> },
              { key: 'event', label: it('del.eventTab'), children: <JsonBlock value={d.event} label={it('del.eventTab')} /> },
            ]}
          />
        </>
      ) : null}
    </Drawer>
  );
}

export default function DeliveriesPage() {
  const { it } = useIntegrationI18n();
  const { message, modal } = App.useApp();
  const problem = useProblem();
  const qc = useQueryClient();
  const [params, setParams] = useSearchParams();
  const state = params.get('state') ?? undefined;
  const flow = params.get('flow') ?? undefined;
  const connector = params.get('connector') ?? undefined;
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);
  const open = params.get('delivery');
  const [selected, setSelected] = useState<number[]>([]);
  const flows = useQuery({ queryKey: ['integration', 'flows'], queryFn: integrationApi.flows });
  const connectors = useQuery({ queryKey: ['integration', 'connectors'], queryFn: integrationApi.connectors });
  const list = useQuery({
    queryKey: ['integration', 'deliveries', state, flow, connector, page],
    queryFn: () => integrationApi.deliveries({ state, flow, connector, limit: PAGE, offset: (page - 1) * PAGE }),
    refetchInterval: 5000,
  });

  const setParam = (k: string, v: string | undefined | null) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    if (k !== 'delivery' && k !== 'page') next.delete('page');
    setParams(next, { replace: k === 'delivery' ? false : true });
    if (k !== 'delivery') setSelected([]);
  };

  const bulk = useMutation({
    mutationFn: integrationApi.bulkRetry,
    onSuccess: (r) => {
      void message.success(it('del.bulkDone', { n: r.retried }));
      setSelected([]);
      void qc.invalidateQueries({ queryKey: ['integration'] });
    },
  });
  const confirmBulk = () =>
    modal.confirm({
      title: it('del.bulkConfirm', { n: selected.length }),
      okText: it('del.retry'),
      cancelText: it('common.cancel'),
      onOk: () => bulk.mutateAsync({ ids: selected }).catch((err: unknown) => void message.error(problem(err))),
    });
  const flowName = flows.data?.find((f) => f.name === flow || f.id === flow)?.name;
  const confirmBulkDead = () =>
    modal.confirm({
      title: it('del.bulkDeadConfirm', { flow: flowName ? ` (${flowName})` : '' }),
      okText: it('del.retry'),
      cancelText: it('common.cancel'),
      onOk: () => bulk.mutateAsync({ state: 'dead', ...(flowName ? { flow: flowName } : {}) }).catch((err: unknown) => void message.error(problem(err))),
    });

  return (
    <div data-testid="integration-deliveries">
      <PageHead
        title={it('tab.deliveries')}
        extra={
          <Space wrap>
            <Button icon={<RedoOutlined />} disabled={!selected.length} loading={bulk.isPending} onClick={confirmBulk} data-testid="bulk-retry">
              {it('del.bulkRetry', { n: selected.length })}
            </Button>
            <Button icon={<RedoOutlined />} onClick={confirmBulkDead} data-testid="bulk-retry-dead">
              {it('del.bulkRetryDead')}
            </Button>
            <Button icon={<ReloadOutlined />} onClick={() => void list.refetch()} aria-label={it('common.refresh')} />
          </Space>
        }
      />
      <div className="int-filters">
        <Select
          aria-label={it('del.filterState')}
          placeholder={it('del.filterState')}
          allowClear
          value={state}
          onChange={(v?: string) => setParam('state', v)}
          options={DELIVERY_STATES.map((s) => ({ value: s, label: it(`state.${s}`) }))}
          data-testid="filter-state"
        />
        <Select
          aria-label={it('del.filterFlow')}
          placeholder={it('del.filterFlow')}
          allowClear
          showSearch
          value={flow}
          onChange={(v?: string) => setParam('flow', v)}
          options={(flows.data ?? []).map((f) => ({ value: f.name, label: f.name }))}
          data-testid="filter-flow"
        />
        <Select
          aria-label={it('del.filterConnector')}
          placeholder={it('del.filterConnector')}
          allowClear
          showSearch
          value={connector}
          onChange={(v?: string) => setParam('connector', v)}
          options={(connectors.data ?? []).map((c) => ({ value: c.name, label: c.name }))}
          data-testid="filter-connector"
        />
      </div>
      {list.isError ? <QueryProblem error={list.error} /> : null}
      <Card>
        <Table<Delivery>
          rowKey="id"
          size="middle"
          loading={list.isPending}
          dataSource={list.data?.items ?? []}
          scroll={{ x: 'max-content' }}
          locale={{ emptyText: it('del.empty') }}
          rowSelection={{
            selectedRowKeys: selected,
            onChange: (keys) => setSelected(keys.map(Number)),
            getCheckboxProps: (r) => ({ disabled: !BULK_RETRYABLE.has(r.state), 'aria-label': `#${r.id}` }),
          }}
          rowClassName={(r) => (r.state === 'dead' || r.stuck ? 'int-row-alert' : '')}
          onRow={(r) => ({ onDoubleClick: () => setParam('delivery', String(r.id)) })}
          pagination={{
            current: page,
            pageSize: PAGE,
            total: list.data?.total ?? 0,
            showSizeChanger: false,
            showTotal: (n) => it('del.total', { n }),
            onChange: (p) => setParam('page', p > 1 ? String(p) : null),
          }}
          columns={[
            { title: it('del.id'), dataIndex: 'id', render: (id: number) => <code>#{id}</code> },
            { title: it('del.filterState'), dataIndex: 'state', render: (_: unknown, r) => <StateTag state={r.state} stuck={r.stuck} /> },
            { title: it('del.filterFlow'), key: 'flow', render: (_: unknown, r) => r.flowName ?? (r.subscriber ? it('del.subscriber', { name: r.subscriber }) : '—') },
            { title: it('del.event'), dataIndex: 'eventType', render: (t: string) => <code>{t}</code> },
            { title: it('del.document'), dataIndex: 'partitionKey', render: (p: string | null) => p ?? '—' },
            { title: it('del.attempts'), key: 'att', render: (_: unknown, r) => `${r.attempts}/${r.maxAttempts}` },
            {
              title: it('del.lastError'),
              dataIndex: 'lastError',
              render: (e: string | null, r) =>
                e ? (
                  <Typography.Text type={r.state === 'succeeded' ? 'secondary' : 'danger'} ellipsis={{ tooltip: e }} style={{ maxWidth: 280 }}>
                    {r.lastStatus ? `[${r.lastStatus}] ` : ''}
                    {e}
                  </Typography.Text>
                ) : (
                  '—'
                ),
            },
            { title: it('del.updated'), dataIndex: 'updatedAt', render: when },
            {
              title: '',
              key: 'open',
              fixed: 'right',
              render: (_: unknown, r) => (
                <Button size="small" icon={<EyeOutlined />} onClick={() => setParam('delivery', String(r.id))} data-testid={`open-delivery-${r.id}`}>
                  {it('del.open')}
                </Button>
              ),
            },
          ]}
        />
      </Card>
      <DeliveryDrawer id={open ? Number(open) : null} onClose={() => setParam('delivery', null)} />
    </div>
  );
}
