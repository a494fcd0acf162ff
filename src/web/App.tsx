// The shell: language, theme, data cache, routes. Every page is loaded lazily so the first
// paint only carries React, the router, the query cache and antd's theme machinery.
import { Suspense, useEffect, useState, type ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { ConfigProvider } from 'antd';
import type { Locale as AntdLocale } from 'antd/es/locale/index.js';
import antdEnModule from 'antd/es/locale/en_US.js';
import antdZhModule from 'antd/es/locale/zh_CN.js';
import dayjs from 'dayjs';
import 'dayjs/locale/zh-cn.js';
import { fetchMe, isApiError, setApiLanguage } from './api.ts';
import { I18nProvider, useI18n } from './i18n/index.tsx';
import { lazyPage } from './lazyPage.ts';
import { PageLoading } from './PageLoading.tsx';
import { ME_KEY, useMe } from './session.ts';
import { PUBLIC_PATH, startModule, type StartModule } from './startPages.ts';
import { prefetchInbox } from './runtime/hooks.ts';

const LoginPage = lazyPage(() => import('./pages/LoginPage.tsx'));
const AppLayout = lazyPage(() => import('./layout/AppLayout.tsx'));
const HomePage = lazyPage(() => import('./pages/HomePage.tsx'));
const AppPage = lazyPage(() => import('./pages/AppPage.tsx'));
const ListPage = lazyPage(() => import('./pages/ListPage.tsx'));
const RecordPage = lazyPage(() => import('./pages/RecordPage.tsx'));
const InboxPage = lazyPage(() => import('./pages/InboxPage.tsx'));
const TaskPage = lazyPage(() => import('./pages/TaskPage.tsx'));
const ApprovalPage = lazyPage(() => import('./pages/TaskPage.tsx').then((m) => ({ default: m.ApprovalPage })));
const ScanPage = lazyPage(() => import('./pages/ScanPage.tsx'));
const BuilderRoutes = lazyPage(() => import('./builder/BuilderRoutes.tsx'));
const IntegrationRoutes = lazyPage(() => import('./integration/IntegrationRoutes.tsx'));
const CalendarsPage = lazyPage(() => import('./calendars/CalendarsPage.tsx'));
const NotFoundPage = lazyPage(() => import('./pages/NotFoundPage.tsx'));
const SessionError = lazyPage(() => import('./pages/SessionError.tsx'));
const START_CODE: Record<StartModule, { preload: () => Promise<unknown> }> = {
  'pages/InboxPage.tsx': InboxPage,
  'pages/RecordPage.tsx': RecordPage,
  'pages/ListPage.tsx': ListPage,
  'pages/TaskPage.tsx': TaskPage,
  'pages/HomePage.tsx': HomePage,
};

/**
 * The code (and for the inbox, the data) of the page the URL opens is fetched while the session is
 * being checked, instead of one lazy chunk after the other: no request waterfall on a cold start.
 * The route guard waits for that code (`startupCode`) before it renders the layout, so the first
 * page never suspends: a Suspense fallback would make React hold the page back for up to 300 ms
 * after the code arrived (its reveal throttle).
 */
function preloadFor(pathname: string): Promise<unknown> {
  if (PUBLIC_PATH.test(pathname)) return Promise.resolve();
  // The session check gates every page: ask for it now, not after the first render.
  void queryClient.prefetchQuery({ queryKey: ME_KEY, queryFn: fetchMe, staleTime: 60_000 });
  const page = startModule(pathname);
  if (page === 'pages/InboxPage.tsx') {
    const tab = pathname.split('/')[2];
    prefetchInbox(queryClient, tab === 'done' || tab === 'cc' || tab === 'started' ? tab : 'todo');
  }
  // A chunk that failed to load is reported by the page's own lazy render, not here.
  return Promise.allSettled([AppLayout.preload(), ...(page ? [START_CODE[page].preload()] : [])]);
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

let startupCodeReady = false;
const startupCode = preloadFor(window.location.pathname).then(() => {
  startupCodeReady = true;
});

/** True once the code preloaded for the start URL has arrived (or failed). */
function useStartupCode(): boolean {
  const [ready, setReady] = useState(startupCodeReady);
  useEffect(() => {
    if (ready) return;
    let live = true;
    void startupCode.then(() => live && setReady(true));
    return () => {
      live = false;
    };
  }, [ready]);
  return ready;
}

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
  const codeReady = useStartupCode();
  const location = useLocation();
  if (me.isPending) return <PageLoading />;
  if (me.isError) return <SessionError error={me.error} onRetry={() => void me.refetch()} />;
  if (!me.data) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  if (!codeReady) return <PageLoading />;
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
                  <Route path="calendars" element={<CalendarsPage />} />
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
