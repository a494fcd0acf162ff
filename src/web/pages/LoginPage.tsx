// Sign-in: username and password; the server's problem detail is shown as is when it refuses.
import { useState } from 'react';
import { Navigate, useLocation, useNavigate } from 'react-router-dom';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Form, Input } from 'antd';
import { LockOutlined, UserOutlined } from '@ant-design/icons';
import { login } from '../api.ts';
import { Brand } from '../components/Brand.tsx';
import { LanguageSwitch } from '../components/LanguageSwitch.tsx';
import { useI18n } from '../i18n/index.tsx';
import { errorText, ME_KEY, useMe } from '../session.ts';

interface LoginValues {
  username: string;
  password: string;
}

function returnPath(state: unknown): string {
  const from = (state as { from?: unknown } | null)?.from;
  // Only same-app paths: never bounce to another origin.
  return typeof from === 'string' && from.startsWith('/') && !from.startsWith('//') && from !== '/login' ? from : '/';
}

export default function LoginPage() {
  const { t } = useI18n();
  const navigate = useNavigate();
  const location = useLocation();
  const queryClient = useQueryClient();
  const me = useMe();
  const [form] = Form.useForm<LoginValues>();
  const [failure, setFailure] = useState<unknown>(null);

  const signIn = useMutation({
    mutationFn: (v: LoginValues) => login(v.username.trim(), v.password),
    onMutate: () => setFailure(null),
    onSuccess: (result) => {
      queryClient.setQueryData(ME_KEY, result.user);
      void navigate(returnPath(location.state), { replace: true });
    },
    onError: (err) => {
      setFailure(err);
      form.setFieldValue('password', '');
    },
  });

  if (me.data && !signIn.isPending) return <Navigate to={returnPath(location.state)} replace />;

  return (
    <main className="login-page">
      <div className="login-toolbar">
        <LanguageSwitch />
      </div>
      {/* Plain markup, not antd Card/Typography: they pull in Tabs and the editable-text code. */}
      <section className="login-card" aria-labelledby="login-title">
        <div className="login-brand">
          <Brand size={36} />
          <span className="login-tagline">{t('app.tagline')}</span>
        </div>
        <h1 id="login-title" className="login-title">
          {t('login.title')}
        </h1>
        <p className="login-subtitle">{t('login.subtitle')}</p>
        {failure ? (
          <Alert
            className="login-error"
            data-testid="login-error"
            type="error"
            showIcon
            title={t('login.failed')}
            description={errorText(failure, t)}
          />
        ) : null}
        <Form<LoginValues>
          form={form}
          name="login"
          layout="vertical"
          requiredMark={false}
          size="large"
          disabled={signIn.isPending}
          onFinish={(values) => signIn.mutate(values)}
        >
          <Form.Item label={t('login.username')} name="username" rules={[{ required: true, whitespace: true, message: t('login.usernameRequired') }]}>
            <Input prefix={<UserOutlined aria-hidden="true" />} autoComplete="username" autoCapitalize="none" spellCheck={false} autoFocus />
          </Form.Item>
          <Form.Item label={t('login.password')} name="password" rules={[{ required: true, message: t('login.passwordRequired') }]}>
            <Input.Password prefix={<LockOutlined aria-hidden="true" />} autoComplete="current-password" />
          </Form.Item>
          <Form.Item className="login-submit">
            <Button type="primary" htmlType="submit" block loading={signIn.isPending}>
              {t('login.submit')}
            </Button>
          </Form.Item>
        </Form>
      </section>
    </main>
  );
}
