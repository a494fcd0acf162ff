// The builder's home: every app with its current version, unpublished drafts, the version
// history of each (with rollback), and "new app".
import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { App, Button, Card, Form, Input, Modal, Space, Table, Tag, Typography } from 'antd';
import { PlusOutlined, RollbackOutlined } from '@ant-design/icons';
import type { AppDef } from '../../shared/definition.ts';
import { isApiError } from '../api.ts';
import { builderApi, type AppSummary, type DraftSummary } from './builderApi.ts';
import { useBuilderI18n } from './i18n.ts';
import { isIdent } from './model.ts';

interface Row {
  name: string;
  label: AppSummary['label'];
  published?: AppSummary;
  draft?: DraftSummary;
}

function Versions({ app }: { app: string }) {
  const { bt } = useBuilderI18n();
  const { message, modal } = App.useApp();
  const qc = useQueryClient();
  const versions = useQuery({ queryKey: ['builder', 'versions', app], queryFn: () => builderApi.versions(app) });
  const rollback = useMutation({
    mutationFn: ({ v, confirm }: { v: number; confirm: boolean }) => builderApi.rollback(app, v, confirm),
    onSuccess: (r) => {
      void message.success(bt('apps.rolledBack', { v: r.version }));
      void qc.invalidateQueries({ queryKey: ['builder'] });
    },
  });
  const doRollback = (v: number) =>
    modal.confirm({
      title: bt('apps.rollbackConfirm', { v }),
      okText: bt('common.ok'),
      cancelText: bt('common.cancel'),
      onOk: () =>
        rollback.mutateAsync({ v, confirm: false }).catch((err: unknown) => {
          if (isApiError(err) && err.status === 409) {
            modal.confirm({
              title: bt('publish.destructiveWarn'),
              content: err.detail,
              okText: bt('publish.confirm'),
              okButtonProps: { danger: true },
              cancelText: bt('common.cancel'),
              onOk: () => rollback.mutateAsync({ v, confirm: true }).catch((e: unknown) => void message.error(isApiError(e) ? (e.detail ?? e.title) : String(e))),
            });
          } else void message.error(isApiError(err) ? (err.detail ?? err.title) : String(err));
        }),
    });
  const current = versions.data?.[0]?.version;
  return (
    <Table
      size="small"
      rowKey="version"
      loading={versions.isPending}
      pagination={false}
      dataSource={versions.data ?? []}
      columns={[
        { title: bt('apps.version'), dataIndex: 'version', render: (v: number) => <Tag color={v === current ? 'green' : undefined}>v{v}</Tag> },
        { title: bt('apps.publishedAt'), dataIndex: 'publishedAt', render: (s: string) => new Date(s).toLocaleString() },
        {
          title: bt('apps.changes'),
          dataIndex: 'changes',
          render: (c: { message: string }[]) => (
            <Typography.Text ellipsis={{ tooltip: c.map((x) => x.message).join('\n') }} style={{ maxWidth: 420 }}>
              {c.length ? c.map((x) => x.message).join('；') : '—'}
            </Typography.Text>
          ),
        },
        {
          title: '',
          key: 'rb',
          render: (_: unknown, r: { version: number }) =>
            r.version !== current ? (
              <Button size="small" icon={<RollbackOutlined />} onClick={() => doRollback(r.version)}>
                {bt('apps.rollback')}
              </Button>
            ) : null,
        },
      ]}
    />
  );
}

