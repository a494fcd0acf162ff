// The dashboard view's own strings (zh-CN first, English second), kept in its lazy chunk.
import { useCallback } from 'react';
import { useI18n, type Locale } from '../i18n/index.tsx';

const S = {
  title: ['看板', 'Dashboards'],
  loading: ['正在加载图表…', 'Loading the chart…'],
  empty: ['暂无数据', 'No data'],
  blank: ['（空）', '(empty)'],
  unavailable: ['无权查看此部件：{msg}', 'You may not see this widget: {msg}'],
  error: ['加载失败：{msg}', 'Could not load: {msg}'],
  truncated: ['仅显示前 {n} 项', 'Showing the first {n} only'],
  'range.all': ['全部', 'All'],
  'range.7': ['近 7 天', 'Last 7 days'],
  'range.30': ['近 30 天', 'Last 30 days'],
  'range.90': ['近 90 天', 'Last 90 days'],
  'range.365': ['近一年', 'Last year'],
  'op.count': ['数量', 'Count'],
  'op.sum': ['合计', 'Sum'],
  'op.avg': ['平均', 'Average'],
  'op.min': ['最小', 'Minimum'],
  'op.max': ['最大', 'Maximum'],
  'op.duration': ['时长', 'Duration'],
  'unit.minutes': ['分钟', 'minutes'],
  'unit.hours': ['小时', 'hours'],
  'unit.days': ['天', 'days'],
  cumulative: ['累计占比 %', 'Cumulative %'],
  chartLabel: ['{title}：{summary}', '{title}: {summary}'],
} as const;

export type DashKey = keyof typeof S;
export type DT = (key: DashKey, vars?: Record<string, string | number>) => string;

export function dashText(locale: Locale, key: DashKey, vars?: Record<string, string | number>): string {
  const text: string = S[key][locale === 'en' ? 1 : 0];
  return vars ? text.replace(/\{(\w+)\}/g, (w, n: string) => (n in vars ? String(vars[n]) : w)) : text;
}

export function useDashI18n(): { dt: DT; locale: Locale } {
  const { locale } = useI18n();
  const dt = useCallback<DT>((key, vars) => dashText(locale, key, vars), [locale]);
  return { dt, locale };
}
