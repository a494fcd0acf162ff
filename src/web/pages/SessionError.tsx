// The session could not be checked (server down, unexpected answer): say so and offer a retry.
import { Button, Result } from 'antd';
import { useI18n } from '../i18n/index.tsx';
import { errorText } from '../session.ts';

export default function SessionError({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  const { t } = useI18n();
  return (
    <main className="session-error">
      <Result
        status="warning"
        title={t('error.session')}
        subTitle={errorText(error, t)}
        extra={
          <Button type="primary" onClick={onRetry}>
            {t('common.retry')}
          </Button>
        }
      />
    </main>
  );
}
