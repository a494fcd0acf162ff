// Business-hours calendars (/calendars, administrators): the list, a drawer to create or change
// one (time zone, working weekdays, working periods, holidays, 调休 make-up days), delete, and a
// due-time calculation against the saved calendar so an administrator can check it before
// approval deadlines rely on it. The server validates; its problems are shown beside the fields.
import { useMemo, useState, type ReactNode } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Checkbox, Drawer, Form, Grid, Input, InputNumber, Modal, Result, Select, Space, Tag, Typography } from 'antd';
import { DrawerFormActions } from '../components/DrawerFormActions.tsx';
import { CalculatorOutlined, DeleteOutlined, EditOutlined, MinusCircleOutlined, PlusOutlined } from '@ant-design/icons';
import dayjs from 'dayjs';
import { isApiError } from '../api.ts';
import { useMe } from '../session.ts';
import { CALENDARS_KEY, calendarsApi, DEFAULT_CALENDAR, type CalendarDefinition, type DuePreview, type StoredCalendar } from './api.ts';
import { localProblems, problemSummary, problemText, useCalendarI18n, type CT } from './i18n.ts';
import { expandDates, formatIn, placeProblems, wallClock, zonedInstant } from './model.ts';
import './calendars.css';

/** Calendars are plant settings: the server lets only administrators change them. */
const ADMIN_ROLE = 'admin';
const NAME_RE = /^[a-z][a-z0-9_-]*$/;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

interface FormShape {
  name: string;
  labelZh?: string;
  labelEn?: string;
  timeZone: string;
  weekdays: number[];
  hours: Array<{ from: string; to: string }>;
  holidays: string[];
  workdays: string[];
}

function timeZones(current: string | undefined): string[] {
  const all = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  return current && !all.includes(current) ? [current, ...all] : all;
}

function durationText(ct: CT, minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = Math.round(minutes % 60);
  return ct('hoursMinutes', { h, m });
}

// ---- the form -----------------------------------------------------------------------------------

function initialOf(editing: StoredCalendar | null, plantZone: string): FormShape {
  if (!editing) {
    return { name: '', timeZone: plantZone, weekdays: [1, 2, 3, 4, 5], hours: [{ from: '08:30', to: '12:00' }, { from: '13:00', to: '17:30' }], holidays: [], workdays: [] };
  }
  const d = editing.definition;
  return { name: editing.name, labelZh: d.label?.zh ?? '', labelEn: d.label?.en ?? '', timeZone: d.timeZone, weekdays: [...d.weekdays].sort((a, b) => a - b), hours: d.hours.map((h) => ({ ...h })), holidays: [...d.holidays].sort(), workdays: [...d.workdays].sort() };
}

