// Widget data → what the screen draws: category names, series, ECharts options, table rows.
// Pure functions (no React, no ECharts import), so the chart chunk stays the only heavy part.
// Values arrive as exact decimal strings; charts get numbers, numbers and tables show the text.
import type { Bucket, NamedMeasure, Widget, WidgetData, WidgetRow } from '../../shared/dashboard-definition.ts';
export type { WidgetData, WidgetRow } from '../../shared/dashboard-definition.ts';
import type { Locale } from '../i18n/index.tsx';
import type { DT } from './i18n.ts';

type Label = { zh: string; en?: string };
/** What the dashboard view needs of an app definition (the web's and the shared type both fit). */
export interface DashApp {
  name: string;
  entities: ReadonlyArray<{ name: string; fields: ReadonlyArray<{ name: string; label: Label }> }>;
  dashboards?: unknown[];
}

const text = (l: Label | null | undefined, locale: Locale) => (l ? (locale === 'en' && l.en ? l.en : l.zh) : '');

/** A column's label from the app definition (system columns by name). */
export function fieldLabel(app: DashApp, entity: string, field: string, locale: Locale): string {
  const f = app.entities.find((e) => e.name === entity)?.fields.find((x) => x.name === field);
  return f ? text(f.label, locale) : field;
}

/** Legend / column name of a measure: its label, else "Average Downtime (min)", "Duration (hours)". */
export function measureName(app: DashApp, w: Widget, m: NamedMeasure, locale: Locale, dt: DT): string {
  if (m.label) return text(m.label, locale);
  if (m.op === 'count') return dt('op.count');
  if (m.op === 'duration') {
    const span = `${fieldLabel(app, w.entity, m.from ?? '', locale)} → ${fieldLabel(app, w.entity, m.to ?? '', locale)}`;
    return `${dt(`op.${m.agg ?? 'avg'}`)}${dt('op.duration')} (${dt(`unit.${m.unit ?? 'hours'}`)}) ${span}`;
  }
  return `${dt(`op.${m.op}`)} ${fieldLabel(app, w.entity, m.field ?? '', locale)}`;
}

/** How a group key reads: its label, a formatted time bucket, or the raw key. */
export function keyText(key: string | null, label: Label | null, bucket: Bucket | undefined, locale: Locale, dt: DT): string {
  if (key === null) return dt('blank');
  if (label) return text(label, locale);
  if (bucket === 'month') return key.slice(0, 7);
  if (bucket === 'year') return key.slice(0, 4);
  if (bucket === 'quarter') return `${key.slice(0, 4)} Q${Math.floor((Number(key.slice(5, 7)) - 1) / 3) + 1}`;
  return key;
}

const num = (v: string | null | undefined): number | null => (v === null || v === undefined ? null : Number(v));

/** The next bucket start after `key` ('YYYY-MM-DD'). */
function nextBucket(key: string, bucket: Bucket): string {
  const d = new Date(`${key}T00:00:00Z`);
  if (bucket === 'day') d.setUTCDate(d.getUTCDate() + 1);
  else if (bucket === 'week') d.setUTCDate(d.getUTCDate() + 7);
  else if (bucket === 'month') d.setUTCMonth(d.getUTCMonth() + 1);
  else if (bucket === 'quarter') d.setUTCMonth(d.getUTCMonth() + 3);
  else d.setUTCFullYear(d.getUTCFullYear() + 1);
  return d.toISOString().slice(0, 10);
}

/** Time categories with the empty buckets between the first and the last filled in (at most 400). */
export function fillBuckets(keys: string[], bucket: Bucket): string[] {
  const sorted = [...new Set(keys)].sort();
  if (sorted.length < 2) return sorted;
  const out: string[] = [];
  for (let k = sorted[0]!; k <= sorted.at(-1)! && out.length < 400; k = nextBucket(k, bucket)) out.push(k);
  return out.length >= 400 ? sorted : out;
}

export interface Series {
  name: string;
  data: Array<number | null>;
}
export interface Pivot {
  categories: string[];
  series: Series[];
}

/** Categories × series: by measure (no or one group), or by the second group (two groups). */
export function pivot(app: DashApp, w: Widget, measures: NamedMeasure[], data: WidgetData, locale: Locale, dt: DT): Pivot {
  const g0 = data.groups[0];
  const names = measures.map((m) => measureName(app, w, m, locale, dt));
  if (!g0) {
    // no group: one bar per measure (e.g. average hours per stage and overall)
    const row = data.rows[0];
    return { categories: names, series: [{ name: text(w.title, locale), data: measures.map((m) => num(row?.values[m.id])) }] };
  }
  const bucket = g0.bucket;
  const rowKey = (r: WidgetRow) => r.keys[0] ?? '';
  let keys = data.rows.map(rowKey).filter((k, i, a) => a.indexOf(k) === i);
  const fill = bucket && data.rows.every((r) => r.keys[0] !== null) && w.kind === 'line';
  if (fill) keys = fillBuckets(keys, bucket);
  const labelOf = new Map(data.rows.map((r) => [rowKey(r), keyText(r.keys[0] ?? null, r.labels[0] ?? null, bucket, locale, dt)]));
  const categories = keys.map((k) => labelOf.get(k) ?? keyText(k, null, bucket, locale, dt));
  const g1 = data.groups[1];
  if (!g1) {
    const byKey = new Map(data.rows.map((r) => [rowKey(r), r]));
    return {
      categories,
      series: measures.map((m, i) => ({ name: names[i]!, data: keys.map((k) => num(byKey.get(k)?.values[m.id]) ?? (fill ? 0 : null)) })),
    };
  }
  const m = measures[0]!;
  const seriesKeys = data.rows.map((r) => r.keys[1] ?? '').filter((k, i, a) => a.indexOf(k) === i);
  const cell = new Map(data.rows.map((r) => [`${rowKey(r)}\u0000${r.keys[1] ?? ''}`, num(r.values[m.id])]));
  const seriesName = new Map(data.rows.map((r) => [r.keys[1] ?? '', keyText(r.keys[1] ?? null, r.labels[1] ?? null, g1.bucket, locale, dt)]));
  return {
    categories,
    series: seriesKeys.map((s) => ({ name: seriesName.get(s)!, data: keys.map((k) => cell.get(`${k}\u0000${s}`) ?? (fill ? 0 : null)) })),
  };
}

