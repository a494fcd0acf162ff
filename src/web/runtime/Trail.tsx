// The approval trail of one instance (who did what, when, with which comment and signature), and
// status tags shared by lists, records and the inbox.
import { useQuery } from '@tanstack/react-query';
import { Alert, Card, Tag, Timeline, Typography } from 'antd';
import { StatusTag } from './StatusTag.tsx';
import { SafetyCertificateOutlined } from '@ant-design/icons';
import { api, type InstanceView, type TrailEntry } from '../api.ts';
import { useI18n, type MessageKey } from '../i18n/index.tsx';

export { StatusTag };
import { PageLoading } from '../PageLoading.tsx';
import { errorText } from '../session.ts';
import { formatDateTime } from './model.ts';

const COLOR: Record<string, string> = { approve: 'green', approved: 'green', node_approved: 'green', reject: 'red', rejected: 'red', node_rejected: 'red', returned: 'orange', withdrawn: 'gray' };

export function ApprovalTrail({ instanceId }: { instanceId: string }) {
  const { t, locale } = useI18n();
  const q = useQuery({
    queryKey: ['trail', instanceId],
    queryFn: () => api.get<{ instance: InstanceView; trail: TrailEntry[]; signatures: Array<{ id: string; taskId: string | null; method: string }> }>(`/workflow/instances/${instanceId}`),
  });
  if (q.isPending) return <PageLoading />;
  if (q.isError) return <Alert type="warning" title={errorText(q.error, t)} />;
  const { instance, trail, signatures } = q.data;
  const signedTasks = new Set(signatures.map((s) => s.taskId));
  const word = (type: string) => {
    const k = `trail.${type}` as MessageKey;
    const s = t(k);
    return s === undefined ? type : s;
  };
  return (
    <Card size="small" className="trail" title={<span>{t('trail.title', { title: instance.title })} <StatusTag status={instance.status} /></span>}>
      <Timeline
        data-testid="approval-trail"
        items={trail
          .filter((e) => !['task_created', 'joined', 'parallel_started'].includes(e.type))
          .map((e) => ({
            key: e.seq,
            color: COLOR[e.type] ?? 'blue',
            content: (
              <div className="trail-entry">
                <Typography.Text strong>{word(e.type)}</Typography.Text>
                {e.nodeName ? <Tag className="trail-node">{e.nodeName}</Tag> : null}
                <div>
                  <Typography.Text>{e.actor.displayName ?? (e.actor.username === 'system' || !e.actor.username ? t('trail.system') : e.actor.username)}</Typography.Text>
                  {e.to ? (
                    <Typography.Text className="trail-to" data-testid="trail-to">
                      {' → '}
                      {e.to.displayName || e.to.username}
                    </Typography.Text>
                  ) : null}{' '}
                  <Typography.Text type="secondary">{formatDateTime(e.at, locale)}</Typography.Text>
                  {e.taskId && signedTasks.has(e.taskId) && (e.type === 'approve' || e.type === 'reject') ? (
                    <Tag icon={<SafetyCertificateOutlined />} color="gold" className="trail-signed">
                      {t('trail.signed')}
                    </Tag>
                  ) : null}
                </div>
                {e.comment ? <Typography.Paragraph className="trail-comment">「{e.comment}」</Typography.Paragraph> : null}
              </div>
            ),
          }))}
      />
    </Card>
  );
}
