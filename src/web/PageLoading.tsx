// Shown while a lazily loaded page or the session arrives.
import { Spin } from 'antd';
import { useI18n } from './i18n/index.tsx';

export function PageLoading() {
  const { t } = useI18n();
  return (
    <div className="page-loading" role="status" aria-live="polite">
      <Spin size="large" />
      <span className="visually-hidden">{t('common.loading')}</span>
    </div>
  );
}
