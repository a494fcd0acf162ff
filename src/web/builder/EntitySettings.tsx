// Entity settings (labels, submittable, child, naming series, title field), list-view settings,
// and the permissions editor: role × action × row scope, plus field rights per role.
import { useId, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Alert, Button, Checkbox, Input, Select, Space, Table, Typography } from 'antd';
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { ACTIONS, ROW_SCOPES, type Action, type EntityDef, type PermissionDef, type RowScope } from '../../shared/definition.ts';
import { builderApi } from './builderApi.ts';
import { useBuilderI18n } from './i18n.ts';
import { cleanLabel, namingExample, type ProblemIndex } from './model.ts';

const SYSTEM_LIST_COLUMNS = ['name', 'status', 'created_at', 'updated_at', 'created_by'];

function entityErrors(problems: ProblemIndex, entity: string, part: string): string | undefined {
  const list = (problems.entities.get(entity) ?? []).filter((p) => p.path.split('.')[2] === part);
  return list.length ? list.map((p) => `${p.path.split('.').slice(3).join('.') || part}: ${p.message}`).join('; ') : undefined;
}

export function EntitySettings({ entity, onChange, problems, onDelete, canDelete }: { entity: EntityDef; onChange: (e: EntityDef) => void; problems: ProblemIndex; onDelete: () => void; canDelete: boolean }) {
  const { bt, lbl } = useBuilderI18n();
  const uid = useId();
  const set = (patch: Partial<EntityDef>) => {
    const next = { ...entity, ...patch } as EntityDef & Record<string, unknown>;
    for (const k of Object.keys(patch)) if (next[k] === undefined || next[k] === '' || next[k] === false) delete next[k];
    onChange(next);
  };
  const example = entity.namingSeries ? namingExample(entity.namingSeries) : null;
  const namingError = entity.namingSeries && !example ? bt('settings.namingInvalid') : entityErrors(problems, entity.name, 'namingSeries');
  return (
    <div className="settings-form" data-testid="entity-settings">
      <div className="prop">
        <label className="prop-label" htmlFor={`${uid}-zh`}>
          {bt('settings.labelZh')}
        </label>
        <Input id={`${uid}-zh`} value={entity.label.zh} onChange={(e) => set({ label: { ...entity.label, zh: e.target.value } })} />
      </div>
      <div className="prop">
        <label className="prop-label" htmlFor={`${uid}-en`}>
          {bt('settings.labelEn')}
        </label>
        <Input id={`${uid}-en`} value={entity.label.en ?? ''} onChange={(e) => set({ label: cleanLabel({ zh: entity.label.zh, en: e.target.value }) ?? entity.label })} />
      </div>
      <div className="prop">
        <label className="prop-label" htmlFor={`${uid}-desc`}>
          {bt('settings.description')}
        </label>
        <Input.TextArea id={`${uid}-desc`} rows={2} value={entity.description ?? ''} onChange={(e) => set({ description: e.target.value })} />
      </div>
      <div className="prop-checks">
        <Checkbox checked={!!entity.submittable} disabled={!!entity.child} onChange={(e) => set({ submittable: e.target.checked })} data-testid="settings-submittable">
          {bt('settings.submittable')}
        </Checkbox>
        <Checkbox checked={!!entity.child} disabled={!!entity.submittable} onChange={(e) => set({ child: e.target.checked })}>
          {bt('settings.child')}
        </Checkbox>
      </div>
      <div className={`prop${namingError ? ' prop-error' : ''}`}>
        <label className="prop-label" htmlFor={`${uid}-naming`}>
          {bt('settings.namingSeries')}
        </label>
        <Input id={`${uid}-naming`} data-testid="settings-naming" placeholder="ECN-{YYYY}-{####}" value={entity.namingSeries ?? ''} status={namingError ? 'error' : undefined} onChange={(e) => set({ namingSeries: e.target.value.toUpperCase() })} />
        <div className="prop-help">{example ? bt('settings.namingPreview', { example }) : bt('settings.namingHelp')}</div>
        {namingError ? <div className="builder-error-text">{namingError}</div> : null}
      </div>
      <div className="prop">
        <label className="prop-label" htmlFor={`${uid}-title`}>
          {bt('settings.titleField')}
        </label>
        <Select
          id={`${uid}-title`}
          allowClear
          style={{ width: '100%' }}
          value={entity.titleField}
          onChange={(titleField?: string) => set({ titleField })}
          options={entity.fields.map((f) => ({ value: f.name, label: `${lbl(f.label, f.name)} (${f.name})` }))}
        />
        {entityErrors(problems, entity.name, 'titleField') ? <div className="builder-error-text">{entityErrors(problems, entity.name, 'titleField')}</div> : null}
      </div>
      <Button danger icon={<DeleteOutlined />} disabled={!canDelete} onClick={onDelete}>
        {bt('settings.deleteEntity')}
      </Button>
    </div>
  );
}

