// Master data: browse what the cache holds per kind (materials, BOMs, work orders, purchase
// orders, suppliers, equipment) with search and keyset paging, the pull jobs with "run now",
// and the run history.
import { useState } from 'react';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { App, Button, Card, Input, Select, Table, Tabs, Tag, Typography } from 'antd';
import { PlayCircleOutlined } from '@ant-design/icons';
import { integrationApi, MASTER_KINDS, type CachedObject, type MasterKind, type PullJob, type PullRun } from './api.ts';
import { JsonBlock, PageHead, QueryProblem, useProblem, when } from './common.tsx';
import { useIntegrationI18n, type IntegrationKey } from './i18n.ts';

const SAMPLE = 'sample-erp';

/** A few telling columns per kind, from the canonical data (objects.ts on the server). */
const EXTRA: Record<MasterKind, Array<{ key: string; label: readonly [string, string] }>> = {
  material: [
    { key: 'uom', label: ['单位', 'UoM'] },
    { key: 'type', label: ['类型', 'Type'] },
  ],
  bom: [{ key: 'output_code', label: ['产出物料', 'Output'] }],
  work_order: [
    { key: 'state', label: ['状态', 'State'] },
    { key: 'product_code', label: ['产品', 'Product'] },
    { key: 'quantity', label: ['数量', 'Quantity'] },
    { key: 'planned_date', label: ['计划完工', 'Planned'] },
  ],
  purchase_order: [
    { key: 'state', label: ['状态', 'State'] },
    { key: 'supplier_name', label: ['供应商', 'Supplier'] },
    { key: 'total_amount', label: ['金额', 'Amount'] },
    { key: 'delivery_date', label: ['交期', 'Delivery'] },
  ],
  supplier: [],
  equipment: [
    { key: 'category', label: ['类别', 'Category'] },
    { key: 'workshop', label: ['车间', 'Workshop'] },
    { key: 'model', label: ['型号', 'Model'] },
  ],
};