const PALETTE = ['#2f7d4f', '#1677ff', '#fa8c16', '#cf1322', '#722ed1', '#13c2c2', '#a0d911', '#eb2f96'];

/** ECharts options for the chart kinds (kpi and table are drawn without ECharts). */
export function chartOption(app: DashApp, w: Widget, data: WidgetData, locale: Locale, dt: DT, narrow: boolean): Record<string, unknown> {
  const measures = measuresOf(w);
  const base = { color: PALETTE, aria: { enabled: true }, tooltip: { trigger: w.kind === 'pie' ? 'item' : 'axis', confine: true } };
  const grid = { left: 8, right: w.kind === 'pareto' ? 8 : 16, top: 36, bottom: 8, containLabel: true };
  const axisLabel = { hideOverlap: true, ...(narrow ? { rotate: 30, fontSize: 10 } : {}) };
  if (w.kind === 'pie') {
    const m = measures[0]!;
    const g = data.groups[0];
    return {
      ...base,
      legend: { type: 'scroll', bottom: 0 },
      series: [
        {
          type: 'pie',
          radius: narrow ? ['30%', '60%'] : ['35%', '65%'],
          center: ['50%', '45%'],
          label: { show: !narrow, formatter: '{b}: {d}%' },
          data: data.rows.map((r) => ({ name: keyText(r.keys[0] ?? null, r.labels[0] ?? null, g?.bucket, locale, dt), value: num(r.values[m.id]) })),
        },
      ],
    };
  }
  if (w.kind === 'pareto') {
    const m = measures[0]!;
    const g = data.groups[0];
    return {
      ...base,
      grid,
      legend: { top: 0 },
      xAxis: { type: 'category', data: data.rows.map((r) => keyText(r.keys[0] ?? null, r.labels[0] ?? null, g?.bucket, locale, dt)), axisLabel },
      yAxis: [{ type: 'value' }, { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } }],
      series: [
        { type: 'bar', name: measureName(app, w, m, locale, dt), data: data.rows.map((r) => num(r.values[m.id])) },
        { type: 'line', name: dt('cumulative'), yAxisIndex: 1, smooth: false, symbolSize: 6, data: data.rows.map((r) => num(r.cumulativePercent)) },
      ],
    };
  }
  const p = pivot(app, w, measures, data, locale, dt);
  const stacked = w.kind === 'stacked_bar';
  const type = w.kind === 'line' ? 'line' : 'bar';
  return {
    ...base,
    grid,
    legend: p.series.length > 1 ? { type: 'scroll', top: 0 } : undefined,
    xAxis: { type: 'category', data: p.categories, axisLabel },
    yAxis: { type: 'value' },
    series: p.series.map((s) => ({ type, name: s.name, data: s.data, ...(stacked ? { stack: 'total' } : {}), ...(type === 'line' ? { connectNulls: true, symbolSize: 5 } : { barMaxWidth: 48 }) })),
  };
}

export function measuresOf(w: Widget): NamedMeasure[] {
  const list = w.measures ?? (w.measure ? [w.measure] : []);
  return list.map((m, i) => ({ ...m, id: m.id ?? `m${i + 1}` }));
}

/** A short text of the data, for screen readers and the chart's aria label. */
export function summary(data: WidgetData, locale: Locale, dt: DT): string {
  if (!data.rows.length) return dt('empty');
  return data.rows
    .slice(0, 12)
    .map((r) => {
      const k = r.keys.map((key, i) => keyText(key, r.labels[i] ?? null, data.groups[i]?.bucket, locale, dt)).join(' / ');
      const v = Object.values(r.values).map((x) => x ?? '—').join(', ');
      return k ? `${k} ${v}` : v;
    })
    .join('; ');
}

/** Thousands separators on an exact decimal string, without turning it into a float. */
export function formatDecimal(v: string | null | undefined): string {
  if (v === null || v === undefined) return '—';
  const m = /^(-?)(\d+)(\.\d+)?$/.exec(v);
  if (!m) return v;
  return `${m[1]}${m[2]!.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${m[3] ?? ''}`;
}