function CalendarForm({ editing, existing, plantZone, onClose }: { editing: StoredCalendar | null; existing: string[]; plantZone: string; onClose: () => void }) {
  const { ct, locale, weekday } = useCalendarI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const [form] = Form.useForm<FormShape>();
  const [initial] = useState(() => initialOf(editing, plantZone));
  const [notice, setNotice] = useState<string | null>(null);
  const [hoursError, setHoursError] = useState<string[]>([]);
  const zone = Form.useWatch('timeZone', form) ?? initial.timeZone;
  const zones = useMemo(() => timeZones(zone).map((z) => ({ value: z, label: z })), [zone]);

  const save = useMutation({
    mutationFn: ({ name, def }: { name: string; def: CalendarDefinition }) => calendarsApi.save(name, def),
    onSuccess: (c) => {
      void message.success(ct('saved', { name: c.name }));
      void qc.invalidateQueries({ queryKey: CALENDARS_KEY });
      onClose();
    },
    onError: (err) => {
      if (!isApiError(err)) return setNotice(err instanceof Error ? err.message : String(err));
      if (err.status === 0) return setNotice(ct('network'));
      const placed = placeProblems(localProblems(locale, err.errors), form.getFieldsValue(['holidays', 'workdays']) as FormShape);
      form.setFields(placed.fields as Parameters<typeof form.setFields>[0]);
      setHoursError(placed.hours);
      const main = problemSummary(locale, err);
      setNotice(placed.rest.length || (!placed.fields.length && !placed.hours.length) ? [main, ...placed.rest].join(' ') : ct('fixFields'));
    },
  });

  const submit = (v: FormShape) => {
    setNotice(null);
    setHoursError([]);
    const zh = v.labelZh?.trim();
    const en = v.labelEn?.trim();
    const def: CalendarDefinition = {
      ...(zh ? { label: { zh, ...(en ? { en } : {}) } } : {}),
      timeZone: v.timeZone,
      weekdays: [...(v.weekdays ?? [])].sort((a, b) => a - b),
      hours: (v.hours ?? []).map((h) => ({ from: (h.from ?? '').trim(), to: (h.to ?? '').trim() })),
      holidays: expandDates(v.holidays ?? []),
      workdays: expandDates(v.workdays ?? []),
    };
    save.mutate({ name: (editing?.name ?? v.name).trim(), def });
  };

  /** Typed runs are spread into days as soon as they are entered, so what is saved is what shows. */
  const normalizeDates = (value: unknown) => expandDates(Array.isArray(value) ? value.map(String) : []);
  const dateTagRender = (props: { label: ReactNode; value: unknown; closable: boolean; onClose: () => void }) => {
    const bad = !DATE_RE.test(String(props.value));
    return (
      <Tag color={bad ? 'error' : undefined} closable={props.closable} onClose={props.onClose} className="cal-date-tag">
        {props.label}
      </Tag>
    );
  };
  const datesInput = (testId: string) => (
    <Select mode="tags" open={false} suffixIcon={null} tokenSeparators={[',', '，', '、', ';', '；', '\n', ' ']} tagRender={dateTagRender} placeholder="2026-10-01" data-testid={testId} />
  );

  return (
    <Form form={form} layout="vertical" onFinish={submit} initialValues={initial} requiredMark="optional" data-testid="calendar-form">
      <Form.Item
        name="name"
        label={ct('name')}
        extra={editing ? undefined : ct('nameHelp')}
        required
        rules={
          editing
            ? []
            : [
                { required: true, message: ct('required') },
                { pattern: NAME_RE, message: ct('nameInvalid') },
                { max: 40 },
                { validator: (_r, v: string) => (v && existing.includes(v.trim()) ? Promise.reject(new Error(ct('nameTaken'))) : Promise.resolve()) },
              ]
        }
      >
        <Input autoComplete="off" spellCheck={false} disabled={!!editing} data-testid="calendar-name" />
      </Form.Item>
      <div className="cal-two">
        <Form.Item name="labelZh" label={ct('labelZh')} dependencies={['labelEn']} rules={[({ getFieldValue }) => ({ validator: (_r, v?: string) => (!v?.trim() && (getFieldValue('labelEn') as string | undefined)?.trim() ? Promise.reject(new Error(ct('labelZhNeeded'))) : Promise.resolve()) })]}>
          <Input autoComplete="off" maxLength={200} />
        </Form.Item>
        <Form.Item name="labelEn" label={ct('labelEn')}>
          <Input autoComplete="off" maxLength={200} />
        </Form.Item>
      </div>
      <Form.Item name="timeZone" label={ct('timeZone')} rules={[{ required: true, message: ct('required') }]}>
        <Select showSearch options={zones} data-testid="calendar-timezone" />
      </Form.Item>
      {/* at least one: the server says so beside the boxes */}
      <Form.Item name="weekdays" label={ct('weekdays')} required>
        <Checkbox.Group className="cal-weekdays" options={[1, 2, 3, 4, 5, 6, 7].map((d) => ({ value: d, label: weekday(d) }))} />
      </Form.Item>
      <Form.Item label={ct('hours')} extra={ct('hoursHelp')} required>
        <Form.List name="hours">
          {(rows, { add, remove }) => (
            <div className="cal-periods">
              {rows.map((row, i) => (
                <div key={row.key} className="cal-period" data-testid={`period-${i}`}>
                  <Form.Item name={[row.name, 'from']} rules={[{ required: true, message: ct('required') }]} className="cal-time">
                    <Input aria-label={ct('periodFrom', { n: i + 1 })} placeholder="08:30" maxLength={5} autoComplete="off" inputMode="numeric" />
                  </Form.Item>
                  <span className="cal-dash" aria-hidden="true">
                    –
                  </span>
                  <Form.Item name={[row.name, 'to']} rules={[{ required: true, message: ct('required') }]} className="cal-time">
                    <Input aria-label={ct('periodTo', { n: i + 1 })} placeholder="17:30" maxLength={5} autoComplete="off" inputMode="numeric" />
                  </Form.Item>
                  <Button type="text" icon={<MinusCircleOutlined />} disabled={rows.length <= 1} onClick={() => remove(row.name)} aria-label={ct('removePeriod', { n: i + 1 })} />
                </div>
              ))}
              {hoursError.length ? (
                <div className="cal-error" role="alert">
                  {hoursError.join('; ')}
                </div>
              ) : null}
              <Button type="dashed" icon={<PlusOutlined />} onClick={() => add({ from: '', to: '' })} disabled={rows.length >= 12} data-testid="period-add">
                {ct('addPeriod')}
              </Button>
            </div>
          )}
        </Form.List>
      </Form.Item>
      <Form.Item name="holidays" label={ct('holidays')} extra={ct('holidaysHelp')} normalize={normalizeDates}>
        {datesInput('calendar-holidays')}
      </Form.Item>
      <Form.Item name="workdays" label={ct('workdays')} extra={ct('workdaysHelp')} normalize={normalizeDates}>
        {datesInput('calendar-workdays')}
      </Form.Item>
      <DrawerFormActions error={notice} testId="calendar" cancelLabel={ct('cancel')} onCancel={onClose}>
        <Button type="primary" htmlType="submit" loading={save.isPending} data-testid="calendar-save">
          {ct('save')}
        </Button>
      </DrawerFormActions>
    </Form>
  );
}

