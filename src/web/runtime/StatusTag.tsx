// Status of a document, an approval or a task as a coloured tag.
import { Tag } from 'antd';
import { useI18n, type MessageKey } from '../i18n/index.tsx';

const STATUS_COLOR: Record<string, string> = {
  draft: 'default',
  submitted: 'green',
  cancelled: 'red',
  running: 'blue',
  returned: 'orange',
  approved: 'green',
  rejected: 'red',
  withdrawn: 'default',
  pending: 'blue',
  escalated: 'orange',
  transferred: 'default',
  done: 'green',
  queued: 'default',
  waiting: 'default',
};

export function StatusTag({ status }: { status: string }) {
  const { t } = useI18n();
  const key = `status.${status}` as MessageKey;
  let text: string;
  try {
    text = t(key) ?? status;
  } catch {
    text = status;
  }
  return <Tag color={STATUS_COLOR[status] ?? 'default'}>{text || status}</Tag>;
}

