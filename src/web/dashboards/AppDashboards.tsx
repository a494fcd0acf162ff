// The dashboards of one app, on its home page: every widget the viewer may see, each fetched on
// its own (one aggregate query each, under the viewer's row scope), laid out in a grid that
// folds to one column on a phone. KPI numbers and tables show the exact decimals; charts are
// ECharts, loaded lazily the first time one is on screen.
import { useMemo, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Alert, Card, Col, Empty, Grid, Row, Segmented, Skeleton, Space, Statistic, Table, Tabs, Typography } from 'antd';
import type { DashboardDef, Widget } from '../../shared/dashboard-definition.ts';
import { api } from '../api.ts';
import type { Locale } from '../i18n/index.tsx';
import { errorText } from '../session.ts';
import { useI18n } from '../i18n/index.tsx';
import { Chart } from '../components/Chart.tsx';
import { useDashI18n, type DT } from './i18n.ts';
import { chartOption, fieldLabel, formatDecimal, keyText, measureName, measuresOf, summary, type DashApp, type WidgetData } from './options.ts';
import './dashboards.css';

type WidgetView = Widget & { available: boolean; reason?: string };
type DashboardView = Omit<DashboardDef, 'widgets'> & { widgets: WidgetView[] };

const RANGES = ['all', '7', '30', '90', '365'] as const;
type Range = (typeof RANGES)[number];

function rangeQuery(range: Range): string {
  if (range === 'all') return '';
  const day = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  const to = new Date();
  const from = new Date(to.getFullYear(), to.getMonth(), to.getDate() - Number(range) + 1);
  return `?from=${day(from)}&to=${day(to)}`;
}

const text = (l: { zh: string; en?: string } | undefined, locale: Locale) => (l ? (locale === 'en' && l.en ? l.en : l.zh) : '');

export default function AppDashboards({ app }: { app: DashApp }) {
  const { dt, locale } = useDashI18n();
  const q = useQuery({
    queryKey: ['dashboards', app.name],
    queryFn: () => api.get<{ dashboards: DashboardView[]; timezone: string }>(`/apps/${encodeURIComponent(app.name)}/dashboards`),
    staleTime: 60_000,
  });
  const [range, setRange] = useState<Range>('all');
  if (q.isPending) return <Skeleton active paragraph={{ rows: 3 }} />;
  if (q.isError) return <Alert type="warning" showIcon title={dt('error', { msg: q.error.message })} />;
  const boards = q.data.dashboards;
  if (!boards.length) return null;
  const head = (
    <Segmented<Range>
      size="small"
      value={range}
      onChange={setRange}
      options={RANGES.map((r) => ({ value: r, label: dt(`range.${r}` as const) }))}
      className="dash-range"
    />
  );
  const body = (d: DashboardView) => <Board key={d.name} app={app} board={d} range={range} dt={dt} locale={locale} />;
  return (
    <section className="dash" aria-label={dt('title')} data-testid="app-dashboards">
      {boards.length === 1 ? (
        <>
          <div className="dash-head">
            <Typography.Title level={4} className="dash-title">
              {text(boards[0]!.title, locale)}
            </Typography.Title>
            {head}
          </div>
          {body(boards[0]!)}
        </>
      ) : (
        <Tabs tabBarExtraContent={head} items={boards.map((d) => ({ key: d.name, label: text(d.title, locale), children: body(d) }))} />
      )}
    </section>
  );
}

function span(w: Widget): { xs: number; sm: number; lg: number } {
  if (w.kind === 'kpi') return { xs: 12, sm: 8, lg: 6 };
  if (w.width === 'full') return { xs: 24, sm: 24, lg: 24 };
  if (w.width === 'third') return { xs: 24, sm: 12, lg: 8 };
  return { xs: 24, sm: 24, lg: 12 };
}

