// Publish: first the schema change the server would make (the diff endpoint, nothing written),
// then an explicit confirmation when a change loses or invalidates data, then the publish.
import { useEffect, useState } from 'react';
import { useMutation } from '@tanstack/react-query';
import { Alert, Checkbox, List, Modal, Spin, Tag, Typography } from 'antd';
import type { AppDef } from '../../shared/definition.ts';
import { isApiError } from '../api.ts';
import { builderApi, type PublishResult } from './builderApi.ts';
import { builderDetail, useBuilderI18n } from './i18n.ts';
import type { Problem } from './model.ts';

export function PublishDialog({
  open,
  definition,
  onClose,
  onPublished,
  onProblems,
}: {
  open: boolean;
  definition: AppDef;
  onClose: () => void;
  onPublished: (r: PublishResult) => void;
  onProblems: (p: Problem[]) => void;
}) {
  const { bt, locale } = useBuilderI18n();
  const [confirmed, setConfirmed] = useState(false);
  const diff = useMutation({ mutationFn: builderApi.diff });
  const publish = useMutation({ mutationFn: (confirm: boolean) => builderApi.publish(definition, confirm) });
  const { mutate: runDiff, reset: resetDiff } = diff;
  const { reset: resetPublish } = publish;

  useEffect(() => {
    if (!open) return;
    setConfirmed(false);
    resetPublish();
    runDiff(definition, {
      onError: (err) => {
        if (isApiError(err) && err.errors.length) onProblems(err.errors);
      },
    });
    return () => resetDiff();
  }, [open]);

  const changes = diff.data?.changes ?? [];
  const destructive = changes.filter((c) => c.destructive);
  const blocked = changes.filter((c) => c.blocked);
  const err = diff.error ?? publish.error;
  const canPublish = diff.isSuccess && blocked.length === 0 && (destructive.length === 0 || confirmed);

  return (
    <Modal
      open={open}
      title={bt('publish.title')}
      okText={bt('publish.go')}
      cancelText={bt('common.cancel')}
      onCancel={onClose}
      okButtonProps={{ disabled: !canPublish, loading: publish.isPending, ...({ 'data-testid': 'publish-confirm' } as object) }}
      onOk={() =>
        publish.mutate(destructive.length > 0 && confirmed, {
          onSuccess: (r) => onPublished(r),
          onError: (e) => {
            if (isApiError(e) && e.errors.length) onProblems(e.errors);
          },
        })
      }
      destroyOnHidden
      width={680}
    >
      {diff.isPending ? (
        <Spin description={bt('publish.computing')} />
      ) : null}
      {err ? (
        <Alert
          type="error"
          showIcon
          title={isApiError(err) ? err.title : bt('editor.serverProblems')}
          description={
            <>
              <div>{isApiError(err) ? builderDetail(locale, err.detail ?? '', err.errors) : String(err)}</div>
              {isApiError(err) && err.errors.length ? <div style={{ marginTop: 4 }}>{bt('publish.invalid')}</div> : null}
            </>
          }
          style={{ marginBottom: 12 }}
          data-testid="publish-error"
        />
      ) : null}
      {diff.isSuccess ? (
        <>
          <Typography.Paragraph strong>{changes.length ? bt('publish.changes') : bt('publish.noChanges')}</Typography.Paragraph>
          {changes.length ? (
            <List
              size="small"
              bordered
              data-testid="publish-changes"
              dataSource={changes}
              renderItem={(c) => (
                <List.Item>
                  <span>
                    {c.blocked ? <Tag color="red">{bt('publish.blocked')}</Tag> : c.destructive ? <Tag color="volcano">{bt('publish.destructive')}</Tag> : <Tag color="green">{bt('publish.safe')}</Tag>}
                    <code>{c.kind}</code> {c.message}
                  </span>
                </List.Item>
              )}
              style={{ maxHeight: 320, overflow: 'auto', marginBottom: 12 }}
            />
          ) : null}
          {destructive.length ? (
            <>
              <Alert type="warning" showIcon title={bt('publish.destructiveWarn')} style={{ marginBottom: 8 }} />
              <Checkbox checked={confirmed} onChange={(e) => setConfirmed(e.target.checked)} data-testid="confirm-destructive">
                {bt('publish.confirm')}
              </Checkbox>
            </>
          ) : null}
        </>
      ) : null}
    </Modal>
  );
}
