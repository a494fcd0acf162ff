// One input per field type. Form.Item hands each control its id, value and onChange; values are
// kept in the shape the records API takes (decimals as exact strings, dates as YYYY-MM-DD,
// date-times as ISO UTC, durations in seconds, files as references).
import { lazy, Suspense, useMemo, useRef, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { AutoComplete, Button, Card, Checkbox, DatePicker, Input, InputNumber, Modal, Select, Space, Switch, TreeSelect, Typography, App as AntApp } from 'antd';
import { CameraOutlined, DeleteOutlined, EnvironmentOutlined, PaperClipOutlined, PlusOutlined, EditOutlined } from '@ant-design/icons';
import dayjs from 'dayjs';
import { api, fileUrl, recordsPath, uploadFile, type AppDef, type DepartmentNode, type EntityDef, type FieldDef, type FileRef, type ListPage, type Me, type OrgUser } from '../api.ts';
import { useI18n } from '../i18n/index.tsx';
import { errorText } from '../session.ts';
import { findEntity, formatDuration, label, parseDuration } from './model.ts';

const SignaturePad = lazy(() => import('./SignaturePad.tsx'));
const QrImage = lazy(() => import('./QrImage.tsx'));

export interface FieldInputProps {
  field: FieldDef;
  app: AppDef;
  me: Me;
  id?: string;
  value?: unknown;
  onChange?: (v: unknown) => void;
  disabled?: boolean;
  /** aria-invalid for the control */
  invalid?: boolean;
}

const DECIMAL_RE = /^-?\d*(\.\d*)?$/;

export function FieldInput(p: FieldInputProps) {
  const { field: f, value, onChange, disabled, id } = p;
  const { t, locale } = useI18n();
  const set = (v: unknown) => onChange?.(v);
  switch (f.type) {
    case 'text':
      return <Input id={id} value={(value as string) ?? ''} onChange={(e) => set(e.target.value)} disabled={disabled} maxLength={f.maxLength} allowClear />;
    case 'long_text':
      return <Input.TextArea id={id} value={(value as string) ?? ''} onChange={(e) => set(e.target.value)} disabled={disabled} autoSize={{ minRows: 2, maxRows: 8 }} maxLength={f.maxLength} />;
    case 'integer':
      return <InputNumber id={id} value={value as number | null} onChange={(v) => set(v ?? null)} disabled={disabled} precision={0} inputMode="numeric" style={{ width: '100%' }} min={f.min !== undefined ? Number(f.min) : undefined} max={f.max !== undefined ? Number(f.max) : undefined} />;
    case 'decimal':
    case 'money':
    case 'percent':
      return (
        <Input
          id={id}
          inputMode="decimal"
          value={(value as string) ?? ''}
          disabled={disabled}
          prefix={f.type === 'money' ? '¥' : undefined}
          suffix={f.type === 'percent' ? '%' : undefined}
          onChange={(e) => {
            const v = e.target.value.replace(/[,，\s]/g, '');
            if (DECIMAL_RE.test(v)) set(v === '' ? null : v);
          }}
        />
      );
    case 'duration':
      return <DurationInput id={id} value={value as number | null} onChange={set} disabled={disabled} />;
    case 'date':
      return (
        <DatePicker
          id={id}
          style={{ width: '100%' }}
          value={typeof value === 'string' && value ? dayjs(value) : null}
          onChange={(d) => set(d ? d.format('YYYY-MM-DD') : null)}
          disabled={disabled}
          inputReadOnly
        />
      );
    case 'datetime':
      return (
        <DatePicker
          id={id}
          showTime={{ format: 'HH:mm' }}
          format="YYYY-MM-DD HH:mm"
          style={{ width: '100%' }}
          value={typeof value === 'string' && value ? dayjs(value) : null}
          onChange={(d) => set(d ? d.toDate().toISOString() : null)}
          disabled={disabled}
          inputReadOnly
        />
      );
    case 'boolean':
      return <Switch id={id} checked={value === true} onChange={(c) => set(c)} disabled={disabled} checkedChildren={t('form.yes')} unCheckedChildren={t('form.no')} />;
    case 'select':
      return (
        <Select
          id={id}
          value={(value as string) ?? undefined}
          onChange={(v) => set(v ?? null)}
          allowClear
          disabled={disabled}
          options={(f.options ?? []).map((o) => ({ value: o.value, label: label(o.label, locale) }))}
          showSearch={{ optionFilterProp: 'label' }}
        />
      );
    case 'multi_select':
      return (f.options?.length ?? 0) <= 6 ? (
        <Checkbox.Group value={(value as string[]) ?? []} onChange={(v) => set(v)} disabled={disabled} options={(f.options ?? []).map((o) => ({ value: o.value, label: label(o.label, locale) }))} />
      ) : (
        <Select id={id} mode="multiple" value={(value as string[]) ?? []} onChange={(v) => set(v)} disabled={disabled} options={(f.options ?? []).map((o) => ({ value: o.value, label: label(o.label, locale) }))} />
      );
    case 'user':
      return <UserPicker id={id} value={value as string | null} onChange={set} disabled={disabled} />;
    case 'department':
      return <DepartmentPicker id={id} value={value as string | null} onChange={set} disabled={disabled} />;
    case 'link':
      return <LinkPicker id={id} app={p.app} target={f.target ?? ''} value={value as string | null} onChange={set} disabled={disabled} />;
    case 'erp_link':
      return <ErpPicker id={id} kind={f.target ?? ''} value={value as string | null} onChange={set} disabled={disabled} />;
    case 'qr_code':
      return (
        <Space orientation="vertical" style={{ width: '100%' }}>
          <Input id={id} value={(value as string) ?? ''} onChange={(e) => set(e.target.value)} disabled={disabled} />
          {typeof value === 'string' && value ? (
            <Suspense fallback={null}>
              <QrImage text={value} alt={`${t('form.qr')}: ${value}`} />
            </Suspense>
          ) : null}
        </Space>
      );
    case 'attachment':
    case 'image':
      return <FilesInput id={id} image={f.type === 'image'} value={value} onChange={set} disabled={disabled} fieldLabel={label(f.label, locale)} />;
    case 'signature':
      return <SignatureInput id={id} value={value} onChange={set} disabled={disabled} fieldLabel={label(f.label, locale)} />;
    case 'geolocation':
      return <GeoInput id={id} value={value as Geo | null} onChange={set} disabled={disabled} />;
    case 'child_table':
      return <ChildTable {...p} />;
    case 'formula':
    case 'auto_number':
      return (
        <Input
          id={id}
          value={value === null || value === undefined ? '' : String(value)}
          readOnly
          disabled
          placeholder={f.type === 'formula' ? t('form.computed') : t('form.autoNumber')}
        />
      );
    default:
      return <Input id={id} value={value === undefined || value === null ? '' : String(value)} disabled />;
  }
}

function DurationInput({ id, value, onChange, disabled }: { id?: string; value: number | null; onChange: (v: unknown) => void; disabled?: boolean }) {
  const { t } = useI18n();
  const [text, setText] = useState<string | null>(null);
  const shown = text ?? (typeof value === 'number' ? formatDuration(value) : '');
  return (
    <Input
      id={id}
      value={shown}
      disabled={disabled}
      inputMode="numeric"
      placeholder={t('form.durationHint')}
      onChange={(e) => setText(e.target.value)}
      onBlur={() => {
        if (text === null) return;
        const s = parseDuration(text);
        onChange(s === null || Number.isNaN(s) ? null : s);
        setText(null);
      }}
    />
  );
}

export function UserPicker({ id, value, onChange, disabled }: { id?: string; value: string | null; onChange: (v: string | null) => void; disabled?: boolean }) {
  const { t, locale } = useI18n();
  const [q, setQ] = useState('');
  const users = useQuery({
    queryKey: ['org-users', q],
    queryFn: () => api.get<{ items: OrgUser[] }>(`/org/users?limit=20${q ? `&q=${encodeURIComponent(q)}` : ''}`),
    staleTime: 60_000,
  });
  const current = useQuery({ queryKey: ['org-user', value], queryFn: () => api.get<OrgUser>(`/org/users/${value}`), enabled: Boolean(value), staleTime: 300_000 });
  const name = (u: OrgUser) => `${locale === 'en' && u.displayNameEn ? u.displayNameEn : u.displayName}（${u.username}）`;
  const options = (users.data?.items ?? []).map((u) => ({ value: u.id, label: name(u) }));
  const currentOption = current.data ? { value: current.data.id, label: name(current.data) } : null;
  return <SearchSelect {...{ id, value, onChange, disabled }} options={options} current={currentOption} loading={users.isFetching} onSearch={setQ} placeholder={t('form.searchPlaceholder')} />;
}

/**
 * A server-searched single choice: the options of the current search, plus the chosen value's own
 * option when the search does not list it (so the field never shows a bare id).
 */
function SearchSelect(p: {
  id?: string;
  value: string | null;
  onChange: (v: string | null) => void;
  disabled?: boolean;
  options: Array<{ value: string; label: string }>;
  current: { value: string; label: string } | null;
  loading: boolean;
  onSearch: (q: string) => void;
  placeholder: string;
}) {
  const options = p.value && p.current && !p.options.some((o) => o.value === p.value) ? [{ value: p.value, label: p.current.label }, ...p.options] : p.options;
  return (
    <Select
      id={p.id}
      value={p.value ?? undefined}
      onChange={(v) => p.onChange(v ?? null)}
      allowClear
      disabled={p.disabled}
      loading={p.loading}
      placeholder={p.placeholder}
      showSearch={{ filterOption: false, onSearch: p.onSearch }}
      options={options}
    />
  );
}

export function DepartmentPicker({ id, value, onChange, disabled }: { id?: string; value: string | null; onChange: (v: string | null) => void; disabled?: boolean }) {
  const { locale } = useI18n();
  const tree = useQuery({ queryKey: ['org-departments'], queryFn: () => api.get<{ items: DepartmentNode[] }>('/org/departments'), staleTime: 300_000 });
  interface Node {
    value: string;
    title: string;
    children: Node[];
  }
  const toNode = (d: DepartmentNode): Node => ({
    value: d.id,
    title: locale === 'en' && d.nameEn ? d.nameEn : d.name,
    children: d.children.map(toNode),
  });
  return (
    <TreeSelect
      id={id}
      value={value ?? undefined}
      onChange={(v) => onChange((v as string | undefined) ?? null)}
      allowClear
      disabled={disabled}
      treeDefaultExpandAll
      showSearch
      treeNodeFilterProp="title"
      treeData={(tree.data?.items ?? []).map(toNode)}
      style={{ width: '100%' }}
    />
  );
}

function LinkPicker({ id, app, target, value, onChange, disabled }: { id?: string; app: AppDef; target: string; value: string | null; onChange: (v: string | null) => void; disabled?: boolean }) {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const entity = findEntity(app, target);
  const title = (r: { id: string; name: string | null; values: Record<string, unknown> }) => {
    const tf = entity?.titleField ? r.values[entity.titleField] : undefined;
    return [r.name, tf].filter((x) => x !== null && x !== undefined && x !== '').join(' · ') || r.id.slice(0, 8);
  };
  const list = useQuery({
    queryKey: ['link', app.name, target, q],
    queryFn: () => api.get<ListPage>(`${recordsPath(app.name, target)}?limit=20${q ? `&q=${encodeURIComponent(q)}` : ''}`),
    staleTime: 30_000,
  });
  const current = useQuery({
    queryKey: ['record', app.name, target, value],
    queryFn: () => api.get<ListPage['items'][number]>(`${recordsPath(app.name, target)}/${value}`),
    enabled: Boolean(value),
    staleTime: 60_000,
  });
  const options = (list.data?.items ?? []).map((r) => ({ value: r.id, label: title(r) }));
  const currentOption = current.data ? { value: current.data.id, label: title(current.data) } : null;
  return <SearchSelect {...{ id, value, onChange, disabled }} options={options} current={currentOption} loading={list.isFetching} onSearch={setQ} placeholder={t('form.searchPlaceholder')} />;
}

/** ERP master data: a search against /masterdata/:kind when the integration hub offers it, else a code. */
function ErpPicker({ id, kind, value, onChange, disabled }: { id?: string; kind: string; value: string | null; onChange: (v: string | null) => void; disabled?: boolean }) {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const found = useQuery({
    queryKey: ['masterdata', kind, q],
    queryFn: () => api.get<{ items: Array<{ code: string; name?: string }> }>(`/masterdata/${encodeURIComponent(kind)}?q=${encodeURIComponent(q)}`),
    enabled: q.length > 0,
    retry: false,
    staleTime: 60_000,
  });
  const options = found.isSuccess ? (found.data.items ?? []).map((m) => ({ value: m.code, label: m.name ? `${m.code} ${m.name}` : m.code })) : [];
  return (
    <AutoComplete
      id={id}
      value={value ?? ''}
      options={options}
      disabled={disabled}
      onSearch={setQ}
      onChange={(v: string) => onChange(v ? v : null)}
      placeholder={t('form.erpCode')}
    />
  );
}

function asFiles(v: unknown): FileRef[] {
  if (!v) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x): x is FileRef => typeof x === 'object' && x !== null && typeof (x as FileRef).id === 'string');
}

