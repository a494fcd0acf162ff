// A list view of one entity: search, filters built from its fields, sort, column choice, saved
// views, keyset paging ("load more"), import and export. Phones get cards instead of a table.
import { lazy, Suspense, useMemo, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App as AntApp, Breadcrumb, Button, Card, Checkbox, Drawer, Dropdown, Empty, Grid, Input, List, Result, Select, Space, Table, Typography } from 'antd';
import { DownloadOutlined, FilterOutlined, PlusOutlined, SaveOutlined, SettingOutlined, UploadOutlined } from '@ant-design/icons';
import { api, API_BASE, recordsPath, type EntityDef, type FieldDef, type ListPage as Page, type RecordJson, type SavedView } from '../api.ts';
import { useI18n } from '../i18n/index.tsx';
import { PageLoading } from '../PageLoading.tsx';
import { errorText } from '../session.ts';
import { cell, useNames } from '../runtime/cells.tsx';
import { FilterBuilder, filterFields, fromCondition, toCondition, type FilterRow } from '../runtime/FilterBuilder.tsx';
import { useAppDef, useMeContext } from '../runtime/hooks.ts';
import { canDo, fieldRights, findEntity, formatDateTime, label, NOT_IN_LIST, recordLink } from '../runtime/model.ts';
import { StatusTag } from '../runtime/Trail.tsx';

const ImportDialog = lazy(() => import('../runtime/ImportDialog.tsx'));

type Sort = { field: string; dir: 'asc' | 'desc' };

export default function ListPage() {
  const { app: appName = '', entity: entityName = '' } = useParams();
  const { t } = useI18n();
  const appQ = useAppDef(appName);
  if (appQ.isPending) return <PageLoading />;
  if (appQ.isError) return <Result status="warning" title={t('app.notFound')} subTitle={errorText(appQ.error, t)} />;
  const entity = findEntity(appQ.data.definition, entityName);
  if (!entity) return <Result status="404" title={t('notFound.title')} />;
  return <EntityList key={`${appName}/${entityName}`} appName={appName} appLabel={appQ.data.definition.label} entity={entity} />;
}

