// The builder's routes under /builder (loaded lazily: the runtime pages never carry it).
import { Route, Routes } from 'react-router-dom';
import { Result } from 'antd';
import AppEditorPage from './AppEditorPage.tsx';
import AppListPage from './AppListPage.tsx';
import { useBuilderI18n } from './i18n.ts';
import { useMe } from '../session.ts';
import './builder.css';

/** Roles that may design and publish apps (the server checks the same list). */
export const BUILDER_ROLES = ['admin', 'it_admin', 'app_builder'];

export default function BuilderRoutes() {
  const me = useMe();
  const { locale } = useBuilderI18n();
  if (me.data && !me.data.roles.some((r) => BUILDER_ROLES.includes(r))) {
    return <Result status="403" title="403" subTitle={locale === 'en' ? 'Only administrators, IT administrators and app builders can design apps.' : '只有管理员、IT 管理员和应用搭建者可以设计应用。'} />;
  }
  return (
    <Routes>
      <Route index element={<AppListPage />} />
      <Route path="apps/:app" element={<AppEditorPage />} />
    </Routes>
  );
}