function Board({ app, board, range, dt, locale }: { app: DashApp; board: DashboardView; range: Range; dt: DT; locale: Locale }) {
  return (
    <Space orientation="vertical" size="small" style={{ width: '100%' }}>
      {board.description ? <Typography.Paragraph type="secondary">{text(board.description, locale)}</Typography.Paragraph> : null}
      <Row gutter={[12, 12]}>
        {board.widgets
          .filter((w) => w.available)
          .map((w) => (
            <Col key={w.id} {...span(w)}>
              <WidgetCard app={app} board={board.name} widget={w} range={range} dt={dt} locale={locale} />
            </Col>
          ))}
      </Row>
    </Space>
  );
}

function WidgetCard({ app, board, widget: w, range, dt, locale }: { app: DashApp; board: string; widget: WidgetView; range: Range; dt: DT; locale: Locale }) {
  const { t } = useI18n();
  const screens = Grid.useBreakpoint();
  const narrow = !screens.md;
  const q = useQuery({
    queryKey: ['dashboard-data', app.name, board, w.id, range],
    queryFn: () => api.get<WidgetData>(`/apps/${encodeURIComponent(app.name)}/dashboards/${encodeURIComponent(board)}/widgets/${encodeURIComponent(w.id)}/data${rangeQuery(range)}`),
    staleTime: 30_000,
  });
  const title = text(w.title, locale);
  const option = useMemo(() => (q.data && w.kind !== 'kpi' && w.kind !== 'table' ? chartOption(app, w, q.data, locale, dt, narrow) : null), [app, w, q.data, locale, dt, narrow]);
  let content;
  if (q.isPending) content = <Skeleton active paragraph={{ rows: w.kind === 'kpi' ? 1 : 4 }} title={false} />;
  else if (q.isError) content = <Alert type="warning" showIcon title={dt('error', { msg: errorText(q.error, t) })} />;
  else if (w.kind === 'kpi') {
    const m = measuresOf(w)[0]!;
    content = <Statistic value={formatDecimal(q.data.rows[0]?.values[m.id])} suffix={m.op === 'duration' ? dt(`unit.${m.unit ?? 'hours'}`) : undefined} />;
  } else if (!q.data.rows.length) content = <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={dt('empty')} />;
  else if (w.kind === 'table') content = <WidgetTable app={app} widget={w} data={q.data} dt={dt} locale={locale} />;
  else content = <Chart option={option!} height={narrow ? 240 : 280} label={dt('chartLabel', { title, summary: summary(q.data, locale, dt) })} loadingText={dt('loading')} testId={`chart-${w.id}`} />;
  return (
    <Card size="small" variant="borderless" className={`dash-card dash-${w.kind}`} title={w.kind === 'kpi' ? undefined : title} data-testid={`widget-${w.id}`}>
      {w.kind === 'kpi' ? <div className="dash-kpi-title">{title}</div> : null}
      {content}
      {q.data?.truncated ? <Typography.Text type="secondary" className="dash-note">{dt('truncated', { n: q.data.rows.length })}</Typography.Text> : null}
    </Card>
  );
}

function WidgetTable({ app, widget: w, data, dt, locale }: { app: DashApp; widget: Widget; data: WidgetData; dt: DT; locale: Locale }) {
  const measures = measuresOf(w);
  const columns = [
    ...data.groups.map((g, i) => ({
      key: `g${i}`,
      title: fieldLabel(app, w.entity, g.field, locale),
      render: (_: unknown, r: WidgetData['rows'][number]) => keyText(r.keys[i] ?? null, r.labels[i] ?? null, g.bucket, locale, dt),
    })),
    ...measures.map((m) => ({
      key: m.id,
      title: measureName(app, w, m, locale, dt),
      align: 'right' as const,
      render: (_: unknown, r: WidgetData['rows'][number]) => formatDecimal(r.values[m.id]),
    })),
  ];
  return (
    <Table
      size="small"
      pagination={data.rows.length > 10 ? { pageSize: 10, size: 'small' } : false}
      scroll={{ x: 'max-content' }}
      rowKey={(r) => r.keys.join('\u0000') || 'total'}
      columns={columns}
      dataSource={data.rows}
    />
  );
}
