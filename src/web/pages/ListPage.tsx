// A list view of one entity: search, filters built from its fields, sort, column choice, saved
// views, keyset paging ("load more"), import and export. Phones get cards instead of a table.
import { lazy, Suspense, useMemo, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App as AntApp, Breadcrumb, Button, Dropdown, Empty, Grid, Space, Spin } from 'antd';
import { DownloadOutlined, FilterOutlined, PlusOutlined, SaveOutlined, SearchOutlined, SettingOutlined, UploadOutlined } from '@ant-design/icons';
import { api, API_BASE, recordsPath, type EntityDef, type FieldDef, type ListPage as Page, type RecordJson, type SavedView } from '../api.ts';
import { useI18n } from '../i18n/index.tsx';
import { PageLoading } from '../PageLoading.tsx';
import { errorText } from '../session.ts';
import { cell, useNames } from '../runtime/cells.tsx';
import { filterFields, fromCondition, toCondition, type FilterRow } from '../runtime/conditions.ts';
import { ErrorResult } from '../runtime/ErrorResult.tsx';
import { useAppDef, useMeContext } from '../runtime/hooks.ts';
import { canDo, fieldRights, findEntity, formatDateTime, label, NOT_IN_LIST, recordLink } from '../runtime/model.ts';
import { StatusTag } from '../runtime/StatusTag.tsx';

const ImportDialog = lazy(() => import('../runtime/ImportDialog.tsx'));
const ListPanels = lazy(() => import('../runtime/ListPanels.tsx'));

type Sort = { field: string; dir: 'asc' | 'desc' };