function FilesInput({ id, image, value, onChange, disabled, fieldLabel }: { id?: string; image: boolean; value: unknown; onChange: (v: unknown) => void; disabled?: boolean; fieldLabel: string }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const [busy, setBusy] = useState(false);
  const picker = useRef<HTMLInputElement>(null);
  const files = asFiles(value);
  const pick = async (list: FileList | null) => {
    if (!list?.length) return;
    setBusy(true);
    try {
      const added: FileRef[] = [];
      for (const file of Array.from(list)) added.push(await uploadFile(file, file.name));
      onChange([...files, ...added]);
    } catch (err) {
      void message.error(errorText(err, t));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="files-input">
      {files.length ? (
        <ul className={image ? 'file-thumbs' : 'file-list'}>
          {files.map((f) => (
            <li key={f.id}>
              <a href={fileUrl(f.id)} target="_blank" rel="noreferrer">
                {image ? <img src={fileUrl(f.id)} alt={f.name} className="file-thumb" /> : <><PaperClipOutlined aria-hidden="true" /> {f.name}</>}
              </a>
              {!disabled ? (
                <Button size="small" type="text" danger icon={<DeleteOutlined />} aria-label={`${t('form.remove')} ${f.name}`} onClick={() => onChange(files.filter((x) => x.id !== f.id))} />
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      {!disabled ? (
        <>
          <Button id={id} icon={image ? <CameraOutlined /> : <PlusOutlined />} loading={busy} onClick={() => picker.current?.click()} className="touch-button">
            {busy ? t('form.uploading') : image ? t('form.takePhoto') : t('form.upload')}
          </Button>
          <input
            ref={picker}
            type="file"
            tabIndex={-1}
            className="visually-hidden"
            aria-label={`${fieldLabel}: ${image ? t('form.takePhoto') : t('form.upload')}`}
            accept={image ? 'image/*' : undefined}
            capture={image ? 'environment' : undefined}
            multiple={!image}
            disabled={busy}
            onChange={(e) => {
              void pick(e.target.files);
              e.target.value = '';
            }}
          />
        </>
      ) : null}
    </div>
  );
}

function SignatureInput({ id, value, onChange, disabled, fieldLabel }: { id?: string; value: unknown; onChange: (v: unknown) => void; disabled?: boolean; fieldLabel: string }) {
  const { t } = useI18n();
  const { message } = AntApp.useApp();
  const [open, setOpen] = useState(false);
  const ref = asFiles(value)[0];
  const dataUrl = typeof value === 'string' && value.startsWith('data:image/') ? value : null;
  const save = async (png: Blob) => {
    try {
      const r = await uploadFile(new File([png], 'signature.png', { type: 'image/png' }), 'signature.png');
      onChange({ id: r.id, name: r.name, contentType: 'image/png', signedAt: new Date().toISOString() });
      setOpen(false);
    } catch (err) {
      void message.error(errorText(err, t));
    }
  };
  return (
    <div className="signature-input">
      {ref ? <img src={fileUrl(ref.id)} alt={fieldLabel} className="signature-image" /> : dataUrl ? <img src={dataUrl} alt={fieldLabel} className="signature-image" /> : null}
      {!disabled ? (
        <Button id={id} icon={<EditOutlined />} onClick={() => setOpen(true)} className="touch-button">
          {ref || dataUrl ? t('form.resign') : t('form.sign')}
        </Button>
      ) : null}
      <Modal open={open} title={fieldLabel} footer={null} onCancel={() => setOpen(false)} destroyOnHidden width={560}>
        <Suspense fallback={null}>
          <SignaturePad onCancel={() => setOpen(false)} onDone={(png) => void save(png)} />
        </Suspense>
      </Modal>
    </div>
  );
}

interface Geo {
  lat: number;
  lng: number;
  accuracy?: number;
}

function GeoInput({ id, value, onChange, disabled }: { id?: string; value: Geo | null; onChange: (v: unknown) => void; disabled?: boolean }) {
  const { t } = useI18n();
  const [state, setState] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null });
  const locate = () => {
    if (!('geolocation' in navigator)) {
      setState({ busy: false, error: t('form.locateFailed', { reason: 'navigator.geolocation' }) });
      return;
    }
    setState({ busy: true, error: null });
    navigator.geolocation.getCurrentPosition(
      (p) => {
        onChange({ lat: Number(p.coords.latitude.toFixed(6)), lng: Number(p.coords.longitude.toFixed(6)), accuracy: Math.round(p.coords.accuracy) });
        setState({ busy: false, error: null });
      },
      (e) => setState({ busy: false, error: t('form.locateFailed', { reason: e.message || String(e.code) }) }),
      { enableHighAccuracy: true, timeout: 15_000, maximumAge: 60_000 },
    );
  };
  return (
    <Space orientation="vertical">
      {value ? (
        <Typography.Text>
          {value.lat.toFixed(6)}, {value.lng.toFixed(6)}
          {value.accuracy !== undefined ? `（${t('form.accuracy', { m: value.accuracy })}）` : ''}
        </Typography.Text>
      ) : null}
      {!disabled ? (
        <Button id={id} icon={<EnvironmentOutlined />} loading={state.busy} onClick={locate} className="touch-button">
          {state.busy ? t('form.locating') : t('form.locate')}
        </Button>
      ) : null}
      {state.error ? <Typography.Text type="danger">{state.error}</Typography.Text> : null}
    </Space>
  );
}

type Row = Record<string, unknown>;

/** Child-table rows edited inline, one card per row: readable on a phone, no wide table. */
function ChildTable(p: FieldInputProps) {
  const { t, locale } = useI18n();
  const child: EntityDef | undefined = useMemo(() => findEntity(p.app, p.field.target ?? ''), [p.app, p.field.target]);
  const rows = Array.isArray(p.value) ? (p.value as Row[]) : [];
  if (!child) return null;
  const fields = child.fields.filter((f) => f.type !== 'child_table');
  const setRow = (i: number, name: string, v: unknown) => p.onChange?.(rows.map((r, j) => (j === i ? { ...r, [name]: v } : r)));
  return (
    <div className="child-table" id={p.id}>
      {rows.map((r, i) => (
        <Card
          key={(r.id as string) ?? `new-${i}`}
          size="small"
          className="child-row"
          title={t('form.row', { n: i + 1 })}
          extra={!p.disabled ? <Button size="small" type="text" danger icon={<DeleteOutlined />} aria-label={`${t('form.removeRow')} ${i + 1}`} onClick={() => p.onChange?.(rows.filter((_, j) => j !== i))} /> : null}
        >
          <div className="child-grid">
            {fields.map((f) => {
              const cid = `${p.id ?? p.field.name}_${i}_${f.name}`;
              return (
                <div key={f.name} className="child-cell">
                  <label htmlFor={cid} className={f.required ? 'child-label is-required' : 'child-label'}>
                    {label(f.label, locale)}
                  </label>
                  <FieldInput field={f} app={p.app} me={p.me} id={cid} value={r[f.name]} onChange={(v) => setRow(i, f.name, v)} disabled={p.disabled} />
                </div>
              );
            })}
          </div>
        </Card>
      ))}
      {!p.disabled ? (
        <Button icon={<PlusOutlined />} onClick={() => p.onChange?.([...rows, {}])} block className="touch-button">
          {t('form.addRow')}
        </Button>
      ) : null}
    </div>
  );
}
