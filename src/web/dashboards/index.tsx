// The dashboards slot of an app's home page: nothing for apps without dashboards; otherwise the
// dashboard view, whose code (and later ECharts) loads only then.
import { lazy, Suspense } from 'react';
import type { DashApp } from './options.ts';

const AppDashboards = lazy(() => import('./AppDashboards.tsx'));

export function AppDashboardsSlot({ app }: { app: DashApp }) {
  if (!app.dashboards?.length) return null;
  return (
    <Suspense fallback={null}>
      <AppDashboards app={app} />
    </Suspense>
  );
}
