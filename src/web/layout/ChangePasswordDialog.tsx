// Change the signed-in user's password. Field errors from the server land on their fields.
import { useState } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Alert, App, Form, Input, Modal } from 'antd';
import { changePassword, isApiError } from '../api.ts';
import { useI18n } from '../i18n/index.tsx';
import { errorText } from '../session.ts';

interface PasswordValues {
  currentPassword: string;
  newPassword: string;
  confirmPassword: string;
}

const FIELDS = ['currentPassword', 'newPassword'] as const;

export default function ChangePasswordDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const [form] = Form.useForm<PasswordValues>();
  const [failure, setFailure] = useState<unknown>(null);

  const save = useMutation({
    mutationFn: (v: PasswordValues) => changePassword(v.currentPassword, v.newPassword),
    onMutate: () => setFailure(null),
    onSuccess: () => {
      void message.success(t('password.changed'));
      form.resetFields();
      onClose();
    },
    onError: (err) => {
      setFailure(err);
      if (!isApiError(err)) return;
      // Problem paths look like `body.newPassword`; put each message under its input.
      const fieldErrors = FIELDS.map((name) => ({
        name,
        errors: err.errors.filter((e) => e.path === `body.${name}` || e.path === name).map((e) => e.message),
      })).filter((f) => f.errors.length > 0);
      if (fieldErrors.length) form.setFields(fieldErrors);
    },
  });

  const cancel = () => {
    setFailure(null);
    form.resetFields();
    onClose();
  };

  return (
    <Modal
      open={open}
      title={t('password.title')}
      okText={t('password.submit')}
      cancelText={t('common.cancel')}
      confirmLoading={save.isPending}
      onOk={() => form.submit()}
      onCancel={cancel}
      forceRender
    >
      {failure ? <Alert type="error" showIcon title={errorText(failure, t)} className="dialog-error" /> : null}
      <Form<PasswordValues> form={form} name="change-password" layout="vertical" requiredMark={false} onFinish={(v) => save.mutate(v)}>
        <Form.Item label={t('password.current')} name="currentPassword" rules={[{ required: true, message: t('password.required') }]}>
          <Input.Password autoComplete="current-password" />
        </Form.Item>
        <Form.Item label={t('password.new')} name="newPassword" rules={[{ required: true, message: t('password.required') }]}>
          <Input.Password autoComplete="new-password" />
        </Form.Item>
        <Form.Item
          label={t('password.confirm')}
          name="confirmPassword"
          dependencies={['newPassword']}
          rules={[
            { required: true, message: t('password.required') },
            ({ getFieldValue }) => ({
              validator: (_rule, value: unknown) =>
                !value || getFieldValue('newPassword') === value ? Promise.resolve() : Promise.reject(new Error(t('password.mismatch'))),
            }),
          ]}
        >
          <Input.Password autoComplete="new-password" />
        </Form.Item>
      </Form>
    </Modal>
  );
}
