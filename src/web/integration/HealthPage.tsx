// Health: per flow or per connector, today against yesterday (plant time zone): successes,
// failures, average and p95 latency, retries, dead letters, backlog and the oldest pending age,
// as cards and ECharts bar charts; open alerts on top; the compensation scan on demand.
import { useMemo, useState } from 'react';
import { Link } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Col, Empty, Row, Segmented, Space, Statistic, Tag, Typography } from 'antd';
import { ReloadOutlined, SafetyOutlined } from '@ant-design/icons';
import { integrationApi, type Alert as AlertView, type DayFigures, type HealthEntry } from './api.ts';
import { Chart } from '../components/Chart.tsx';
import { PageHead, QueryProblem, useProblem, when } from './common.tsx';
import { ageText, useIntegrationI18n, type IT } from './i18n.ts';
import type { EChartsOption } from '../components/echarts.ts';

const C = { ok: '#2f7d4f', fail: '#cf1322', okPrev: '#9fc9ae', failPrev: '#f2a5a5', avg: '#1677ff', p95: '#722ed1', backlog: '#fa8c16', age: '#8c8c8c' };

function delta(now: number | null, before: number | null): string {
  if (now === null || before === null) return '';
  const d = now - before;
  return d === 0 ? '±0' : d > 0 ? `+${d}` : String(d);
}

function EntryCard({ e, by }: { e: HealthEntry; by: 'flow' | 'connector' }) {
  const { it } = useIntegrationI18n();
  const t = e.today;
  const y = e.yesterday;
  const ms = (n: number | null) => (n === null ? '—' : it('common.ms', { n }));
  const fig = (title: string, value: string | number, prev: string, tone?: 'bad' | 'warn', testId?: string) => (
    <Col xs={12} sm={8}>
      <Statistic title={title} value={value} className={tone ? `int-stat-${tone}` : undefined} data-testid={testId} />
      <div className="int-muted int-prev">{prev}</div>
    </Col>
  );
  const link = `/integration/deliveries?${by}=${encodeURIComponent(e.name)}`;
  return (
    <Card
      size="small"
      className="int-health-card"
      data-testid={`health-${by}-${e.name}`}
      title={
        <Space wrap>
          <span>{e.name}</span>
          {t.dead > 0 ? <Tag color="red">{it('health.dead')} {t.dead}</Tag> : null}
          {e.backlog > 0 ? <Tag color="orange">{it('health.backlog')} {e.backlog}</Tag> : null}
        </Space>
      }
      extra={<Link to={link}>{it('tab.deliveries')}</Link>}
    >
      <Row gutter={[12, 12]}>
        {fig(it('health.successes'), t.successes, it('health.vsYesterday', { v: `${y.successes} (${delta(t.successes, y.successes)})` }), undefined, 'stat-successes')}
        {fig(it('health.failures'), t.failures, it('health.vsYesterday', { v: `${y.failures} (${delta(t.failures, y.failures)})` }), t.failures > 0 ? 'bad' : undefined, 'stat-failures')}
        {fig(it('health.failureRate'), t.failureRatePct === null ? '—' : `${t.failureRatePct}%`, it('health.vsYesterday', { v: y.failureRatePct === null ? '—' : `${y.failureRatePct}%` }))}
        {fig(it('health.avg'), ms(t.avgLatencyMs), it('health.vsYesterday', { v: ms(y.avgLatencyMs) }))}
        {fig(it('health.p95'), ms(t.p95LatencyMs), it('health.vsYesterday', { v: ms(y.p95LatencyMs) }))}
        {fig(it('health.retries'), t.retries, it('health.vsYesterday', { v: y.retries }))}
        {fig(it('health.backlog'), e.backlog, `${it('health.inFlight')} ${e.inFlight}`, e.backlog > 0 ? 'warn' : undefined, 'stat-backlog')}
        {fig(it('health.oldest'), ageText(it, e.oldestPendingSeconds), '', e.oldestPendingSeconds !== null && e.oldestPendingSeconds > 300 ? 'warn' : undefined)}
        {fig(it('health.dead'), t.dead, it('health.vsYesterday', { v: y.dead }), t.dead > 0 ? 'bad' : undefined, 'stat-dead')}
      </Row>
    </Card>
  );
}

