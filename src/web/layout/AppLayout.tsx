// The signed-in frame: header with brand, language switch and user menu; pages below.
import { lazy, Suspense, useState } from 'react';
import { Outlet, useNavigate } from 'react-router-dom';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { App, Avatar, Button, Dropdown, Layout, type MenuProps } from 'antd';
import { DownOutlined, LockOutlined, LogoutOutlined } from '@ant-design/icons';
import { logout, type Me } from '../api.ts';
import { Brand } from '../components/Brand.tsx';
import { LanguageSwitch } from '../components/LanguageSwitch.tsx';
import { useI18n } from '../i18n/index.tsx';
import { PageLoading } from '../PageLoading.tsx';
import { displayName, errorText, ME_KEY } from '../session.ts';

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
        <Brand />
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
      {passwordDialog !== 'unused' ? (
        <Suspense fallback={null}>
          <ChangePasswordDialog open={passwordDialog === 'open'} onClose={() => setPasswordDialog('closed')} />
        </Suspense>
      ) : null}
    </Layout>
  );
}
