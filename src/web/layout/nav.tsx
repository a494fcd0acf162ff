// The main menu: one entry per area. To add an area, append one item here (and one lazy route in
// App.tsx). Labels are inline in both languages so an area can bring its own wording; `roles`
// limits an entry to people with one of those roles; `badge` shows the inbox's to-do count.
import type { ReactNode } from 'react';
import { ApiOutlined, AppstoreOutlined, AuditOutlined, BuildOutlined, CalendarOutlined, ScanOutlined } from '@ant-design/icons';

export interface NavItem {
  key: string;
  /** Where it goes; the entry is active on this path and below. */
  path: string;
  icon: ReactNode;
  label: { zh: string; en: string };
  roles?: string[];
  badge?: 'todo';
  /** Shown in the phone's bottom bar (at most four). */
  mobile?: boolean;
}

export const NAV_ITEMS: NavItem[] = [
  { key: 'apps', path: '/', icon: <AppstoreOutlined />, label: { zh: '应用', en: 'Apps' }, mobile: true },
  { key: 'inbox', path: '/inbox', icon: <AuditOutlined />, label: { zh: '待办', en: 'Inbox' }, badge: 'todo', mobile: true },
  { key: 'scan', path: '/scan', icon: <ScanOutlined />, label: { zh: '扫码', en: 'Scan' }, mobile: true },
  { key: 'builder', path: '/builder', icon: <BuildOutlined />, label: { zh: '应用搭建', en: 'App builder' }, roles: ['admin', 'it_admin', 'app_builder'], mobile: false },
  { key: 'integration', path: '/integration', icon: <ApiOutlined />, label: { zh: '集成中心', en: 'Integration' }, roles: ['admin', 'it_admin', 'integration_engineer'], mobile: false },
  // plant settings: the server lets only administrators change calendars. On the phone too (holidays
  // and 调休 days are announced at short notice and typed wherever the administrator is): with the
  // three entries everyone has, an administrator's bottom bar holds four.
  { key: 'calendars', path: '/calendars', icon: <CalendarOutlined />, label: { zh: '工作日历', en: 'Calendars' }, roles: ['admin'], mobile: true },
];
