// Builds the server's condition AST from the entity's fields: rows of field · operator · value,
// joined with AND. No code is typed; operators follow the field type.
import { Button, Input, Select, Space } from 'antd';
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import type { EntityDef, FieldDef } from '../api.ts';
import { filterFields, type FilterRow } from './conditions.ts';
import { useI18n, type MessageKey } from '../i18n/index.tsx';
import { DepartmentPicker, UserPicker } from './FieldInput.tsx';
import { FILTER_OPS, label } from './model.ts';

export type { FilterRow } from './conditions.ts';

export function FilterBuilder({ entity, rows, onChange }: { entity: EntityDef; rows: FilterRow[]; onChange: (rows: FilterRow[]) => void }) {
  const { t, locale } = useI18n();
  const fields = filterFields(entity);
  const set = (i: number, patch: Partial<FilterRow>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <Space orientation="vertical" style={{ width: '100%' }} className="filter-builder">
      {rows.map((r, i) => {
        const f = fields.find((x) => x.name === r.field);
        const ops = f ? (FILTER_OPS[f.type] ?? ['eq']) : [];
        const n = i + 1;
        return (
          <div key={i} className="filter-row">
            <Select
              aria-label={`${t('list.field')} ${n}`}
              value={r.field || undefined}
              placeholder={t('list.field')}
              onChange={(v: string) => {
                const nf = fields.find((x) => x.name === v);
                set(i, { field: v, op: nf ? (FILTER_OPS[nf.type]?.[0] ?? 'eq') : 'eq', value: undefined });
              }}
              options={fields.map((x) => ({ value: x.name, label: label(x.label, locale) }))}
              className="filter-field"
              showSearch={{ optionFilterProp: 'label' }}
            />
            <Select aria-label={`${t('list.op')} ${n}`} value={r.op} onChange={(v: string) => set(i, { op: v, value: undefined })} options={ops.map((o) => ({ value: o, label: t(`op.${o}` as MessageKey) }))} className="filter-op" />
            {f && r.op !== 'empty' && r.op !== 'not_empty' ? <ValueInput f={f} op={r.op} value={r.value} onChange={(v) => set(i, { value: v })} n={n} /> : <span className="filter-value" />}
            <Button type="text" danger icon={<DeleteOutlined />} aria-label={`${t('form.remove')} ${n}`} onClick={() => onChange(rows.filter((_, j) => j !== i))} />
          </div>
        );
      })}
      <Button icon={<PlusOutlined />} onClick={() => onChange([...rows, { field: '', op: 'eq' }])} className="touch-button">
        {t('list.addCondition')}
      </Button>
    </Space>
  );
}

function ValueInput({ f, op, value, onChange, n }: { f: FieldDef; op: string; value: unknown; onChange: (v: unknown) => void; n: number }) {
  const { t, locale } = useI18n();
  const aria = `${t('list.value')} ${n}`;
  const inputType = f.type === 'date' ? 'date' : f.type === 'datetime' ? 'datetime-local' : 'text';
  const conv = (s: string) => (f.type === 'datetime' && s ? new Date(s).toISOString() : s);
  if (f.type === 'user' || f.type === 'department') {
    const id = `filter-value-${n}`;
    const Picker = f.type === 'user' ? UserPicker : DepartmentPicker;
    return (
      <div className="filter-value">
        <label htmlFor={id} className="visually-hidden">
          {aria}
        </label>
        <Picker id={id} value={typeof value === 'string' ? value : null} onChange={(v) => onChange(v ?? undefined)} />
      </div>
    );
  }
  if (f.type === 'boolean') {
    return <Select aria-label={aria} className="filter-value" value={value === undefined ? undefined : String(value)} onChange={onChange} options={[{ value: 'true', label: t('form.yes') }, { value: 'false', label: t('form.no') }]} />;
  }
  if (f.options) {
    return (
      <Select
        aria-label={aria}
        className="filter-value"
        mode={op === 'in' ? 'multiple' : undefined}
        value={value as string | string[] | undefined}
        onChange={onChange}
        options={f.options.map((o) => ({ value: o.value, label: label(o.label, locale) }))}
      />
    );
  }
  if (op === 'between') {
    const pair = Array.isArray(value) ? (value as string[]) : ['', ''];
    return (
      <Space.Compact className="filter-value">
        <Input aria-label={`${aria} ≥`} type={inputType} value={pair[0]} onChange={(e) => onChange([conv(e.target.value), pair[1] ?? ''])} />
        <Input aria-label={`${aria} ≤`} type={inputType} value={pair[1]} onChange={(e) => onChange([pair[0] ?? '', conv(e.target.value)])} />
      </Space.Compact>
    );
  }
  return <Input aria-label={aria} className="filter-value" type={inputType} value={typeof value === 'string' ? (f.type === 'datetime' ? value.slice(0, 16) : value) : value === undefined ? '' : String(value)} onChange={(e) => onChange(conv(e.target.value))} />;
}