function charts(it: IT, entries: HealthEntry[]): { volume: EChartsOption; latency: EChartsOption; backlog: EChartsOption } {
  const names = entries.map((e) => e.name);
  const axis = { type: 'category', data: names, axisLabel: { interval: 0, width: 90, overflow: 'truncate' } };
  const grid = { left: 8, right: 8, top: 12, bottom: 56, containLabel: true };
  const legend = { bottom: 0, type: 'scroll', itemWidth: 12, itemHeight: 8, textStyle: { fontSize: 11 } };
  const series = (name: string, color: string, pick: (d: DayFigures) => number | null, day: 'today' | 'yesterday', stack?: string) => ({
    name,
    type: 'bar',
    stack,
    itemStyle: { color },
    data: entries.map((e) => pick(e[day])),
  });
  const today = it('health.today');
  const yesterday = it('health.yesterday');
  return {
    volume: {
      aria: { enabled: true },
      tooltip: { trigger: 'axis' },
      legend,
      grid,
      xAxis: axis,
      yAxis: { type: 'value', minInterval: 1 },
      series: [
        series(`${today} · ${it('health.successes')}`, C.ok, (d) => d.successes, 'today', 'today'),
        series(`${today} · ${it('health.failures')}`, C.fail, (d) => d.failures, 'today', 'today'),
        series(`${yesterday} · ${it('health.successes')}`, C.okPrev, (d) => d.successes, 'yesterday', 'yesterday'),
        series(`${yesterday} · ${it('health.failures')}`, C.failPrev, (d) => d.failures, 'yesterday', 'yesterday'),
      ],
    },
    latency: {
      aria: { enabled: true },
      tooltip: { trigger: 'axis', valueFormatter: (v: unknown) => (v === null || v === undefined ? '—' : `${String(v)} ms`) },
      legend,
      grid,
      xAxis: axis,
      yAxis: { type: 'value' },
      series: [
        series(`${today} · ${it('health.avg')}`, C.avg, (d) => d.avgLatencyMs, 'today'),
        series(`${today} · ${it('health.p95')}`, C.p95, (d) => d.p95LatencyMs, 'today'),
        series(`${yesterday} · ${it('health.p95')}`, '#c9b3e6', (d) => d.p95LatencyMs, 'yesterday'),
      ],
    },
    backlog: {
      aria: { enabled: true },
      tooltip: { trigger: 'axis' },
      legend,
      grid,
      xAxis: axis,
      yAxis: [
        { type: 'value', minInterval: 1 },
        { type: 'value', splitLine: { show: false } },
      ],
      series: [
        { name: it('health.backlog'), type: 'bar', itemStyle: { color: C.backlog }, data: entries.map((e) => e.backlog) },
        { name: `${it('health.oldest')} (s)`, type: 'bar', yAxisIndex: 1, itemStyle: { color: C.age }, data: entries.map((e) => e.oldestPendingSeconds ?? 0) },
      ],
    },
  };
}

function AlertList({ items }: { items: AlertView[] }) {
  const { it, locale } = useIntegrationI18n();
  if (!items.length) return <Alert type="success" showIcon title={it('health.noAlerts')} data-testid="alerts-none" />;
  // The server words alerts in both languages ("中文 / English"); show the reader's half.
  const words = (m: string) => {
    const i = m.indexOf(' / ');
    return i < 0 ? m : locale === 'en' ? m.slice(i + 3) : m.slice(0, i);
  };
  return (
    <Space orientation="vertical" style={{ width: '100%' }} data-testid="alerts">
      {items.map((a) => (
        <Alert
          key={a.id}
          type="warning"
          showIcon
          title={
            <span>
              <Tag color="orange">{it(`health.alertKind.${a.kind}` as Parameters<IT>[0])}</Tag>
              {words(a.message)}
            </span>
          }
          description={
            <span className="int-muted">
              {it('health.openedAt', { at: when(a.openedAt) })}
              {a.flowName ? (
                <>
                  {' · '}
                  <Link to={`/integration/deliveries?flow=${encodeURIComponent(a.flowName)}`}>{it('tab.deliveries')}</Link>
                </>
              ) : null}
            </span>
          }
        />
      ))}
    </Space>
  );
}