export function ListViewSettings({ entity, onChange, problems }: { entity: EntityDef; onChange: (e: EntityDef) => void; problems: ProblemIndex }) {
  const { bt, lbl } = useBuilderI18n();
  const uid = useId();
  const options = [...entity.fields.map((f) => ({ value: f.name, label: `${lbl(f.label, f.name)} (${f.name})` })), ...SYSTEM_LIST_COLUMNS.map((c) => ({ value: c, label: c }))];
  const lv = entity.listView ?? {};
  const setLv = (next: NonNullable<EntityDef['listView']>) => {
    const clean = { ...next };
    if (!clean.columns?.length) delete clean.columns;
    if (!clean.sort) delete clean.sort;
    const e: EntityDef = { ...entity, listView: clean };
    if (!clean.columns && !clean.sort) delete e.listView;
    onChange(e);
  };
  const err = entityErrors(problems, entity.name, 'listView');
  return (
    <div className="settings-form" data-testid="list-settings">
      <div className="prop">
        <label className="prop-label" htmlFor={`${uid}-cols`}>
          {bt('list.columns')}
        </label>
        <Select id={`${uid}-cols`} mode="multiple" style={{ width: '100%' }} value={lv.columns ?? []} options={options} onChange={(columns: string[]) => setLv({ ...lv, columns })} />
      </div>
      <Space wrap>
        <div className="prop">
          <label className="prop-label" htmlFor={`${uid}-sort`}>
            {bt('list.sortField')}
          </label>
          <Select
            id={`${uid}-sort`}
            allowClear
            style={{ width: 220 }}
            value={lv.sort?.field}
            options={options}
            onChange={(field?: string) => setLv({ ...lv, sort: field ? { field, dir: lv.sort?.dir ?? 'desc' } : undefined })}
          />
        </div>
        <div className="prop">
          <label className="prop-label" htmlFor={`${uid}-dir`}>
            {bt('list.sortDir')}
          </label>
          <Select
            id={`${uid}-dir`}
            style={{ width: 120 }}
            disabled={!lv.sort}
            value={lv.sort?.dir ?? 'desc'}
            onChange={(dir: 'asc' | 'desc') => lv.sort && setLv({ ...lv, sort: { ...lv.sort, dir } })}
            options={[
              { value: 'asc', label: bt('list.asc') },
              { value: 'desc', label: bt('list.desc') },
            ]}
          />
        </div>
      </Space>
      {err ? <div className="builder-error-text">{err}</div> : null}
    </div>
  );
}

