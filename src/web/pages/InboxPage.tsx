// The approver's inbox: to do, done, CC'd, started by me, with counts; bulk approve on "to do".
// Each item opens the task (or the approval) page. Cards, not a table: same on a phone and a PC.
import { useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { Alert, App as AntApp, Badge, Button, Checkbox, Empty, Space, Spin } from 'antd';
import { api, type InboxItem } from '../api.ts';
import { useI18n } from '../i18n/index.tsx';
import { errorText } from '../session.ts';
import { COUNTS_KEY, fetchInboxPage, INBOX_STALE_MS, inboxKey, useInboxCounts } from '../runtime/hooks.ts';
import { formatDateTime } from '../runtime/model.ts';
import { StatusTag } from '../runtime/StatusTag.tsx';

const TABS = ['todo', 'done', 'cc', 'started'] as const;
type Tab = (typeof TABS)[number];

export default function InboxPage() {
  const { tab: raw } = useParams();
  const tab: Tab = TABS.includes(raw as Tab) ? (raw as Tab) : 'todo';
  const { t } = useI18n();
  const counts = useInboxCounts();
  const c = counts.data;
  const badge = (n: number | undefined) => (n ? <Badge count={n} size="small" className="tab-badge" /> : null);
  const tabs: Array<{ key: Tab; label: string; count?: number }> = [
    { key: 'todo', label: t('inbox.todo'), count: c?.todo },
    { key: 'done', label: t('inbox.done') },
    { key: 'cc', label: t('inbox.cc'), count: c?.ccUnread },
    { key: 'started', label: t('inbox.started') },
  ];
  // Links styled as tabs (each tab has its own address; antd's Card and Tabs stay off this page).
  return (
    <section className="panel inbox">
      <h1 className="panel-title">{t('inbox.title')}</h1>
      <nav className="link-tabs" aria-label={t('inbox.title')}>
        {tabs.map((x) => (
          <Link key={x.key} to={`/inbox/${x.key}`} className={`link-tab${x.key === tab ? ' is-active' : ''}`} aria-current={x.key === tab ? 'page' : undefined}>
            {x.label}
            {badge(x.count)}
          </Link>
        ))}
      </nav>
      <InboxList key={tab} tab={tab} />
    </section>
  );
}

function InboxList({ tab }: { tab: Tab }) {
  const { t, locale } = useI18n();
  const { message } = AntApp.useApp();
  const queryClient = useQueryClient();
  const [selected, setSelected] = useState<string[]>([]);
  const q = useInfiniteQuery({
    queryKey: inboxKey(tab),
    queryFn: ({ pageParam }) => fetchInboxPage(tab, pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor,
    staleTime: INBOX_STALE_MS,
  });
  const items = q.data?.pages.flatMap((p) => p.items) ?? [];
  const bulk = useMutation({
    mutationFn: () => api.post<{ approved: number; failed: number; results: Array<{ ok: boolean; message?: string }> }>('/workflow/inbox/bulk-approve', { taskIds: selected }),
    onSuccess: async (r) => {
      void (r.failed ? message.warning : message.success)(t('inbox.bulkDone', { ok: r.approved, failed: r.failed }));
      setSelected([]);
      await queryClient.invalidateQueries({ queryKey: ['inbox'] });
      await queryClient.invalidateQueries({ queryKey: COUNTS_KEY });
    },
    onError: (err) => void message.error(errorText(err, t)),
  });
  const link = (i: InboxItem) => (tab === 'todo' || tab === 'done' ? `/tasks/${i.id}` : `/approvals/${i.id}`);
  return (
    <>
      {tab === 'todo' && items.length ? (
        <Space className="bulk-bar" wrap>
          <Checkbox
            checked={selected.length > 0 && selected.length === items.length}
            indeterminate={selected.length > 0 && selected.length < items.length}
            onChange={(e) => setSelected(e.target.checked ? items.map((i) => i.id) : [])}
          >
            {t('inbox.selectAll')}
          </Checkbox>
          <Button type="primary" disabled={!selected.length} loading={bulk.isPending} onClick={() => bulk.mutate()} className="touch-button" data-testid="bulk-approve">
            {t('inbox.bulkApprove')} {selected.length ? `(${selected.length})` : ''}
          </Button>
        </Space>
      ) : null}
      {q.isError ? <Alert type="error" title={errorText(q.error, t)} /> : null}
      {q.isPending ? <Spin className="list-spin" /> : null}
      {!q.isPending && items.length === 0 ? <Empty description={t('inbox.empty')} /> : null}
      <ul className="inbox-list">
        {items.map((i) => (
          <li key={i.id} className="inbox-item" data-testid="inbox-item">
            {tab === 'todo' ? (
              <Checkbox
                aria-label={i.title}
                checked={selected.includes(i.id)}
                onChange={(e) => setSelected(e.target.checked ? [...selected, i.id] : selected.filter((x) => x !== i.id))}
                className="inbox-check"
              />
            ) : null}
            <Link to={link(i)} className="inbox-link">
              <div className="inbox-head">
                <strong>{i.title}</strong>
                {tab === 'cc' && !i.readAt ? <Badge status="processing" text={t('inbox.unread')} /> : null}
                <StatusTag status={tab === 'done' ? (i.decision === 'reject' ? 'rejected' : i.status) : i.status} />
              </div>
              <span className="muted inbox-meta">
                {t('inbox.from', { name: i.initiatorName })} · {formatDateTime(tab === 'done' && i.decidedAt ? i.decidedAt : i.createdAt, locale)}
              </span>
            </Link>
          </li>
        ))}
      </ul>
      {q.hasNextPage ? (
        <Button block onClick={() => void q.fetchNextPage()} loading={q.isFetchingNextPage} className="touch-button">
          {t('list.more')}
        </Button>
      ) : null}
    </>
  );
}