export default function ListPage() {
  const { app: appName = '', entity: entityName = '' } = useParams();
  const { t } = useI18n();
  const appQ = useAppDef(appName);
  if (appQ.isPending) return <PageLoading />;
  if (appQ.isError) return <ErrorResult title={t('app.notFound')} detail={errorText(appQ.error, t)} />;
  const entity = findEntity(appQ.data.definition, entityName);
  if (!entity) return <ErrorResult title={t('notFound.title')} />;
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
  const [panel, setPanel] = useState<'filter' | 'columns' | null>(null);
  const [panelsUsed, setPanelsUsed] = useState(false);
  const openPanel = (p: 'filter' | 'columns') => {
    setPanelsUsed(true);
    setPanel(p);
  };
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
      {/* Light page: native inputs here, antd's heavier Card/Input/Typography stay off the first runtime page. */}
      <form
        role="search"
        className="list-search"
        onSubmit={(e) => {
          e.preventDefault();
          setSearch(q.trim());
        }}
      >
        <SearchOutlined aria-hidden="true" className="list-search-icon" />
        <input
          type="search"
          aria-label={t('list.search')}
          placeholder={t('list.search')}
          value={q}
          onChange={(e) => {
            setQ(e.target.value);
            if (!e.target.value) setSearch('');
          }}
          className="native-input"
          data-testid="list-search"
          enterKeyHint="search"
        />
      </form>
      <Space wrap className="list-buttons">
        {/* native selects: light, and the phone's own picker in WeCom/DingTalk webviews */}
        <select aria-label={t('list.views')} className="native-select list-views" value={viewId ?? ''} onChange={(e) => applyView(e.target.value || null)}>
          <option value="">{t('list.allRecords')}</option>
          {(views.data?.items ?? []).map((v) => (
            <option key={v.id} value={v.id}>
              {v.name}
            </option>
          ))}
        </select>
        <select
          aria-label={t('list.sort')}
          className="native-select list-sort"
          value={sort ? `${sort.dir === 'desc' ? '-' : ''}${sort.field}` : '-created_at'}
          onChange={(e) => {
            const v = e.target.value;
            setSort(v.startsWith('-') ? { field: v.slice(1), dir: 'desc' } : { field: v, dir: 'asc' });
          }}
        >
          {sortOptions.flatMap((o) => [
            <option key={`-${o.value}`} value={`-${o.value}`}>{`${o.label} ↓`}</option>,
            <option key={o.value} value={o.value}>{`${o.label} ↑`}</option>,
          ])}
        </select>
        <Button icon={<FilterOutlined />} onClick={() => { setDraftRows(rows); openPanel('filter'); }} className="touch-button">
          {t('list.filter')}
          {rows.length ? ` (${rows.length})` : ''}
        </Button>
        <Dropdown
          trigger={['click']}
          menu={{
            items: [
              { key: 'columns', icon: <SettingOutlined />, label: t('list.columns'), onClick: () => openPanel('columns') },
              { key: 'save', icon: <SaveOutlined />, label: t('list.saveView'), onClick: () => openPanel('columns') },
              ...(canDo(entity, me, 'export') ? [{ key: 'xlsx', icon: <DownloadOutlined />, label: <a href={exportUrl('xlsx')}>{t('list.export')} Excel</a> }, { key: 'csv', icon: <DownloadOutlined />, label: <a href={exportUrl('csv')}>{t('list.export')} CSV</a> }] : []),
              ...(canDo(entity, me, 'import') ? [{ key: 'import', icon: <UploadOutlined />, label: t('list.import'), onClick: () => setImportOpen(true) }] : []),
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

  const empty = !list.isPending && items.length === 0 ? <Empty description={t('list.empty')} /> : null;
  // A plain semantic table (antd's Table with its filter tree and pagination would double the page's JS).
  const table = (
    <div className="plain-table-wrap">
      <table className="plain-table">
        <thead>
          <tr>
            {entity.namingSeries ? <th scope="col">{t('list.name')}</th> : null}
            {colFields.map((f) => (
              <th key={f.name} scope="col">
                {label(f.label, locale)}
              </th>
            ))}
            {entity.submittable ? <th scope="col">{t('list.status')}</th> : null}
            <th scope="col">{t('list.updatedAt')}</th>
          </tr>
        </thead>
        <tbody>
          {items.map((r) => (
            <tr key={r.id} className="plain-row clickable-row" onClick={() => void navigate(recordLink(appName, entity.name, r.id))}>
              {entity.namingSeries ? (
                <td>
                  <Link to={recordLink(appName, entity.name, r.id)}>{r.name}</Link>
                </td>
              ) : null}
              {colFields.map((f, i) => (
                <td key={f.name}>{i === 0 && !entity.namingSeries ? <Link to={recordLink(appName, entity.name, r.id)}>{cell(f, r.values[f.name], locale, names)}</Link> : cell(f, r.values[f.name], locale, names)}</td>
              ))}
              {entity.submittable ? (
                <td>
                  <StatusTag status={r.status} />
                </td>
              ) : null}
              <td>{formatDateTime(r.updated_at, locale)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {empty}
    </div>
  );

  const cards = (
    <>
      <ul className="record-cards">
        {items.map((r) => (
          <li key={r.id} className="record-card-item">
            <Link to={recordLink(appName, entity.name, r.id)} className="record-card-link">
              <div className="record-card-head">
                <strong>{titleOf(r) || r.id.slice(0, 8)}</strong>
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
          </li>
        ))}
      </ul>
      {empty}
    </>
  );

  return (
    <div className="list-page">
      <Breadcrumb className="page-crumbs" items={[{ title: <Link to={`/a/${appName}`}>{label(appLabel, locale)}</Link> }, { title: label(entity.label, locale) }]} />
      <section className="panel">
        <h1 className="panel-title">{label(entity.label, locale)}</h1>
        {toolbar}
        {list.isError ? <Alert type="error" showIcon title={errorText(list.error, t)} className="form-problem" /> : null}
        {list.isPending ? <Spin className="list-spin" /> : phone ? cards : table}
        <div className="list-footer">
          <span className="muted">{t('list.count', { n: items.length })}</span>
          {list.hasNextPage ? (
            <Button onClick={() => void list.fetchNextPage()} loading={list.isFetchingNextPage} className="touch-button">
              {t('list.more')}
            </Button>
          ) : null}
        </div>
      </section>

      {panelsUsed ? (
        <Suspense fallback={null}>
          <ListPanels
            panel={panel}
            phone={phone}
            entity={entity}
            listable={listable}
            draftRows={draftRows}
            setDraftRows={setDraftRows}
            onApply={(r) => {
              setDraftRows(r);
              setRows(r);
              setPanel(null);
            }}
            columns={columns}
            setColumns={setColumns}
            viewName={viewName}
            setViewName={setViewName}
            saving={saveView.isPending}
            onSaveView={(n) => saveView.mutate(n)}
            canDelete={Boolean(viewId)}
            onDeleteView={() =>
              void api.delete(`/views/${viewId}`).then(() => {
                applyView(null);
                return queryClient.invalidateQueries({ queryKey: ['views', appName, entity.name] });
              })
            }
            onClose={() => setPanel(null)}
          />
        </Suspense>
      ) : null}

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
