// The shell: language, theme, data cache, routes. Every page is loaded lazily so the first
// paint only carries React, the router, the query cache and antd's theme machinery.
import { lazy, Suspense, type ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { ConfigProvider } from 'antd';
import type { Locale as AntdLocale } from 'antd/es/locale/index.js';
import antdEnModule from 'antd/es/locale/en_US.js';
import antdZhModule from 'antd/es/locale/zh_CN.js';
import dayjs from 'dayjs';
import 'dayjs/locale/zh-cn.js';
import { isApiError, setApiLanguage } from './api.ts';
import { I18nProvider, useI18n } from './i18n/index.tsx';
import { PageLoading } from './PageLoading.tsx';
import { ME_KEY, useMe } from './session.ts';
import { prefetchInbox } from './runtime/hooks.ts';

const LoginPage = lazy(() => import('./pages/LoginPage.tsx'));
const AppLayout = lazy(() => import('./layout/AppLayout.tsx'));
const HomePage = lazy(() => import('./pages/HomePage.tsx'));
const AppPage = lazy(() => import('./pages/AppPage.tsx'));
const ListPage = lazy(() => import('./pages/ListPage.tsx'));
const RecordPage = lazy(() => import('./pages/RecordPage.tsx'));
const InboxPage = lazy(() => import('./pages/InboxPage.tsx'));
const TaskPage = lazy(() => import('./pages/TaskPage.tsx'));
const ApprovalPage = lazy(() => import('./pages/TaskPage.tsx').then((m) => ({ default: m.ApprovalPage })));
const ScanPage = lazy(() => import('./pages/ScanPage.tsx'));
const BuilderRoutes = lazy(() => import('./builder/BuilderRoutes.tsx'));
const IntegrationRoutes = lazy(() => import('./integration/IntegrationRoutes.tsx'));
const NotFoundPage = lazy(() => import('./pages/NotFoundPage.tsx'));
const SessionError = lazy(() => import('./pages/SessionError.tsx'));

/**
 * The code (and for the inbox, the data) of the page the URL opens is fetched while the session is
 * being checked, instead of one lazy chunk after the other: no request waterfall on a cold start.
 */
function preloadFor(pathname: string): void {
  if (pathname.startsWith('/login')) return;
  void import('./layout/AppLayout.tsx');
  if (pathname.startsWith('/inbox')) {
    void import('./pages/InboxPage.tsx');
    const tab = pathname.split('/')[2];
    prefetchInbox(queryClient, tab === 'done' || tab === 'cc' || tab === 'started' ? tab : 'todo');
  } else if (/^\/a\/[^/]+\/[^/]+\/[^/]+/.test(pathname)) void import('./pages/RecordPage.tsx');
  else if (/^\/a\/[^/]+\/[^/]+/.test(pathname)) void import('./pages/ListPage.tsx');
  else if (pathname.startsWith('/tasks/')) void import('./pages/TaskPage.tsx');
  else if (pathname === '/') void import('./pages/HomePage.tsx');
}

export const BRAND_COLOR = '#2f7d4f';

/** antd's locale files are ESM with a default export; under the repo-wide NodeNext type check
 * they look like CommonJS namespaces. The bundle gets the object itself; unwrap either way. */
function esmDefault<T>(mod: unknown): T {
  const m = mod as { default?: T };
  return m.default ?? (mod as T);
}
const antdEn = esmDefault<AntdLocale>(antdEnModule);
const antdZh = esmDefault<AntdLocale>(antdZhModule);

const queryClient: QueryClient = new QueryClient({
  queryCache: new QueryCache({
    // A query answered 401: the session ended (expired, signed out elsewhere). Forget the user
    // so the route guard sends the person to the login page.
    onError: (err, query) => {
      if (isApiError(err) && err.status === 401 && query.queryKey[0] !== ME_KEY[0]) queryClient.setQueryData(ME_KEY, null);
    },
  }),
  defaultOptions: {
    queries: {
      retry: (failures, err) => !(isApiError(err) && err.status >= 400 && err.status < 500) && failures < 2,
      refetchOnWindowFocus: false,
    },
  },
});

preloadFor(window.location.pathname);

function Themed({ children }: { children: ReactNode }) {
  const { locale } = useI18n();
  // Before any child fetches: the server may word problem details in this language.
  setApiLanguage(locale);
  dayjs.locale(locale === 'en' ? 'en' : 'zh-cn');
  return (
    <ConfigProvider
      locale={locale === 'en' ? antdEn : antdZh}
      theme={{ token: { colorPrimary: BRAND_COLOR, borderRadius: 6 } }}
      // No space pushed between two Chinese characters: a button reads 「登录」, as its label says.
      button={{ autoInsertSpace: false }}
    >
      {children}
    </ConfigProvider>
  );
}

/** Route guard: signed-in users get the layout, everyone else the login page. */
function RequireAuth() {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <PageLoading />;
  if (me.isError) return <SessionError error={me.error} onRetry={() => void me.refetch()} />;
  if (!me.data) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return <AppLayout me={me.data} />;
}

export function App() {
  return (
    <I18nProvider>
      <QueryClientProvider client={queryClient}>
        <Themed>
          <BrowserRouter>
            <Suspense fallback={<PageLoading />}>
              <Routes>
                <Route path="/login" element={<LoginPage />} />
                <Route element={<RequireAuth />}>
                  <Route index element={<HomePage />} />
                  {/* Runtime: /a/<app>/<entity>/<id|new> is also the QR code format (runtime/model.ts qrTarget). */}
                  <Route path="a/:app" element={<AppPage />} />
                  <Route path="a/:app/:entity" element={<ListPage />} />
                  <Route path="a/:app/:entity/:id" element={<RecordPage />} />
                  <Route path="inbox/:tab?" element={<InboxPage />} />
                  <Route path="tasks/:id" element={<TaskPage />} />
                  <Route path="approvals/:id" element={<ApprovalPage />} />
                  <Route path="scan" element={<ScanPage />} />
                  <Route path="builder/*" element={<BuilderRoutes />} />
                  <Route path="integration/*" element={<IntegrationRoutes />} />
                  {/* More areas: one lazy <Route path="area/*"> each, above the catch-all. */}
                  <Route path="*" element={<NotFoundPage />} />
                </Route>
              </Routes>
            </Suspense>
          </BrowserRouter>
        </Themed>
      </QueryClientProvider>
    </I18nProvider>
  );
}
