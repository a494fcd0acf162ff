// How a value reads in a list cell or card: option labels, names instead of ids, yes/no, dates in
// the plant's time zone, exact decimals untouched.
import type { ReactNode } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Tag } from 'antd';
import { api, type DepartmentNode, type FieldDef, type OrgUser } from '../api.ts';
import type { Locale } from '../i18n/index.tsx';
import { formatDateTime, formatDuration, label } from './model.ts';

export type Names = Map<string, string>;

/** Names of people and departments by id, for cells (one cached request each). */
export function useNames(locale: Locale): Names {
  const users = useQuery({ queryKey: ['org-users-all'], queryFn: () => api.get<{ items: OrgUser[] }>('/org/users?limit=500&status=all'), staleTime: 300_000 });
  const deps = useQuery({ queryKey: ['org-departments'], queryFn: () => api.get<{ items: DepartmentNode[] }>('/org/departments'), staleTime: 300_000 });
  const m: Names = new Map();
  for (const u of users.data?.items ?? []) m.set(u.id, locale === 'en' && u.displayNameEn ? u.displayNameEn : u.displayName);
  const walk = (d: DepartmentNode) => {
    m.set(d.id, locale === 'en' && d.nameEn ? d.nameEn : d.name);
    d.children.forEach(walk);
  };
  (deps.data?.items ?? []).forEach(walk);
  return m;
}

export function cell(f: FieldDef, v: unknown, locale: Locale, names: Names): ReactNode {
  if (v === null || v === undefined || v === '') return <span className="cell-empty">—</span>;
  switch (f.type) {
    case 'boolean':
      return v ? '✓' : '✗';
    case 'select': {
      const o = f.options?.find((x) => x.value === v);
      return <Tag color={o?.color}>{o ? label(o.label, locale) : String(v)}</Tag>;
    }
    case 'multi_select':
      return (Array.isArray(v) ? v : []).map((x) => <Tag key={String(x)}>{label(f.options?.find((o) => o.value === x)?.label, locale) || String(x)}</Tag>);
    case 'user':
    case 'department':
      return names.get(String(v)) ?? String(v).slice(0, 8);
    case 'datetime':
      return formatDateTime(String(v), locale);
    case 'duration':
      return typeof v === 'number' ? formatDuration(v) : String(v);
    case 'money':
      return `¥${String(v)}`;
    case 'percent':
      return `${String(v)}%`;
    case 'attachment':
    case 'image':
      return `📎 ${(Array.isArray(v) ? v.length : 1)}`;
    case 'geolocation': {
      const g = v as { lat: number; lng: number };
      return `${g.lat}, ${g.lng}`;
    }
    case 'child_table':
      return Array.isArray(v) ? `${v.length}` : '';
    default:
      return typeof v === 'object' ? JSON.stringify(v).slice(0, 60) : String(v);
  }
}
