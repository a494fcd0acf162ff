// The product mark: a small lattice (a trellis) and the app name.
import { useI18n } from '../i18n/index.tsx';

export function Brand({ size = 28 }: { size?: number }) {
  const { t } = useI18n();
  return (
    <span className="brand">
      <svg width={size} height={size} viewBox="0 0 32 32" aria-hidden="true" focusable="false">
        <rect x="1" y="1" width="30" height="30" rx="7" fill="currentColor" />
        <path d="M8 24 24 8M8 16 16 8M16 24 24 16M8 8l16 16M8 16l8 8M16 8l8 8" stroke="#fff" strokeWidth="2.2" strokeLinecap="round" fill="none" />
      </svg>
      <span className="brand-name">{t('app.name')}</span>
    </span>
  );
}
