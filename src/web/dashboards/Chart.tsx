// One ECharts canvas, loaded on first use (ECharts is big; only screens with a chart pay for it).
// The canvas follows its box's size; the text summary is what screen readers get.
import { useEffect, useRef, useState } from 'react';

type Lib = typeof import('./echarts.ts');
let loading: Promise<Lib> | null = null;
const loadECharts = () => (loading ??= import('./echarts.ts'));

export function Chart({ option, height, label, loadingText, testId }: { option: Record<string, unknown>; height: number; label: string; loadingText: string; testId?: string }) {
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
    <div className="dash-chart" role="img" aria-label={label} data-testid={testId} data-ready={ready ? 'true' : 'false'}>
      <div ref={box} style={{ height, width: '100%' }} />
      {!ready ? <div className="dash-chart-loading">{loadingText}</div> : null}
    </div>
  );
}