function CacheBrowser() {
  const { it, locale } = useIntegrationI18n();
  const [kind, setKind] = useState<MasterKind>('material');
  const [q, setQ] = useState('');
  const [search, setSearch] = useState('');
  const list = useInfiniteQuery({
    queryKey: ['integration', 'md', kind, search],
    queryFn: ({ pageParam }) => integrationApi.masterData(kind, { q: search || undefined, cursor: pageParam, limit: 50 }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor,
  });
  const rows = list.data?.pages.flatMap((p) => p.items) ?? [];
  const src = (id: string) => (id === SAMPLE ? it('md.sampleErp') : id);
  return (
    <div data-testid="md-cache">
      <div className="int-filters">
        <Select<MasterKind>
          aria-label={it('md.kind')}
          value={kind}
          onChange={(k) => setKind(k)}
          options={MASTER_KINDS.map((k) => ({ value: k, label: it(`md.kind.${k}` as IntegrationKey) }))}
          data-testid="md-kind"
        />
        <Input.Search
          aria-label={it('md.search')}
          placeholder={it('md.search')}
          allowClear
          value={q}
          onChange={(e) => {
            setQ(e.target.value);
            if (!e.target.value) setSearch('');
          }}
          onSearch={(v) => setSearch(v.trim())}
          enterButton={it('common.search')}
          data-testid="md-search"
          className="int-search"
        />
      </div>
      {list.isError ? <QueryProblem error={list.error} /> : null}
      <Table<CachedObject>
        rowKey={(r) => `${r.connectorId}/${r.sourceKey}`}
        size="small"
        loading={list.isPending}
        dataSource={rows}
        pagination={false}
        scroll={{ x: 'max-content' }}
        locale={{ emptyText: it('md.empty') }}
        expandable={{ expandedRowRender: (r) => <JsonBlock value={r.data} label={`${r.code} ${it('md.details')}`} /> }}
        columns={[
          { title: it('md.code'), dataIndex: 'code', render: (c: string) => <code>{c}</code> },
          { title: it('md.name'), dataIndex: 'name' },
          ...EXTRA[kind].map((x) => ({
            title: locale === 'en' ? x.label[1] : x.label[0],
            key: x.key,
            render: (_: unknown, r: CachedObject) => {
              const v = r.data[x.key];
              return v === null || v === undefined || v === '' ? '—' : String(v as string | number);
            },
          })),
          { title: it('md.connector'), dataIndex: 'connectorId', render: (c: string) => (c === SAMPLE ? <Tag color="blue">{src(c)}</Tag> : c) },
          { title: it('md.changedAt'), dataIndex: 'changedAt', render: when },
        ]}
      />
      {list.hasNextPage ? (
        <div className="int-more">
          <Button onClick={() => void list.fetchNextPage()} loading={list.isFetchingNextPage}>
            {it('common.loadMore')}
          </Button>
        </div>
      ) : null}
    </div>
  );
}

function statusTag(it: ReturnType<typeof useIntegrationI18n>['it'], s: string | null) {
  if (!s) return '—';
  const color = s === 'succeeded' ? 'green' : s === 'failed' ? 'red' : 'processing';
  const key = `md.status.${s}` as IntegrationKey;
  return <Tag color={color}>{['succeeded', 'failed', 'running'].includes(s) ? it(key) : s}</Tag>;
}

function Jobs({ onRan }: { onRan: () => void }) {
  const { it } = useIntegrationI18n();
  const { message, modal } = App.useApp();
  const problem = useProblem();
  const qc = useQueryClient();
  const jobs = useQuery({ queryKey: ['integration', 'md-jobs'], queryFn: integrationApi.pullJobs, refetchInterval: 10_000 });
  const run = useMutation({
    mutationFn: (j: PullJob) => integrationApi.runJob(j.id),
    onSuccess: (r) => {
      if (r.status === 'failed') void message.error(it('md.runFailed', { msg: r.error ?? '' }));
      else void message.success(it('md.runDone', { i: r.inserted, u: r.updated, n: r.unchanged, d: r.deleted }));
      void qc.invalidateQueries({ queryKey: ['integration'] });
      onRan();
    },
  });
  const src = (id: string) => (id === SAMPLE ? it('md.sampleErp') : id);
  const confirmRun = (j: PullJob) =>
    modal.confirm({
      title: it('md.runConfirm', { src: src(j.connectorId), obj: it(`md.kind.${j.object}` as IntegrationKey) }),
      okText: it('md.runNow'),
      cancelText: it('common.cancel'),
      onOk: () => run.mutateAsync(j).catch((err: unknown) => void message.error(problem(err))),
    });
  return (
    <>
      {jobs.isError ? <QueryProblem error={jobs.error} /> : null}
      <Table<PullJob>
        rowKey="id"
        size="small"
        loading={jobs.isPending}
        dataSource={jobs.data ?? []}
        pagination={false}
        scroll={{ x: 'max-content' }}
        locale={{ emptyText: it('md.noJobs') }}
        data-testid="md-jobs"
        columns={[
          { title: it('md.object'), dataIndex: 'object', render: (o: string) => it(`md.kind.${o}` as IntegrationKey) },
          { title: it('md.connector'), dataIndex: 'connectorId', render: src },
          { title: it('md.cron'), dataIndex: 'cron', render: (c: string, j) => <span><code>{c}</code>{!j.enabled ? <Tag style={{ marginLeft: 6 }}>{it('common.disabled')}</Tag> : null}</span> },
          { title: it('md.window'), dataIndex: 'window', render: (w: PullJob['window']) => (w ? `${w.start}–${w.end}` : '—') },
          { title: it('md.mode'), dataIndex: 'mode', render: (m: string) => it(`md.mode.${m}` as IntegrationKey) },
          { title: it('md.dueAt'), dataIndex: 'dueAt', render: when },
          {
            title: it('md.lastRun'),
            key: 'last',
            render: (_: unknown, j) => (
              <span>
                {j.running ? <Tag color="processing">{it('md.running')}</Tag> : statusTag(it, j.lastStatus)} {when(j.lastRunAt)}
                {j.lastError ? <div><Typography.Text type="danger" className="int-wrap">{j.lastError}</Typography.Text></div> : null}
              </span>
            ),
          },
          {
            title: '',
            key: 'run',
            render: (_: unknown, j) => (
              <Button size="small" icon={<PlayCircleOutlined />} disabled={j.running} loading={run.isPending && run.variables?.id === j.id} onClick={() => confirmRun(j)} data-testid={`run-${j.object}`}>
                {it('md.runNow')}
              </Button>
            ),
          },
        ]}
      />
    </>
  );
}

function Runs() {
  const { it } = useIntegrationI18n();
  const runs = useQuery({ queryKey: ['integration', 'md-runs'], queryFn: () => integrationApi.runs(), refetchInterval: 10_000 });
  return (
    <>
      {runs.isError ? <QueryProblem error={runs.error} /> : null}
      <Table<PullRun>
        rowKey="id"
        size="small"
        loading={runs.isPending}
        dataSource={runs.data ?? []}
        pagination={{ pageSize: 20, hideOnSinglePage: true }}
        scroll={{ x: 'max-content' }}
        data-testid="md-runs"
        columns={[
          { title: it('md.started'), dataIndex: 'startedAt', render: when },
          { title: it('md.object'), dataIndex: 'object', render: (o: string) => it(`md.kind.${o}` as IntegrationKey) },
          { title: it('md.connector'), dataIndex: 'connectorId', render: (c: string) => (c === SAMPLE ? it('md.sampleErp') : c) },
          { title: it('md.trigger'), dataIndex: 'trigger' },
          { title: it('del.filterState'), dataIndex: 'status', render: (s: string) => statusTag(it, s) },
          { title: it('md.duration'), dataIndex: 'durationMs', render: (n: number | null) => (n === null ? '—' : it('common.ms', { n })) },
          { title: it('md.rows'), key: 'rows', render: (_: unknown, r) => `${r.rowsSeen} / ${r.inserted} / ${r.updated} / ${r.unchanged} / ${r.deleted}` },
          { title: it('del.error'), dataIndex: 'error', render: (e: string | null) => (e ? <Typography.Text type="danger" className="int-wrap">{e}</Typography.Text> : '—') },
        ]}
      />
    </>
  );
}

export default function MasterDataPage() {
  const { it } = useIntegrationI18n();
  const [tab, setTab] = useState('cache');
  return (
    <div data-testid="integration-masterdata">
      <PageHead title={it('tab.masterdata')} />
      <Card>
        <Tabs
          activeKey={tab}
          onChange={setTab}
          items={[
            { key: 'cache', label: it('md.cache'), children: <CacheBrowser /> },
            { key: 'jobs', label: it('md.jobs'), children: <Jobs onRan={() => undefined} /> },
            { key: 'runs', label: it('md.runs'), children: <Runs /> },
          ]}
        />
      </Card>
    </div>
  );
}
