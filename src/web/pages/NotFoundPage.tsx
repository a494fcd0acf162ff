// Any unknown path inside the signed-in app.
import { useNavigate } from 'react-router-dom';
import { Button, Result } from 'antd';
import { useI18n } from '../i18n/index.tsx';

export default function NotFoundPage() {
  const { t } = useI18n();
  const navigate = useNavigate();
  return (
    <Result
      status="404"
      title={t('notFound.title')}
      extra={
        <Button type="primary" onClick={() => void navigate('/')}>
          {t('notFound.back')}
        </Button>
      }
    />
  );
}