// ---- the due-time calculation -------------------------------------------------------------------

function PreviewDialog({ calendar, onClose }: { calendar: StoredCalendar | null; onClose: () => void }) {
  const { ct, locale } = useCalendarI18n();
  const tz = calendar?.definition.timeZone ?? 'UTC';
  return (
    <Modal open={!!calendar} onCancel={onClose} footer={null} destroyOnHidden title={calendar ? ct('previewTitle', { name: calendar.name }) : ''} closable={{ 'aria-label': ct('close') }} data-testid="calendar-preview">
      {calendar ? <PreviewForm key={calendar.name} calendar={calendar} tz={tz} locale={locale} /> : null}
    </Modal>
  );
}

function PreviewForm({ calendar, tz, locale }: { calendar: StoredCalendar; tz: string; locale: string }) {
  const { ct, locale: lang } = useCalendarI18n();
  const [start, setStart] = useState(() => wallClock(new Date(), tz));
  /** A query parameter's problem under the input's own label. */
  const paramProblem = (e: { path: string; message: string }) => {
    const p = e.path.replace(/^querystring\./, '');
    return `${p === 'from' ? ct('previewStart') : p === 'minutes' ? ct('previewMinutes') : p}: ${problemText(lang, e.message)}`;
  };
  const [minutes, setMinutes] = useState<number | null>(120);
  const [result, setResult] = useState<DuePreview | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const run = useMutation({
    mutationFn: () => {
      const from = zonedInstant(start, tz);
      if (!from) throw new Error(ct('required'));
      return calendarsApi.due(calendar.name, from.toISOString(), minutes ?? 0);
    },
    onMutate: () => setProblem(null),
    onSuccess: setResult,
    onError: (err) => {
      setResult(null);
      setProblem(isApiError(err) ? (err.status === 0 ? ct('network') : [problemSummary(lang, err), ...err.errors.map(paramProblem)].join(' ')) : (err as Error).message);
    },
  });
  return (
    <div className="cal-preview">
      <Typography.Paragraph type="secondary">{ct('previewHelp', { tz })}</Typography.Paragraph>
      <div className="cal-preview-inputs">
        <label className="cal-field">
          <span className="cal-field-label">{ct('previewStart')}</span>
          <Input type="datetime-local" value={start} onChange={(e) => setStart(e.target.value)} data-testid="preview-start" />
        </label>
        <label className="cal-field">
          <span className="cal-field-label">{ct('previewMinutes')}</span>
          <InputNumber min={1} max={525_600} precision={0} value={minutes} onChange={setMinutes} suffix={ct('minutesUnit')} style={{ width: '100%' }} data-testid="preview-minutes" />
        </label>
        <Button type="primary" icon={<CalculatorOutlined />} loading={run.isPending} disabled={!start || !minutes} onClick={() => run.mutate()} data-testid="preview-run">
          {ct('previewRun')}
        </Button>
      </div>
      {problem ? <Alert type="error" showIcon title={problem} data-testid="preview-error" /> : null}
      {result ? (
        <Alert
          type="success"
          showIcon
          data-testid="preview-result"
          title={
            <span>
              {ct('previewDue')}: <strong data-testid="preview-due" data-due={result.due}>{formatIn(result.due, tz, locale)}</strong>
            </span>
          }
          description={ct('previewWall', { h: durationText(ct, result.wallMinutes) })}
        />
      ) : null}
    </div>
  );
}

