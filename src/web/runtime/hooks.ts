// Data hooks the runtime pages share.
import { useQuery, type QueryClient } from '@tanstack/react-query';
import { useOutletContext } from 'react-router-dom';
import { api, type AppSummary, type InboxCounts, type InboxItem, type Me, type PublishedApp } from '../api.ts';

export const useMeContext = () => useOutletContext<Me>();

export function useApps() {
  return useQuery({ queryKey: ['apps'], queryFn: () => api.get<{ apps: AppSummary[] }>('/apps'), staleTime: 60_000 });
}

export function useAppDef(app: string | undefined) {
  return useQuery({
    queryKey: ['app', app],
    queryFn: () => api.get<PublishedApp>(`/apps/${encodeURIComponent(app ?? '')}`),
    enabled: Boolean(app),
    staleTime: 60_000,
  });
}

export const COUNTS_KEY = ['inbox-counts'] as const;

export function useInboxCounts() {
  return useQuery({ queryKey: COUNTS_KEY, queryFn: fetchCounts, staleTime: 15_000, refetchInterval: 60_000 });
}

export type InboxTab = 'todo' | 'done' | 'cc' | 'started';
export const inboxKey = (tab: InboxTab) => ['inbox', tab] as const;
export const fetchInboxPage = (tab: InboxTab, cursor: string | null) =>
  api.get<{ items: InboxItem[]; nextCursor: string | null }>(`/workflow/inbox/${tab}?limit=30${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
const fetchCounts = () => api.get<InboxCounts>('/workflow/inbox/counts');

/** How long a fetched inbox list counts as fresh: the page opened right after start-up uses the
 * list prefetched for it instead of asking again. Approving or rejecting invalidates it at once. */
export const INBOX_STALE_MS = 5_000;

/** Starts the inbox's requests while its code is still loading (used at start-up on /inbox). */
export function prefetchInbox(queryClient: QueryClient, tab: InboxTab): void {
  void queryClient.prefetchQuery({ queryKey: COUNTS_KEY, queryFn: fetchCounts, staleTime: 15_000 });
  void queryClient.prefetchInfiniteQuery({ queryKey: inboxKey(tab), queryFn: ({ pageParam }) => fetchInboxPage(tab, pageParam), initialPageParam: null as string | null, staleTime: INBOX_STALE_MS });
}
