// A light stand-in for antd's Result (whose illustrations weigh ~10 KB): a message and a way back.
import { Link } from 'react-router-dom';
import { Alert } from 'antd';
import { useI18n } from '../i18n/index.tsx';

export function ErrorResult({ title, detail }: { title: string; detail?: string }) {
  const { t } = useI18n();
  return (
    <div className="error-result">
      <Alert type="warning" showIcon title={title} description={detail} />
      <Link to="/" className="error-result-back">
        {t('notFound.back')}
      </Link>
    </div>
  );
}
