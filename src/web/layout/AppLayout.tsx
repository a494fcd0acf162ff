// The signed-in frame: header with brand, language switch and user menu; pages below.
import { lazy, Suspense, useState } from 'react';
import { Link, Outlet, useLocation, useNavigate } from 'react-router-dom';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { App, Avatar, Badge, Button, Dropdown, Layout, type MenuProps } from 'antd';
import { DownOutlined, LockOutlined, LogoutOutlined } from '@ant-design/icons';
import { logout, type Me } from '../api.ts';
import { Brand } from '../components/Brand.tsx';
import { LanguageSwitch } from '../components/LanguageSwitch.tsx';
import { useI18n } from '../i18n/index.tsx';
import { PageLoading } from '../PageLoading.tsx';
import { displayName, errorText, ME_KEY } from '../session.ts';
import { useInboxCounts } from '../runtime/hooks.ts';
import { NAV_ITEMS, type NavItem } from './nav.tsx';

const ChangePasswordDialog = lazy(() => import('./ChangePasswordDialog.tsx'));

/** antd's <App> (message, modal hooks) lives here, not at the root: the login page does without it. */
export default function AppLayout({ me }: { me: Me }) {
  return (
    <App>
      <SignedInFrame me={me} />
    </App>
  );
}

function SignedInFrame({ me }: { me: Me }) {
  const { locale, t } = useI18n();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  // The dialog's code is fetched the first time it is opened, then kept for its close animation.
  const [passwordDialog, setPasswordDialog] = useState<'unused' | 'open' | 'closed'>('unused');
  const name = displayName(me, locale);

  const signOut = useMutation({
    mutationFn: logout,
    onError: (err) => void message.warning(errorText(err, t)),
    onSettled: () => {
      // Signed out or not, this browser forgets the user and everything cached for them.
      queryClient.clear();
      queryClient.setQueryData(ME_KEY, null);
      void navigate('/login', { replace: true });
    },
  });

  const items: MenuProps['items'] = [
    { key: 'password', icon: <LockOutlined />, label: t('user.changePassword') },
    { type: 'divider' },
    { key: 'logout', icon: <LogoutOutlined />, label: t('user.logout'), disabled: signOut.isPending },
  ];
  const onMenu: MenuProps['onClick'] = ({ key }) => {
    if (key === 'password') setPasswordDialog('open');
    if (key === 'logout') signOut.mutate();
  };

  return (
    <Layout className="shell">
      <Layout.Header className="shell-header">
        <Link to="/" className="brand-link" aria-label={t('nav.apps')}>
          <Brand />
        </Link>
        <MainNav me={me} />
        <div className="shell-header-actions">
          <LanguageSwitch />
          <Dropdown menu={{ items, onClick: onMenu }} trigger={['click']} placement="bottomRight">
            <Button type="text" className="user-menu-button" data-testid="user-menu" title={t('user.menu')} aria-label={`${t('user.menu')}: ${name}`}>
              <Avatar size="small" className="user-avatar" aria-hidden="true">
                {name.slice(0, 1).toUpperCase()}
              </Avatar>
              <span className="user-menu-name">{name}</span>
              <DownOutlined aria-hidden="true" />
            </Button>
          </Dropdown>
        </div>
      </Layout.Header>
      <Layout.Content className="shell-content">
        <Suspense fallback={<PageLoading />}>
          <Outlet context={me} />
        </Suspense>
      </Layout.Content>
      <MainNav me={me} bottom />
      {passwordDialog !== 'unused' ? (
        <Suspense fallback={null}>
          <ChangePasswordDialog open={passwordDialog === 'open'} onClose={() => setPasswordDialog('closed')} />
        </Suspense>
      ) : null}
    </Layout>
  );
}

/** The menu: links in the header on wide screens, a bottom tab bar with big targets on phones. */
function MainNav({ me, bottom = false }: { me: Me; bottom?: boolean }) {
  const { locale, t } = useI18n();
  const { pathname } = useLocation();
  const counts = useInboxCounts();
  const items = NAV_ITEMS.filter((i) => (!i.roles || i.roles.some((r) => me.roles.includes(r))) && (!bottom || i.mobile !== false));
  const active = (i: NavItem) => (i.path === '/' ? pathname === '/' || pathname.startsWith('/a/') : pathname === i.path || pathname.startsWith(`${i.path}/`));
  return (
    <nav className={bottom ? 'bottom-nav' : 'top-nav'} aria-label={t('nav.main')}>
      {items.map((i) => (
        <Link key={i.key} to={i.path} className={`nav-item${active(i) ? ' is-active' : ''}`} aria-current={active(i) ? 'page' : undefined} data-testid={`${bottom ? 'bottom' : 'top'}-nav-${i.key}`}>
          <Badge count={i.badge === 'todo' ? (counts.data?.todo ?? 0) : 0} size="small" offset={[4, -2]}>
            <span className="nav-icon" aria-hidden="true">
              {i.icon}
            </span>
          </Badge>
          <span className="nav-label">{locale === 'en' ? i.label.en : i.label.zh}</span>
        </Link>
      ))}
    </nav>
  );
}
