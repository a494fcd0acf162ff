// Data hooks the runtime pages share.
import { useQuery } from '@tanstack/react-query';
import { useOutletContext } from 'react-router-dom';
import { api, type AppSummary, type InboxCounts, type Me, type PublishedApp } from '../api.ts';

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
  return useQuery({ queryKey: COUNTS_KEY, queryFn: () => api.get<InboxCounts>('/workflow/inbox/counts'), staleTime: 15_000, refetchInterval: 60_000 });
}