// ---- the list -----------------------------------------------------------------------------------

function DatesSummary({ dates }: { dates: string[] }) {
  const { ct } = useCalendarI18n();
  if (!dates.length) return <>{ct('noDates')}</>;
  const shown = dates.slice(0, 6);
  return (
    <span className="cal-dates">
      {ct('dates', { n: dates.length })}
      {': '}
      {shown.join('、')}
      {dates.length > shown.length ? ' …' : ''}
    </span>
  );
}

function CalendarCard({ c, onEdit, onPreview, onDelete }: { c: StoredCalendar; onEdit: () => void; onPreview: () => void; onDelete: () => void }) {
  const { ct, locale, weekday } = useCalendarI18n();
  const d = c.definition;
  const label = d.label ? (locale === 'en' && d.label.en ? d.label.en : d.label.zh) : null;
  return (
    <Card
      size="small"
      className="cal-card"
      data-testid={`calendar-${c.name}`}
      title={
        <span className="cal-card-title">
          <strong>{label ?? c.name}</strong>
          {label ? <span className="cal-muted"> ({c.name})</span> : null}
        </span>
      }
      extra={c.name === DEFAULT_CALENDAR ? <Tag color="green">{c.builtIn ? ct('builtIn') : ct('plantDefault')}</Tag> : null}
    >
      <dl className="cal-facts">
        <dt>{ct('timeZone')}</dt>
        <dd>{d.timeZone}</dd>
        <dt>{ct('weekdays')}</dt>
        <dd>{[...d.weekdays].sort((a, b) => a - b).map(weekday).join('、')}</dd>
        <dt>{ct('hours')}</dt>
        <dd>{d.hours.map((h) => `${h.from}–${h.to}`).join(', ')}</dd>
        <dt>{ct('holidays')}</dt>
        <dd>
          <DatesSummary dates={d.holidays} />
        </dd>
        <dt>{ct('workdays')}</dt>
        <dd>
          <DatesSummary dates={d.workdays} />
        </dd>
      </dl>
      {c.updatedAt ? <div className="cal-muted">{ct('updated', { at: dayjs(c.updatedAt).format('YYYY-MM-DD HH:mm') })}</div> : null}
      <Space size={8} wrap className="cal-card-actions">
        <Button size="small" icon={<EditOutlined />} onClick={onEdit} data-testid={`edit-${c.name}`}>
          {ct('editShort')}
        </Button>
        <Button size="small" icon={<CalculatorOutlined />} onClick={onPreview} data-testid={`preview-${c.name}`}>
          {ct('preview')}
        </Button>
        {c.name !== DEFAULT_CALENDAR ? (
          <Button size="small" danger icon={<DeleteOutlined />} onClick={onDelete} data-testid={`delete-${c.name}`}>
            {ct('delete')}
          </Button>
        ) : null}
      </Space>
    </Card>
  );
}

