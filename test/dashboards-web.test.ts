// The dashboard view's pure half: pivoting widget rows into chart series, time gaps, labels and
// exact-decimal formatting (what the phone and the office PC draw from the same answer).
import { describe, expect, it } from 'vitest';
import type { Widget } from '../src/shared/dashboard-definition.ts';
import { dashText } from '../src/web/dashboards/i18n.ts';
import { chartOption, fillBuckets, formatDecimal, keyText, measuresOf, pivot, type DashApp, type WidgetData } from '../src/web/dashboards/options.ts';

const dt = (k: Parameters<typeof dashText>[1], v?: Record<string, string | number>) => dashText('zh-CN', k, v);
const app: DashApp = { name: 'a', entities: [{ name: 't', fields: [{ name: 'downtime', label: { zh: '停机', en: 'Downtime' } }, { name: 'line', label: { zh: '产线' } }] }] };
const w = (o: Partial<Widget>): Widget => ({ id: 'w', kind: 'bar', title: { zh: '图' }, entity: 't', measure: { op: 'count' }, ...o }) as Widget;
const data = (o: Partial<WidgetData>): WidgetData => ({ dashboard: 'd', widget: 'w', kind: 'bar', groups: [], measures: [], rows: [], truncated: false, timezone: 'Asia/Shanghai', ...o });

describe('dashboard view helpers', () => {
  it('fills empty day, week and month buckets between the first and last', () => {
    expect(fillBuckets(['2026-03-02', '2026-03-05'], 'day')).toEqual(['2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05']);
    expect(fillBuckets(['2026-03-16', '2026-03-02'], 'week')).toEqual(['2026-03-02', '2026-03-09', '2026-03-16']);
    expect(fillBuckets(['2026-01-01', '2026-04-01'], 'month')).toEqual(['2026-01-01', '2026-02-01', '2026-03-01', '2026-04-01']);
  });

  it('pivots two group-bys into one series per second key, zero-filled on line charts', () => {
    const widget = w({ kind: 'line', groupBy: [{ field: 'x', bucket: 'day' }, { field: 'line' }] });
    const d = data({
      groups: [{ field: 'x', kind: 'datetime', bucket: 'day' }, { field: 'line', kind: 'select' }],
      rows: [
        { keys: ['2026-03-01', 'l1'], labels: [null, { zh: '一线' }], values: { m1: '2' } },
        { keys: ['2026-03-03', 'l2'], labels: [null, { zh: '二线' }], values: { m1: '5' } },
      ],
    });
    expect(pivot(app, widget, measuresOf(widget), d, 'zh-CN', dt)).toEqual({
      categories: ['2026-03-01', '2026-03-02', '2026-03-03'],
      series: [
        { name: '一线', data: [2, 0, 0] },
        { name: '二线', data: [0, 0, 5] },
      ],
    });
  });

  it('draws several measures without a group as one bar per measure', () => {
    const widget = w({ measure: undefined, measures: [{ op: 'duration', from: 'a', to: 'b', label: { zh: '响应' } }, { op: 'avg', field: 'downtime' }] });
    const p = pivot(app, widget, measuresOf(widget), data({ rows: [{ keys: [], labels: [], values: { m1: '1.50', m2: null } }] }), 'zh-CN', dt);
    expect(p).toEqual({ categories: ['响应', '平均 停机'], series: [{ name: '图', data: [1.5, null] }] });
  });

  it('labels keys: definition labels, empty, quarters and months', () => {
    expect(keyText(null, null, undefined, 'en', (k) => dashText('en', k))).toBe('(empty)');
    expect(keyText('l1', { zh: '一线', en: 'Line 1' }, undefined, 'en', (k) => dashText('en', k))).toBe('Line 1');
    expect(keyText('2026-07-01', null, 'quarter', 'zh-CN', dt)).toBe('2026 Q3');
    expect(keyText('2026-07-01', null, 'month', 'zh-CN', dt)).toBe('2026-07');
  });

  it('pareto: bars by value and the cumulative line on a 0–100 % axis', () => {
    const widget = w({ kind: 'pareto', groupBy: [{ field: 'line' }] });
    const o = chartOption(
      app,
      widget,
      data({ kind: 'pareto', groups: [{ field: 'line', kind: 'select' }], rows: [{ keys: ['a'], labels: [null], values: { m1: '3' }, cumulativePercent: '75.00' }, { keys: ['b'], labels: [null], values: { m1: '1' }, cumulativePercent: '100.00' }] }),
      'zh-CN',
      dt,
      true,
    ) as { series: Array<{ type: string; data: unknown[]; yAxisIndex?: number }>; yAxis: Array<{ max?: number }> };
    expect(o.series.map((s) => [s.type, s.data, s.yAxisIndex ?? 0])).toEqual([['bar', [3, 1], 0], ['line', [75, 100], 1]]);
    expect(o.yAxis[1]!.max).toBe(100);
  });

  it('formats exact decimals without floats', () => {
    expect(formatDecimal('12345678901234567890.05')).toBe('12,345,678,901,234,567,890.05');
    expect(formatDecimal('-1234')).toBe('-1,234');
    expect(formatDecimal(null)).toBe('—');
  });
});