export function PermissionsEditor({ entity, onChange, problems }: { entity: EntityDef; onChange: (e: EntityDef) => void; problems: ProblemIndex }) {
  const { bt, lbl, locale } = useBuilderI18n();
  const roles = useQuery({ queryKey: ['builder', 'roles'], queryFn: builderApi.roles, staleTime: 60_000 });
  const [newRole, setNewRole] = useState<string | undefined>();
  const perms = entity.permissions ?? [];
  const setPerms = (list: PermissionDef[]) => {
    const e: EntityDef = { ...entity, permissions: list };
    if (!list.length) delete e.permissions;
    onChange(e);
  };
  const update = (role: string, patch: Partial<PermissionDef>) =>
    setPerms(
      perms.map((p) => {
        if (p.role !== role) return p;
        const n = { ...p, ...patch };
        if (!n.fields || Object.keys(n.fields).length === 0) delete n.fields;
        if (n.scope === 'all' || n.scope === undefined) delete n.scope;
        return n;
      }),
    );
  const roleName = (code: string) => {
    if (code === '*') return bt('perm.everyone');
    const r = roles.data?.find((x) => x.code === code);
    return r ? `${locale === 'en' && r.nameEn ? r.nameEn : r.name} (${code})` : code;
  };
  const actions = ACTIONS.filter((a) => entity.submittable || (a !== 'submit' && a !== 'cancel'));
  const err = entityErrors(problems, entity.name, 'permissions');
  if (entity.child) return <Alert type="info" title={bt('settings.child')} description="child rows follow the permissions of their parent" />;

  return (
    <div data-testid="perm-editor">
      <Table<PermissionDef>
        size="small"
        rowKey="role"
        pagination={false}
        dataSource={perms}
        scroll={{ x: true }}
        columns={[
          { title: bt('perm.role'), dataIndex: 'role', render: (r: string) => roleName(r), fixed: 'left' },
          ...actions.map((a: Action) => ({
            title: bt(`act.${a}`),
            key: a,
            render: (_: unknown, p: PermissionDef) => (
              <Checkbox
                aria-label={bt('perm.action', { role: p.role, action: bt(`act.${a}`) })}
                checked={p.actions.includes(a)}
                onChange={(e) => {
                  const next = e.target.checked ? [...p.actions, a] : p.actions.filter((x) => x !== a);
                  if (next.length) update(p.role, { actions: ACTIONS.filter((x) => next.includes(x)) });
                }}
              />
            ),
          })),
          {
            title: bt('perm.scope'),
            key: 'scope',
            render: (_: unknown, p: PermissionDef) =>
              typeof p.scope === 'object' ? (
                <Typography.Text code>filter</Typography.Text>
              ) : (
                <Select
                  aria-label={`${bt('perm.scope')} ${p.role}`}
                  size="small"
                  style={{ width: 140 }}
                  value={p.scope ?? 'all'}
                  onChange={(scope: RowScope) => update(p.role, { scope })}
                  options={ROW_SCOPES.map((s) => ({ value: s, label: bt(`scope.${s}`) }))}
                />
              ),
          },
          {
            title: '',
            key: 'del',
            render: (_: unknown, p: PermissionDef) => (
              <Button type="text" danger icon={<DeleteOutlined />} aria-label={`${bt('common.delete')} ${p.role}`} onClick={() => setPerms(perms.filter((x) => x.role !== p.role))} />
            ),
          },
        ]}
        expandable={{
          expandedRowRender: (p) => (
            <div className="perm-fields">
              <Typography.Text strong>{bt('perm.fields')}</Typography.Text>
              <div className="perm-field-grid">
                {entity.fields.map((f) => (
                  <label key={f.name} className="perm-field">
                    <span>{lbl(f.label, f.name)}</span>
                    <Select
                      aria-label={`${bt('perm.fields')} ${p.role} ${f.name}`}
                      size="small"
                      style={{ width: 110 }}
                      value={p.fields?.[f.name] ?? ''}
                      onChange={(v: '' | 'read' | 'write' | 'hidden') => {
                        const fields = { ...(p.fields ?? {}) };
                        if (v) fields[f.name] = v;
                        else delete fields[f.name];
                        update(p.role, { fields });
                      }}
                      options={[
                        { value: '', label: bt('perm.fieldDefault') },
                        { value: 'read', label: bt('perm.f.read') },
                        { value: 'write', label: bt('perm.f.write') },
                        { value: 'hidden', label: bt('perm.f.hidden') },
                      ]}
                    />
                  </label>
                ))}
              </div>
            </div>
          ),
        }}
      />
      <Space style={{ marginTop: 12 }} wrap>
        <Select
          aria-label={bt('perm.role')}
          data-testid="perm-role-select"
          style={{ width: 240 }}
          placeholder={bt('perm.role')}
          value={newRole}
          onChange={setNewRole}
          loading={roles.isPending}
          options={[{ code: '*' }, ...(roles.data ?? [])].filter((r) => !perms.some((p) => p.role === r.code)).map((r) => ({ value: r.code, label: roleName(r.code) }))}
        />
        <Button
          icon={<PlusOutlined />}
          data-testid="perm-add-role"
          disabled={!newRole}
          onClick={() => {
            if (!newRole) return;
            setPerms([...perms, { role: newRole, actions: ['read'] }]);
            setNewRole(undefined);
          }}
        >
          {bt('perm.addRole')}
        </Button>
      </Space>
      {err ? <div className="builder-error-text">{err}</div> : null}
    </div>
  );
}
