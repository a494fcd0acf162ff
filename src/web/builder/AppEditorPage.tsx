// One app in the designers: loads the draft (or the published version), keeps the edited
// definition in memory, saves drafts to the server, checks and publishes. Server problems are
// indexed by path and shown on the fields, entity settings and approval nodes they concern.
import { useEffect, useMemo, useState } from 'react';
import { useNavigate, useParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Badge, Button, Form, Input, Modal, Result, Select, Space, Spin, Tabs, Tag, Typography } from 'antd';
import { ArrowLeftOutlined, CheckCircleOutlined, CloudUploadOutlined, PlusOutlined, SaveOutlined } from '@ant-design/icons';
import type { AppDef, EntityDef } from '../../shared/definition.ts';
import { isApiError } from '../api.ts';
import { FlowDesigner } from './approval/FlowDesigner.tsx';
import { builderApi, type Draft, type PublishResult } from './builderApi.ts';
import { EntitySettings, ListViewSettings, PermissionsEditor } from './EntitySettings.tsx';
import { FormDesigner } from './FormDesigner.tsx';
import { builderProblems, useBuilderI18n } from './i18n.ts';
import { defaultLayout, indexProblems, isIdent, workflowsOf, type Problem } from './model.ts';
import { PublishDialog } from './PublishDialog.tsx';

interface Loaded {
  published: { version: number; definition: AppDef } | null;
  draft: Draft | null;
}

async function load(name: string): Promise<Loaded> {
  const notFound = (err: unknown) => {
    if (isApiError(err) && err.status === 404) return null;
    throw err;
  };
  const [published, draft] = await Promise.all([builderApi.app(name).catch(notFound), builderApi.draft(name).catch(notFound)]);
  return { published, draft };
}

export default function AppEditorPage() {
  const { app: appName = '' } = useParams();
  const data = useQuery({ queryKey: ['builder', 'app', appName], queryFn: () => load(appName), staleTime: Infinity, refetchOnMount: 'always' });
  const { bt } = useBuilderI18n();
  const navigate = useNavigate();
  if (data.isPending) return <Spin style={{ display: 'block', margin: 48 }} />;
  if (data.isError) return <Result status="error" title={isApiError(data.error) ? data.error.title : String(data.error)} subTitle={isApiError(data.error) ? data.error.detail : undefined} />;
  if (!data.data.published && !data.data.draft) {
    return <Result status="404" title={appName} extra={<Button onClick={() => void navigate('/builder')}>{bt('common.back')}</Button>} />;
  }
  return <Editor key={appName} loaded={data.data} />;
}

