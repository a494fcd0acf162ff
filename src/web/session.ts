// The signed-in user as a TanStack Query entry, plus the helpers screens share.
import { useQuery } from '@tanstack/react-query';
import { fetchMe, isApiError, type Department, type Me } from './api.ts';
import type { Locale, Translate } from './i18n/index.tsx';

export const ME_KEY = ['me'] as const;

export function useMe() {
  return useQuery({ queryKey: ME_KEY, queryFn: fetchMe, staleTime: 60_000 });
}

export function displayName(me: Me, locale: Locale): string {
  return locale === 'en' && me.displayNameEn ? me.displayNameEn : me.displayName;
}

export function departmentName(d: Department, locale: Locale): string {
  return locale === 'en' && d.nameEn ? d.nameEn : d.name;
}

/** What to tell a person about a failed call: the server's own detail when it gave one. */
export function errorText(err: unknown, t: Translate): string {
  if (isApiError(err)) {
    if (err.status === 0) return t('error.network');
    return err.detail ?? (err.title || t('error.http', { status: err.status }));
  }
  return err instanceof Error ? err.message : String(err);
}