export default function CalendarsPage() {
  const me = useMe();
  const { ct, locale } = useCalendarI18n();
  const { message, modal } = App.useApp();
  const bp = Grid.useBreakpoint();
  const qc = useQueryClient();
  const isAdmin = !!me.data?.roles.includes(ADMIN_ROLE);
  const list = useQuery({ queryKey: CALENDARS_KEY, queryFn: calendarsApi.list, enabled: isAdmin });
  const [drawer, setDrawer] = useState<{ open: boolean; editing: StoredCalendar | null }>({ open: false, editing: null });
  const [preview, setPreview] = useState<StoredCalendar | null>(null);
  const remove = useMutation({
    mutationFn: (name: string) => calendarsApi.remove(name),
    onSuccess: (_v, name) => {
      void message.success(ct('deleted', { name }));
      void qc.invalidateQueries({ queryKey: CALENDARS_KEY });
    },
  });

  if (me.data && !isAdmin) return <Result status="403" title="403" subTitle={ct('forbidden')} />;
  const items = list.data ?? [];
  const plantZone = items.find((c) => c.name === DEFAULT_CALENDAR)?.definition.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  const problem = (err: unknown) => (isApiError(err) ? (err.status === 0 ? ct('network') : problemSummary(locale, err)) : String(err));
  const confirmDelete = (c: StoredCalendar) =>
    modal.confirm({
      title: ct('deleteConfirm', { name: c.name }),
      content: ct('deleteHelp'),
      okText: ct('delete'),
      okButtonProps: { danger: true },
      cancelText: ct('cancel'),
      onOk: () => remove.mutateAsync(c.name).catch((err: unknown) => void message.error(problem(err))),
    });

  return (
    <div className="cal-page" data-testid="calendars-page">
      <div className="cal-head">
        <Typography.Title level={3} className="cal-title">
          {ct('title')}
        </Typography.Title>
        <Button type="primary" icon={<PlusOutlined />} onClick={() => setDrawer({ open: true, editing: null })} disabled={!list.data} data-testid="calendar-create">
          {ct('create')}
        </Button>
      </div>
      <Typography.Paragraph type="secondary">{ct('intro')}</Typography.Paragraph>
      {list.isError ? <Alert type="error" showIcon title={problem(list.error)} /> : null}
      {list.isPending ? <Card loading /> : null}
      <div className="cal-grid">
        {items.map((c) => (
          <CalendarCard key={c.name} c={c} onEdit={() => setDrawer({ open: true, editing: c })} onPreview={() => setPreview(c)} onDelete={() => confirmDelete(c)} />
        ))}
      </div>
      <Drawer
        open={drawer.open}
        onClose={() => setDrawer((d) => ({ ...d, open: false }))}
        size={bp.md ? 560 : '100%'}
        destroyOnHidden
        title={drawer.editing ? ct('edit', { name: drawer.editing.name }) : ct('create')}
        closable={{ 'aria-label': ct('close') }}
        data-testid="calendar-drawer"
      >
        {/* Mounted per opening: the form starts from this calendar and typing is never reset. */}
        <CalendarForm
          key={drawer.editing?.name ?? 'new'}
          editing={drawer.editing}
          existing={items.map((c) => c.name)}
          plantZone={plantZone}
          onClose={() => setDrawer((d) => ({ ...d, open: false }))}
        />
      </Drawer>
      <PreviewDialog calendar={preview} onClose={() => setPreview(null)} />
    </div>
  );
}