function EntityList({ appName, appLabel, entity }: { appName: string; appLabel: { zh: string; en?: string }; entity: EntityDef }) {
  const { t, locale } = useI18n();
  const me = useMeContext();
  const { message } = AntApp.useApp();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const screens = Grid.useBreakpoint();
  const phone = !screens.md;
  const names = useNames(locale);
  const rights = useMemo(() => fieldRights(entity, me), [entity, me]);
  const readable = entity.fields.filter((f) => rights[f.name] !== 'hidden');
  const listable = readable.filter((f) => !NOT_IN_LIST.has(f.type));
  const defaultColumns = (entity.listView?.columns?.length ? entity.listView.columns : listable.slice(0, 5).map((f) => f.name)).filter((c) => listable.some((f) => f.name === c));

  const [q, setQ] = useState('');
  const [search, setSearch] = useState('');
  const [rows, setRows] = useState<FilterRow[]>([]);
  const [draftRows, setDraftRows] = useState<FilterRow[]>([]);
  const [sort, setSort] = useState<Sort | undefined>(entity.listView?.sort);
  const [columns, setColumns] = useState<string[]>(defaultColumns);
  const [filterOpen, setFilterOpen] = useState(false);
  const [columnsOpen, setColumnsOpen] = useState(false);
  const [importOpen, setImportOpen] = useState(false);
  const [viewId, setViewId] = useState<string | null>(null);
  const [viewName, setViewName] = useState('');

  const filter = useMemo(() => toCondition(rows, filterFields(entity)), [rows, entity]);
  const base = recordsPath(appName, entity.name);
  const list = useInfiniteQuery({
    queryKey: ['records', appName, entity.name, { filter, sort, search }],
    queryFn: ({ pageParam }) =>
      api.post<Page>(`${base}/query`, { filter, sort: sort ? [sort] : undefined, q: search || undefined, after: pageParam, limit: phone ? 20 : 50 }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor,
  });
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];

  const views = useQuery({ queryKey: ['views', appName, entity.name], queryFn: () => api.get<{ items: SavedView[] }>(`/views?app=${appName}&entity=${entity.name}`) });
  const saveView = useMutation({
    mutationFn: (name: string) => api.put<SavedView>('/views', { app: appName, entity: entity.name, name, config: { filter, sort: sort ? [sort] : undefined, columns, q: search || undefined } }),
    onSuccess: async (v) => {
      setViewId(v.id);
      void message.success(t('list.viewSaved'));
      await queryClient.invalidateQueries({ queryKey: ['views', appName, entity.name] });
    },
    onError: (err) => void message.error(errorText(err, t)),
  });
  const applyView = (id: string | null) => {
    setViewId(id);
    const v = views.data?.items.find((x) => x.id === id);
    const c = v?.config ?? {};
    const r = fromCondition(c.filter);
    setRows(r);
    setDraftRows(r);
    setSort(c.sort?.[0] ?? entity.listView?.sort);
    setColumns(c.columns?.length ? c.columns : defaultColumns);
    setQ(c.q ?? '');
    setSearch(c.q ?? '');
    setViewName(v?.name ?? '');
  };

  const exportUrl = (format: 'xlsx' | 'csv') => {
    const p = new URLSearchParams({ format, lang: locale === 'en' ? 'en' : 'zh' });
    if (filter) p.set('filter', JSON.stringify(filter));
    if (sort) p.set('sort', `${sort.dir === 'desc' ? '-' : ''}${sort.field}`);
    if (search) p.set('q', search);
    return `${API_BASE}${base}/export?${p.toString()}`;
  };

  const colFields = columns.map((c) => listable.find((f) => f.name === c)).filter((f): f is FieldDef => Boolean(f));
  const titleOf = (r: RecordJson) => r.name ?? (entity.titleField ? String(r.values[entity.titleField] ?? '') : '') ?? r.id.slice(0, 8);
  const sortOptions = [
    { value: 'created_at', label: t('list.createdAt') },
    { value: 'updated_at', label: t('list.updatedAt') },
    ...listable.map((f) => ({ value: f.name, label: label(f.label, locale) })),
  ];

  const toolbar = (
    <div className="list-toolbar">
      <Input.Search
        aria-label={t('list.search')}
        placeholder={t('list.search')}
        allowClear
        value={q}
        onChange={(e) => setQ(e.target.value)}
        onSearch={(v) => setSearch(v.trim())}
        className="list-search"
        data-testid="list-search"
      />
      <Space wrap className="list-buttons">
        <Select
          aria-label={t('list.views')}
          className="list-views"
          value={viewId ?? ''}
          onChange={(v: string) => applyView(v || null)}
          options={[{ value: '', label: t('list.allRecords') }, ...(views.data?.items ?? []).map((v) => ({ value: v.id, label: v.name }))]}
        />
        <Button icon={<FilterOutlined />} onClick={() => { setDraftRows(rows); setFilterOpen(true); }} className="touch-button">
          {t('list.filter')}
          {rows.length ? ` (${rows.length})` : ''}
        </Button>
        <Select
          aria-label={t('list.sort')}
          className="list-sort"
          value={sort ? `${sort.dir === 'desc' ? '-' : ''}${sort.field}` : '-created_at'}
          onChange={(v: string) => setSort(v.startsWith('-') ? { field: v.slice(1), dir: 'desc' } : { field: v, dir: 'asc' })}
          options={sortOptions.flatMap((o) => [
            { value: `-${o.value}`, label: `${o.label} ↓` },
            { value: o.value, label: `${o.label} ↑` },
          ])}
        />
        {!phone ? (
          <Button icon={<SettingOutlined />} onClick={() => setColumnsOpen(true)}>
            {t('list.columns')}
          </Button>
        ) : null}
        <Dropdown
          trigger={['click']}
          menu={{
            items: [
              ...(canDo(entity, me, 'export') ? [{ key: 'xlsx', icon: <DownloadOutlined />, label: <a href={exportUrl('xlsx')}>{t('list.export')} Excel</a> }, { key: 'csv', icon: <DownloadOutlined />, label: <a href={exportUrl('csv')}>{t('list.export')} CSV</a> }] : []),
              ...(canDo(entity, me, 'import') ? [{ key: 'import', icon: <UploadOutlined />, label: t('list.import'), onClick: () => setImportOpen(true) }] : []),
              { key: 'save', icon: <SaveOutlined />, label: t('list.saveView'), onClick: () => setColumnsOpen(true) },
            ],
          }}
        >
          <Button className="touch-button">{t('common.more')}</Button>
        </Dropdown>
        {canDo(entity, me, 'create') ? (
          <Button type="primary" icon={<PlusOutlined />} onClick={() => void navigate(`/a/${appName}/${entity.name}/new`)} className="touch-button" data-testid="list-new">
            {t('app.new')}
          </Button>
        ) : null}
      </Space>
    </div>
  );

  const table = (
    <Table<RecordJson>
      rowKey="id"
      size="middle"
      pagination={false}
      dataSource={items}
      loading={list.isFetching && !list.isFetchingNextPage}
      scroll={{ x: 'max-content' }}
      onRow={(r) => ({ onClick: () => void navigate(recordLink(appName, entity.name, r.id)), className: 'clickable-row' })}
      columns={[
        ...(entity.namingSeries ? [{ key: 'name', title: t('list.name'), render: (_: unknown, r: RecordJson) => <Link to={recordLink(appName, entity.name, r.id)}>{r.name}</Link> }] : []),
        ...colFields.map((f, i) => ({
          key: f.name,
          title: label(f.label, locale),
          render: (_: unknown, r: RecordJson) =>
            i === 0 && !entity.namingSeries ? <Link to={recordLink(appName, entity.name, r.id)}>{cell(f, r.values[f.name], locale, names)}</Link> : cell(f, r.values[f.name], locale, names),
        })),
        ...(entity.submittable ? [{ key: 'status', title: t('list.status'), render: (_: unknown, r: RecordJson) => <StatusTag status={r.status} /> }] : []),
        { key: 'updated_at', title: t('list.updatedAt'), render: (_: unknown, r: RecordJson) => formatDateTime(r.updated_at, locale) },
      ]}
      locale={{ emptyText: <Empty description={t('list.empty')} /> }}
    />
  );

  const cards = (
    <List<RecordJson>
      className="record-cards"
      dataSource={items}
      loading={list.isFetching && !list.isFetchingNextPage}
      locale={{ emptyText: <Empty description={t('list.empty')} /> }}
      renderItem={(r) => (
        <List.Item key={r.id} className="record-card-item">
          <Link to={recordLink(appName, entity.name, r.id)} className="record-card-link">
            <div className="record-card-head">
              <Typography.Text strong>{titleOf(r) || r.id.slice(0, 8)}</Typography.Text>
              {entity.submittable ? <StatusTag status={r.status} /> : null}
            </div>
            <dl className="record-card-fields">
              {colFields.slice(0, 4).map((f) => (
                <div key={f.name}>
                  <dt>{label(f.label, locale)}</dt>
                  <dd>{cell(f, r.values[f.name], locale, names)}</dd>
                </div>
              ))}
            </dl>
          </Link>
        </List.Item>
      )}
    />
  );

  return (
    <div className="list-page">
      <Breadcrumb className="page-crumbs" items={[{ title: <Link to={`/a/${appName}`}>{label(appLabel, locale)}</Link> }, { title: label(entity.label, locale) }]} />
      <Card variant="borderless" title={<Typography.Title level={4} className="page-title">{label(entity.label, locale)}</Typography.Title>}>
        {toolbar}
        {list.isError ? <Alert type="error" showIcon title={errorText(list.error, t)} className="form-problem" /> : null}
        {phone ? cards : table}
        <div className="list-footer">
          <Typography.Text type="secondary">{t('list.count', { n: items.length })}</Typography.Text>
          {list.hasNextPage ? (
            <Button onClick={() => void list.fetchNextPage()} loading={list.isFetchingNextPage} className="touch-button">
              {t('list.more')}
            </Button>
          ) : null}
        </div>
      </Card>

      <Drawer title={t('list.filter')} open={filterOpen} onClose={() => setFilterOpen(false)} size={phone ? 'default' : 'large'} placement={phone ? 'bottom' : 'right'} height={phone ? '80%' : undefined}
        extra={
          <Space>
            <Button onClick={() => { setDraftRows([]); setRows([]); setFilterOpen(false); }}>{t('list.clear')}</Button>
            <Button type="primary" onClick={() => { setRows(draftRows); setFilterOpen(false); }} data-testid="filter-apply">{t('list.apply')}</Button>
          </Space>
        }
      >
        <FilterBuilder entity={entity} rows={draftRows} onChange={setDraftRows} />
      </Drawer>

      <Drawer title={t('list.columns')} open={columnsOpen} onClose={() => setColumnsOpen(false)} placement={phone ? 'bottom' : 'right'} height={phone ? '80%' : undefined}>
        <Space orientation="vertical" style={{ width: '100%' }}>
          <Checkbox.Group value={columns} onChange={(v) => setColumns(v)} className="column-choice" options={listable.map((f) => ({ value: f.name, label: label(f.label, locale) }))} />
          <Typography.Title level={5}>{t('list.saveView')}</Typography.Title>
          <Space.Compact style={{ width: '100%' }}>
            <Input aria-label={t('list.viewName')} placeholder={t('list.viewName')} value={viewName} onChange={(e) => setViewName(e.target.value)} maxLength={60} />
            <Button type="primary" icon={<SaveOutlined />} data-testid="view-save" disabled={!viewName.trim()} loading={saveView.isPending} onClick={() => saveView.mutate(viewName.trim())}>
              {t('common.save')}
            </Button>
          </Space.Compact>
          {viewId ? (
            <Button danger type="link" onClick={() => void api.delete(`/views/${viewId}`).then(() => { applyView(null); return queryClient.invalidateQueries({ queryKey: ['views', appName, entity.name] }); })}>
              {t('list.deleteView')}
            </Button>
          ) : null}
        </Space>
      </Drawer>

      {importOpen ? (
        <Suspense fallback={null}>
          <ImportDialog
            app={appName}
            entity={entity}
            onClose={(imported) => {
              setImportOpen(false);
              if (imported) void queryClient.invalidateQueries({ queryKey: ['records', appName, entity.name] });
            }}
          />
        </Suspense>
      ) : null}
    </div>
  );
}
