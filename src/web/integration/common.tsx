// Small pieces the integration screens share: state tags, JSON blocks, time formatting, a
// message for a failed call (always the server's own words), and the 403 notice.
import type { ReactNode } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Tag, Typography } from 'antd';
import dayjs from 'dayjs';
import { isApiError } from '../api.ts';
import { problemText, type DeliveryState } from './api.ts';
import { useIntegrationI18n } from './i18n.ts';

const STATE_COLOR: Record<DeliveryState, string> = {
  dead: 'red',
  retrying: 'orange',
  pending: 'blue',
  in_flight: 'processing',
  succeeded: 'green',
  cancelled: 'default',
};

export function StateTag({ state, stuck }: { state: DeliveryState; stuck?: boolean }) {
  const { it } = useIntegrationI18n();
  return (
    <span className="int-state" data-testid={`state-${state}`}>
      <Tag color={STATE_COLOR[state] ?? 'default'}>{it(`state.${state}`)}</Tag>
      {stuck ? <Tag color="volcano">{it('del.stuck')}</Tag> : null}
    </span>
  );
}

export const when = (iso: string | null | undefined) => (iso ? dayjs(iso).format('YYYY-MM-DD HH:mm:ss') : '—');

export function JsonBlock({ value, label }: { value: unknown; label: string }) {
  return (
    <pre className="int-json" aria-label={label} tabIndex={0}>
      {value === undefined ? '—' : JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** The message for a failed call, in the server's words. */
export function useProblem(): (err: unknown) => string {
  const { it } = useIntegrationI18n();
  return (err) => problemText(err, it('common.network'));
}

/**
 * Delete with a confirmation dialog: on success a message and a refetch of the integration data;
 * on failure the server's words.
 */
export function useConfirmedDelete<T>(remove: (item: T) => Promise<unknown>, texts: { title: (item: T) => string; done: string }): (item: T) => void {
  const { it } = useIntegrationI18n();
  const { message, modal } = App.useApp();
  const problem = useProblem();
  const qc = useQueryClient();
  const mutation = useMutation({
    mutationFn: remove,
    onSuccess: () => {
      void message.success(texts.done);
      void qc.invalidateQueries({ queryKey: ['integration'] });
    },
  });
  return (item) => {
    modal.confirm({
      title: texts.title(item),
      okText: it('common.delete'),
      okButtonProps: { danger: true },
      cancelText: it('common.cancel'),
      onOk: () => mutation.mutateAsync(item).catch((err: unknown) => void message.error(problem(err))),
    });
  };
}

/** A query failed: 403 gets the access notice, anything else the server's message. */
export function QueryProblem({ error, children }: { error: unknown; children?: ReactNode }) {
  const { it } = useIntegrationI18n();
  const problem = useProblem();
  if (isApiError(error) && error.status === 403) return <Alert type="warning" showIcon title={it('forbiddenTab', { msg: problem(error) })} />;
  return (
<Alert type="error" showIcon title={problem(error)} description={children} />
  );
}

export function PageHead({ title, extra }: { title: string; extra?: ReactNode }) {
  return (
    <div className="int-head">
      <Typography.Title level={4} className="int-head-title">
        {title}
      </Typography.Title>
      {extra ? <div className="int-head-extra">{extra}</div> : null}
    </div>
  );
}