export default function AppListPage() {
  const { bt, lbl } = useBuilderI18n();
  const navigate = useNavigate();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [form] = Form.useForm<{ name: string; zh: string; en?: string; entity: string; entityZh: string }>();
  const apps = useQuery({ queryKey: ['builder', 'apps'], queryFn: builderApi.apps });
  const drafts = useQuery({ queryKey: ['builder', 'drafts'], queryFn: builderApi.drafts });

  const rows: Row[] = [];
  for (const a of apps.data ?? []) rows.push({ name: a.name, label: a.label, published: a });
  for (const d of drafts.data ?? []) {
    const r = rows.find((x) => x.name === d.app);
    if (r) r.draft = d;
    else rows.push({ name: d.app, label: d.label, draft: d });
  }
  rows.sort((a, b) => a.name.localeCompare(b.name));

  const create = useMutation({
    mutationFn: async (v: { name: string; zh: string; en?: string; entity: string; entityZh: string }) => {
      const def: AppDef = {
        name: v.name,
        label: v.en ? { zh: v.zh, en: v.en } : { zh: v.zh },
        entities: [
          {
            name: v.entity,
            label: { zh: v.entityZh },
            fields: [{ name: 'title', type: 'text', label: { zh: '标题', en: 'Title' }, required: true }],
            layout: { kind: 'sections', groups: [{ id: 'main', title: { zh: '基本信息', en: 'General' }, columns: 2, fields: ['title'] }] },
            permissions: [{ role: '*', actions: ['read', 'create', 'write'] }],
          },
        ],
      };
      return builderApi.saveDraft(v.name, def);
    },
    onSuccess: (d) => {
      void qc.invalidateQueries({ queryKey: ['builder'] });
      setCreating(false);
      void navigate(`/builder/apps/${d.app}`);
    },
    onError: (err) => void message.error(isApiError(err) ? (err.detail ?? err.title) : String(err)),
  });

  const taken = new Set(rows.map((r) => r.name));
  return (
    <div className="builder-page" data-testid="builder-apps">
      <Space className="builder-head" wrap>
        <div>
          <Typography.Title level={3} style={{ margin: 0 }}>
            {bt('apps.title')}
          </Typography.Title>
          <Typography.Text type="secondary">{bt('apps.intro')}</Typography.Text>
        </div>
        <Button type="primary" icon={<PlusOutlined />} onClick={() => setCreating(true)} data-testid="app-create">
          {bt('apps.create')}
        </Button>
      </Space>
      <Card>
        <Table<Row>
          rowKey="name"
          loading={apps.isPending || drafts.isPending}
          dataSource={rows}
          pagination={false}
          scroll={{ x: true }}
          locale={{ emptyText: bt('apps.empty') }}
          expandable={{ rowExpandable: (r) => !!r.published, expandedRowRender: (r) => <Versions app={r.name} /> }}
          columns={[
            { title: bt('apps.label'), key: 'label', render: (_: unknown, r) => lbl(r.label, r.name) },
            { title: bt('apps.name'), dataIndex: 'name', render: (n: string) => <code>{n}</code> },
            {
              title: bt('apps.status'),
              key: 'status',
              render: (_: unknown, r) => (
                <Space size={4} wrap>
                  {r.published ? <Tag color="green">{bt('apps.published')} v{r.published.currentVersion}</Tag> : null}
                  {r.draft ? <Tag color="orange">{r.published ? bt('apps.draftOf', { rev: r.draft.revision }) : bt('apps.draft')}</Tag> : null}
                </Space>
              ),
            },
            { title: bt('apps.entities'), key: 'entities', render: (_: unknown, r) => r.published?.entities ?? '—' },
            { title: bt('apps.updated'), key: 'updated', render: (_: unknown, r) => new Date(r.draft?.updatedAt ?? r.published?.updatedAt ?? 0).toLocaleString() },
            {
              title: '',
              key: 'open',
              render: (_: unknown, r) => (
                <Button type="link" onClick={() => void navigate(`/builder/apps/${r.name}`)} data-testid={`open-${r.name}`}>
                  {bt('apps.open')}
                </Button>
              ),
            },
          ]}
        />
      </Card>
      <Modal
        open={creating}
        title={bt('apps.create')}
        okText={bt('common.ok')}
        cancelText={bt('common.cancel')}
        onCancel={() => setCreating(false)}
        onOk={() => form.submit()}
        confirmLoading={create.isPending}
        destroyOnHidden
      >
        <Form form={form} layout="vertical" onFinish={(v) => create.mutate(v)} initialValues={{ entity: 'main' }}>
          <Form.Item
            name="name"
            label={bt('apps.name')}
            extra={bt('apps.nameHelp')}
            rules={[
              { required: true, message: bt('common.required') },
              { validator: (_r, v: string) => (!v || (isIdent(v) && v.length <= 24) ? Promise.resolve() : Promise.reject(new Error(bt('apps.nameInvalid')))) },
              { validator: (_r, v: string) => (taken.has(v) ? Promise.reject(new Error(bt('apps.exists'))) : Promise.resolve()) },
            ]}
          >
            <Input data-testid="new-app-name" />
          </Form.Item>
          <Form.Item name="zh" label={bt('apps.labelZh')} rules={[{ required: true, message: bt('common.required') }]}>
            <Input data-testid="new-app-zh" />
          </Form.Item>
          <Form.Item name="en" label={bt('apps.labelEn')}>
            <Input />
          </Form.Item>
          <Form.Item
            name="entity"
            label={bt('apps.firstEntity')}
            rules={[{ required: true, message: bt('common.required') }, { validator: (_r, v: string) => (!v || isIdent(v) ? Promise.resolve() : Promise.reject(new Error(bt('apps.nameInvalid')))) }]}
          >
            <Input data-testid="new-app-entity" />
          </Form.Item>
          <Form.Item name="entityZh" label={bt('apps.firstEntityLabel')} rules={[{ required: true, message: bt('common.required') }]}>
            <Input data-testid="new-app-entity-zh" />
          </Form.Item>
        </Form>
      </Modal>
    </div>
  );
}
