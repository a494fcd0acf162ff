// One button that flips between Chinese and English; its text is the language it switches to.
import { Button } from 'antd';
import { GlobalOutlined } from '@ant-design/icons';
import { useI18n } from '../i18n/index.tsx';

export function LanguageSwitch() {
  const { locale, setLocale, t } = useI18n();
  const next = locale === 'en' ? 'zh-CN' : 'en';
  return (
    <Button
      type="text"
      icon={<GlobalOutlined aria-hidden="true" />}
      title={t('lang.switchTitle')}
      lang={next}
      data-testid="language-switch"
      onClick={() => setLocale(next)}
    >
      {t('lang.switchTo')}
    </Button>
  );
}