function Editor({ loaded }: { loaded: Loaded }) {
  const { bt, lbl, locale } = useBuilderI18n();
  const { message, modal } = App.useApp();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [def, setDef] = useState<AppDef>(() => structuredClone(loaded.draft?.definition ?? loaded.published!.definition));
  const [saved, setSaved] = useState(() => JSON.stringify(loaded.draft?.definition ?? loaded.published!.definition));
  const [revision, setRevision] = useState<number | undefined>(loaded.draft?.revision);
  const [published, setPublished] = useState(loaded.published);
  const [entityName, setEntityName] = useState(def.entities[0]?.name ?? '');
  const [tab, setTab] = useState('form');
  const [problems, setProblems] = useState<Problem[]>([]);
  const [publishing, setPublishing] = useState(false);
  const [addingEntity, setAddingEntity] = useState(false);
  const [entityForm] = Form.useForm<{ name: string; zh: string; child?: boolean }>();
  // as shown: the calendar problems in the user's language (said as the calendars page says them)
  const shown = useMemo(() => builderProblems(locale, problems), [problems, locale]);
  const idx = useMemo(() => indexProblems(shown), [shown]);
  const dirty = JSON.stringify(def) !== saved;
  const entity = def.entities.find((e) => e.name === entityName) ?? def.entities[0];

  useEffect(() => {
    if (!dirty) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [dirty]);

  const publishedNames = useMemo(() => {
    const pe = published?.definition.entities.find((e) => e.name === entity?.name || e.name === entity?.renamedFrom);
    return new Set(pe?.fields.map((f) => f.name) ?? []);
  }, [published, entity]);

  const setEntity = (next: EntityDef) => {
    setDef((d) => ({ ...d, entities: d.entities.map((e) => (e.name === entity?.name ? next : e)) }));
    if (next.name !== entity?.name) setEntityName(next.name);
  };

  const save = useMutation({
    mutationFn: () => builderApi.saveDraft(def.name, def, revision),
    onSuccess: (d) => {
      setRevision(d.revision);
      setSaved(JSON.stringify(def));
      void message.success(bt('editor.saved'));
      void qc.invalidateQueries({ queryKey: ['builder', 'drafts'] });
    },
    onError: (err) => void message.error(isApiError(err) ? (err.detail ?? err.title) : String(err)),
  });
  const check = useMutation({
    mutationFn: () => builderApi.validate(def),
    onSuccess: () => {
      setProblems([]);
      void message.success(bt('editor.valid'));
    },
    onError: (err) => {
      if (isApiError(err) && err.errors.length) setProblems(err.errors);
      else void message.error(isApiError(err) ? (err.detail ?? err.title) : String(err));
    },
  });

  const onPublished = async (r: PublishResult) => {
    setPublishing(false);
    setProblems([]);
    setPublished({ version: r.version, definition: def });
    if (revision !== undefined) await builderApi.deleteDraft(def.name).catch(() => undefined);
    setRevision(undefined);
    setSaved(JSON.stringify(def));
    void qc.invalidateQueries({ queryKey: ['builder'] });
    void message.success(bt('publish.done', { v: r.version }));
  };

  const discard = () =>
    modal.confirm({
      title: bt('editor.discardConfirm'),
      okText: bt('common.ok'),
      cancelText: bt('common.cancel'),
      onOk: async () => {
        if (revision !== undefined) await builderApi.deleteDraft(def.name).catch(() => undefined);
        void qc.invalidateQueries({ queryKey: ['builder'] });
        if (published) {
          setDef(structuredClone(published.definition));
          setSaved(JSON.stringify(published.definition));
          setRevision(undefined);
          setProblems([]);
        } else void navigate('/builder');
      },
    });

  const entityProblemCount = (e: EntityDef) => [...idx.fields.keys()].filter((k) => k.startsWith(`${e.name}/`)).length + (idx.entities.get(e.name)?.length ?? 0);
  const flowProblemCount = [...idx.nodes.values()].reduce((n, l) => n + l.length, 0);
  const status = published ? (revision !== undefined ? bt('editor.fromDraft', { v: loaded.draft?.basedOnVersion ?? published.version }) : bt('editor.version', { v: published.version })) : bt('editor.newApp');

  return (
    <div className="builder-page builder-editor" data-testid="app-editor">
      <div className="editor-head">
        <Space wrap>
          <Button icon={<ArrowLeftOutlined />} onClick={() => void navigate('/builder')} aria-label={bt('common.back')} />
          <Typography.Title level={4} style={{ margin: 0 }}>
            {lbl(def.label, def.name)} <code className="app-code">{def.name}</code>
          </Typography.Title>
          <Tag color={published ? 'green' : 'orange'}>{status}</Tag>
          {dirty ? <Tag color="gold">{bt('editor.unsaved')}</Tag> : null}
        </Space>
        <Space wrap>
          <Button icon={<SaveOutlined />} onClick={() => save.mutate()} loading={save.isPending} disabled={!dirty} data-testid="save-draft">
            {bt('editor.saveDraft')}
          </Button>
          {revision !== undefined || dirty ? <Button onClick={discard}>{bt('editor.discardDraft')}</Button> : null}
          <Button icon={<CheckCircleOutlined />} onClick={() => check.mutate()} loading={check.isPending} data-testid="validate">
            {bt('editor.validate')}
          </Button>
          <Button type="primary" icon={<CloudUploadOutlined />} onClick={() => setPublishing(true)} data-testid="publish">
            {bt('editor.publish')}
          </Button>
        </Space>
      </div>
      {problems.length ? (
        <Alert
          type="error"
          showIcon
          closable
          onClose={() => setProblems([])}
          title={`${bt('editor.serverProblems')} · ${bt('editor.problems', { n: problems.length })}`}
          description={
            <ul className="problem-list" data-testid="problem-list">
              {shown.slice(0, 12).map((p) => (
                <li key={p.path + p.message}>
                  <code>{p.path}</code> {p.message}
                </li>
              ))}
            </ul>
          }
          style={{ marginBottom: 12 }}
        />
      ) : null}
      <div className="entity-bar">
        <label className="prop-label" htmlFor="entity-select">
          {bt('editor.entity')}
        </label>
        <Select
          id="entity-select"
          style={{ minWidth: 220 }}
          value={entity?.name}
          onChange={setEntityName}
          options={def.entities.map((e) => ({
            value: e.name,
            label: (
              <span>
                {lbl(e.label, e.name)} <code>{e.name}</code> {entityProblemCount(e) ? <Badge count={entityProblemCount(e)} size="small" /> : null}
              </span>
            ),
          }))}
        />
        <Button icon={<PlusOutlined />} onClick={() => setAddingEntity(true)}>
          {bt('editor.addEntity')}
        </Button>
      </div>
      <Tabs
        activeKey={tab}
        onChange={setTab}
        items={[
          {
            key: 'form',
            label: bt('editor.tabs.form'),
            children: entity ? <FormDesigner app={def} entity={entity} publishedNames={publishedNames} problems={idx} onChange={setEntity} /> : null,
          },
          {
            key: 'flow',
            label: (
              <span data-testid="tab-flow">
                {bt('editor.tabs.flow')} {flowProblemCount ? <Badge count={flowProblemCount} size="small" /> : null}
              </span>
            ),
            children: <FlowDesigner app={def} problems={idx} onChange={setDef} />,
          },
          { key: 'perms', label: bt('editor.tabs.perms'), children: entity ? <PermissionsEditor entity={entity} onChange={setEntity} problems={idx} /> : null },
          { key: 'list', label: bt('editor.tabs.list'), children: entity ? <ListViewSettings entity={entity} onChange={setEntity} problems={idx} /> : null },
          {
            key: 'settings',
            label: <span data-testid="tab-settings">{bt('editor.tabs.settings')}</span>,
            children: entity ? (
              <EntitySettings
                entity={entity}
                onChange={setEntity}
                problems={idx}
                canDelete={def.entities.length > 1}
                onDelete={() => {
                  const rest = def.entities.filter((e) => e.name !== entity.name);
                  setDef({ ...def, entities: rest, workflows: workflowsOf(def).filter((w) => w.entity !== entity.name) });
                  setEntityName(rest[0]?.name ?? '');
                }}
              />
            ) : null,
          },
        ]}
      />
      <PublishDialog
        open={publishing}
        definition={def}
        onClose={() => setPublishing(false)}
        onPublished={(r) => void onPublished(r)}
        onProblems={(p) => {
          setProblems(p);
        }}
      />
      <Modal open={addingEntity} title={bt('editor.addEntity')} okText={bt('common.ok')} cancelText={bt('common.cancel')} onCancel={() => setAddingEntity(false)} onOk={() => entityForm.submit()} destroyOnHidden>
        <Form
          form={entityForm}
          layout="vertical"
          onFinish={(v) => {
            const e: EntityDef = { name: v.name, label: { zh: v.zh }, fields: [{ name: 'title', type: 'text', label: { zh: '标题', en: 'Title' } }] };
            e.layout = defaultLayout(e);
            setDef({ ...def, entities: [...def.entities, e] });
            setEntityName(v.name);
            setAddingEntity(false);
          }}
        >
          <Form.Item
            name="name"
            label={bt('editor.entityName')}
            extra={bt('apps.nameHelp')}
            rules={[
              { required: true, message: bt('common.required') },
              { validator: (_r, v: string) => (!v || (isIdent(v) && !def.entities.some((e) => e.name === v)) ? Promise.resolve() : Promise.reject(new Error(bt('apps.nameInvalid')))) },
            ]}
          >
            <Input />
          </Form.Item>
          <Form.Item name="zh" label={bt('settings.labelZh')} rules={[{ required: true, message: bt('common.required') }]}>
            <Input />
          </Form.Item>
        </Form>
      </Modal>
    </div>
  );
}