export default function HealthPage() {
  const { it } = useIntegrationI18n();
  const { message, modal } = App.useApp();
  const problem = useProblem();
  const qc = useQueryClient();
  const [by, setBy] = useState<'flow' | 'connector'>('flow');
  const health = useQuery({ queryKey: ['integration', 'health'], queryFn: integrationApi.health, refetchInterval: 15_000 });
  const alerts = useQuery({ queryKey: ['integration', 'alerts', 'open'], queryFn: () => integrationApi.alerts('open'), refetchInterval: 30_000 });
  const entries = useMemo(() => (by === 'flow' ? health.data?.flows : health.data?.connectors) ?? [], [by, health.data]);
  const opts = useMemo(() => charts(it, entries), [it, entries]);
  const compensation = useMutation({
    mutationFn: integrationApi.runCompensation,
    onSuccess: (r) => {
      void message.success(it('health.compensationDone', { r: Object.entries(r).map(([k, v]) => `${k} ${String(v)}`).join(', ') }));
      void qc.invalidateQueries({ queryKey: ['integration'] });
    },
  });
  const runCompensation = () =>
    modal.confirm({
      title: it('health.compensationConfirm'),
      okText: it('common.ok'),
      cancelText: it('common.cancel'),
      onOk: () => compensation.mutateAsync().catch((err: unknown) => void message.error(problem(err))),
    });

  return (
    <div data-testid="integration-health">
      <PageHead
        title={it('tab.health')}
        extra={
          <Space wrap>
            <Button icon={<SafetyOutlined />} onClick={runCompensation} loading={compensation.isPending} data-testid="run-compensation">
              {it('health.compensation')}
            </Button>
            <Button icon={<ReloadOutlined />} onClick={() => void Promise.all([health.refetch(), alerts.refetch()])} aria-label={it('common.refresh')} />
          </Space>
        }
      />
      {health.data ? (
        <Typography.Paragraph type="secondary">{it('health.generated', { at: when(health.data.generatedAt), tz: health.data.timezone })}</Typography.Paragraph>
      ) : null}
      <Typography.Title level={5}>{it('health.alerts')}</Typography.Title>
      {alerts.isError ? <QueryProblem error={alerts.error} /> : alerts.data ? <AlertList items={alerts.data} /> : null}
      <div className="int-seg">
        <Segmented
          aria-label={`${it('health.flows')} / ${it('health.connectors')}`}
          value={by}
          onChange={(v) => setBy(v === 'connector' ? 'connector' : 'flow')}
          options={[
            { value: 'flow', label: it('health.flows') },
            { value: 'connector', label: it('health.connectors') },
          ]}
          data-testid="health-by"
        />
      </div>
      {health.isError ? <QueryProblem error={health.error} /> : null}
      {health.data && !entries.length ? <Empty description={it('health.none')} /> : null}
      {entries.length ? (
        <>
          <Row gutter={[12, 12]}>
            <Col xs={24} lg={8}>
              <Card size="small" title={it('health.chartVolume')}>
                <Chart option={opts.volume} label={it('health.chartVolume')} loadingText={it('health.chartLoading')} testId="chart-volume" />
              </Card>
            </Col>
            <Col xs={24} lg={8}>
              <Card size="small" title={it('health.chartLatency')}>
                <Chart option={opts.latency} label={it('health.chartLatency')} loadingText={it('health.chartLoading')} testId="chart-latency" />
              </Card>
            </Col>
            <Col xs={24} lg={8}>
              <Card size="small" title={it('health.chartBacklog')}>
                <Chart option={opts.backlog} label={it('health.chartBacklog')} loadingText={it('health.chartLoading')} testId="chart-backlog" />
              </Card>
            </Col>
          </Row>
          <Row gutter={[12, 12]} style={{ marginTop: 12 }}>
            {entries.map((e) => (
              <Col xs={24} md={12} xl={8} key={e.id}>
                <EntryCard e={e} by={by} />
              </Col>
            ))}
          </Row>
        </>
      ) : null}
    </div>
  );
}
