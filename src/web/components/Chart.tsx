// One ECharts chart (app dashboards, integration health), loaded on first use: ECharts is big and
// no screen without a chart pays for it. The canvas follows its box's size; a text summary beside
// it is what screen readers get.
import { useEffect, useRef, useState } from 'react';
import type { EChartsOption } from './echarts.ts';

type Lib = typeof import('./echarts.ts');
let loading: Promise<Lib> | null = null;
const loadECharts = () => (loading ??= import('./echarts.ts'));

export function Chart({ option, height = 260, label, loadingText, testId }: { option: EChartsOption; height?: number; label: string; loadingText: string; testId?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<ReturnType<Lib['echarts']['init']> | null>(null);
  const [ready, setReady] = useState(false);

  useEffect(() => {
    let disposed = false;
    let observer: ResizeObserver | null = null;
    void loadECharts().then(({ echarts }) => {
      if (disposed || !box.current) return;
      chart.current = echarts.init(box.current, undefined, { renderer: 'canvas' });
      observer = new ResizeObserver(() => chart.current?.resize());
      observer.observe(box.current);
      setReady(true);
    });
    return () => {
      disposed = true;
      observer?.disconnect();
      chart.current?.dispose();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    if (ready) chart.current?.setOption(option, { notMerge: true });
  }, [ready, option]);

  return (
    <div className="chart" role="img" aria-label={label} data-testid={testId} data-ready={ready ? 'true' : 'false'}>
      <div ref={box} style={{ height, width: '100%' }} />
      {!ready ? <div className="chart-loading">{loadingText}</div> : null}
    </div>
  );
}
