// The integration screens under /integration (loaded lazily: other pages never carry them, and
// ECharts is loaded only when the health dashboard draws).
import { lazy, Suspense } from 'react';
import { Link, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { Result, Typography } from 'antd';
import { useMe } from '../session.ts';
import { PageLoading } from '../PageLoading.tsx';
import { useIntegrationI18n, type IntegrationKey } from './i18n.ts';
import './integration.css';

const HealthPage = lazy(() => import('./HealthPage.tsx'));
const DeliveriesPage = lazy(() => import('./DeliveriesPage.tsx'));
const ConnectorsPage = lazy(() => import('./ConnectorsPage.tsx'));
const FlowsPage = lazy(() => import('./FlowsPage.tsx'));
const MasterDataPage = lazy(() => import('./MasterDataPage.tsx'));

/** Who sees the menu entry. The server decides the rest: connectors, flows and deliveries need
 * admin or integration_engineer, pull jobs admin or it_admin; a tab it refuses shows why. */
export const INTEGRATION_ROLES = ['admin', 'it_admin', 'integration_engineer'];

const TABS: Array<{ path: string; key: IntegrationKey }> = [
  { path: 'health', key: 'tab.health' },
  { path: 'deliveries', key: 'tab.deliveries' },
  { path: 'connectors', key: 'tab.connectors' },
  { path: 'flows', key: 'tab.flows' },
  { path: 'masterdata', key: 'tab.masterdata' },
];

function SubNav() {
  const { it } = useIntegrationI18n();
  const { pathname } = useLocation();
  return (
    <nav className="int-tabs" aria-label={it('title')}>
      {TABS.map((t) => {
        const active = pathname.startsWith(`/integration/${t.path}`);
        return (
          <Link key={t.path} to={`/integration/${t.path}`} className={`int-tab${active ? ' is-active' : ''}`} aria-current={active ? 'page' : undefined} data-testid={`int-tab-${t.path}`}>
            {it(t.key)}
          </Link>
        );
      })}
    </nav>
  );
}

export default function IntegrationRoutes() {
  const me = useMe();
  const { it } = useIntegrationI18n();
  if (me.data && !me.data.roles.some((r) => INTEGRATION_ROLES.includes(r))) {
    return <Result status="403" title="403" subTitle={it('forbidden')} />;
  }
  return (
    <div className="int-page">
      <Typography.Title level={3} className="int-title">
        {it('title')}
      </Typography.Title>
      <SubNav />
      <Suspense fallback={<PageLoading />}>
        <Routes>
          <Route index element={<Navigate to="health" replace />} />
          <Route path="health" element={<HealthPage />} />
          <Route path="deliveries" element={<DeliveriesPage />} />
          <Route path="connectors" element={<ConnectorsPage />} />
          <Route path="flows" element={<FlowsPage />} />
          <Route path="masterdata" element={<MasterDataPage />} />
          <Route path="*" element={<Navigate to="health" replace />} />
        </Routes>
      </Suspense>
    </div>
  );
}
