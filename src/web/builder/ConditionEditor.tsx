// Conditions built from the form's fields without typing code: a list of rules
// (field · operator · value) joined by "all of" or "any of". Reads and writes the structured
// condition language of the definition ({field, op, value} / {and: [...]} / {or: [...]}).
import { Button, Input, Select, Space, Typography } from 'antd';
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import type { Condition, ConditionOp, FieldDef } from '../../shared/definition.ts';
import { useBuilderI18n } from './i18n.ts';
import { NUMERIC_TYPES } from './model.ts';

type Rule = { field: string; op: ConditionOp; value?: unknown };

const ORDERED: ConditionOp[] = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'between', 'in', 'nin', 'empty', 'not_empty'];
const TEXT: ConditionOp[] = ['eq', 'ne', 'like', 'in', 'nin', 'empty', 'not_empty'];
const CHOICE: ConditionOp[] = ['eq', 'ne', 'in', 'nin', 'empty', 'not_empty'];

export function opsForField(f: FieldDef | undefined): ConditionOp[] {
  if (!f) return ['eq', 'ne', 'empty', 'not_empty'];
  const t = f.type === 'formula' ? (f.resultType ?? 'text') : f.type;
  if (NUMERIC_TYPES.has(t) || t === 'date' || t === 'datetime') return ORDERED;
  if (['text', 'long_text', 'qr_code', 'auto_number', 'erp_link'].includes(t)) return TEXT;
  if (['select', 'user', 'department', 'link'].includes(t)) return CHOICE;
  if (t === 'boolean') return ['eq', 'ne', 'empty', 'not_empty'];
  if (t === 'multi_select') return ['in', 'nin', 'empty', 'not_empty'];
  return ['empty', 'not_empty'];
}

/** Fields a condition can test (not child tables or formulas over them). */
export const conditionFields = (fields: FieldDef[]) => fields.filter((f) => opsForField(f).length > 2 || f.type === 'boolean');

function split(c: Condition | undefined): { join: 'and' | 'or'; rules: Rule[] } | null {
  if (!c) return { join: 'and', rules: [] };
  if ('field' in c) return { join: 'and', rules: [c] };
  const list = 'and' in c ? c.and : 'or' in c ? c.or : null;
  if (!list || !list.every((x) => 'field' in x)) return null;
  return { join: 'and' in c ? 'and' : 'or', rules: list as Rule[] };
}

function join(j: 'and' | 'or', rules: Rule[]): Condition | undefined {
  if (rules.length === 0) return undefined;
  if (rules.length === 1) return rules[0];
  return j === 'and' ? { and: rules } : { or: rules };
}

function ValueInput({ field, op, value, onChange, label }: { field: FieldDef | undefined; op: ConditionOp; value: unknown; onChange: (v: unknown) => void; label: string }) {
  const { lbl } = useBuilderI18n();
  if (op === 'empty' || op === 'not_empty') return null;
  const multi = op === 'in' || op === 'nin';
  const t = field?.type;
  if (t === 'select' || t === 'multi_select') {
    const options = (field?.options ?? []).map((o) => ({ value: o.value, label: lbl(o.label, o.value) }));
    return (
      <Select aria-label={label} style={{ minWidth: 140 }} mode={multi ? 'multiple' : undefined} options={options} value={value as string | string[] | undefined} onChange={onChange} />
    );
  }
  if (t === 'boolean') {
    return (
      <Select
        aria-label={label}
        style={{ minWidth: 90 }}
        options={[
          { value: 'true', label: '是 / Yes' },
          { value: 'false', label: '否 / No' },
        ]}
        value={value === undefined ? undefined : String(value)}
        onChange={(v: string) => onChange(v === 'true')}
      />
    );
  }
  if (multi) {
    return <Select aria-label={label} mode="tags" style={{ minWidth: 160 }} value={(Array.isArray(value) ? value : []) as string[]} onChange={onChange} tokenSeparators={[',', '，']} />;
  }
  if (op === 'between') {
    const pair = Array.isArray(value) ? value : ['', ''];
    return (
      <Space.Compact>
        <Input aria-label={`${label} ≥`} style={{ width: 110 }} value={String(pair[0] ?? '')} onChange={(e) => onChange([e.target.value, pair[1] ?? ''])} />
        <Input aria-label={`${label} ≤`} style={{ width: 110 }} value={String(pair[1] ?? '')} onChange={(e) => onChange([pair[0] ?? '', e.target.value])} />
      </Space.Compact>
    );
  }
  const placeholder = t === 'date' ? '2026-01-31' : t && NUMERIC_TYPES.has(t) ? '50000' : undefined;
  // Numbers stay strings: the server compares decimals exactly.
  return <Input aria-label={label} style={{ width: 140 }} placeholder={placeholder} value={value === undefined ? '' : String(value)} onChange={(e) => onChange(e.target.value)} />;
}

export function ConditionEditor({
  value,
  onChange,
  fields,
  idPrefix,
  error,
}: {
  value: Condition | undefined;
  onChange: (c: Condition | undefined) => void;
  fields: FieldDef[];
  idPrefix: string;
  error?: string | undefined;
}) {
  const { bt, lbl } = useBuilderI18n();
  const parts = split(value);
  if (!parts) {
    return (
      <Space orientation="vertical">
        <Typography.Text code>{JSON.stringify(value)}</Typography.Text>
        <Button size="small" onClick={() => onChange(undefined)}>
          {bt('cond.remove')}
        </Button>
      </Space>
    );
  }
  const usable = conditionFields(fields);
  const byName = new Map(fields.map((f) => [f.name, f]));
  const set = (rules: Rule[], j = parts.join) => onChange(join(j, rules));
  return (
    <div className="cond-editor" data-testid={`${idPrefix}-condition`}>
      {parts.rules.length > 1 ? (
        <Select
          aria-label={bt('cond.all')}
          size="small"
          value={parts.join}
          onChange={(j: 'and' | 'or') => set(parts.rules, j)}
          options={[
            { value: 'and', label: bt('cond.all') },
            { value: 'or', label: bt('cond.any') },
          ]}
          style={{ marginBottom: 8, width: 120 }}
        />
      ) : null}
      {parts.rules.map((r, i) => {
        const f = byName.get(r.field);
        const ops = opsForField(f);
        const n = i + 1;
        return (
          <div className="cond-rule" key={i}>
            <Select
              aria-label={`${bt('cond.field')} ${n}`}
              data-testid={`${idPrefix}-field-${i}`}
              style={{ minWidth: 130 }}
              showSearch={{ optionFilterProp: 'label' }}
              value={r.field || undefined}
              options={usable.map((x) => ({ value: x.name, label: `${lbl(x.label, x.name)} (${x.name})` }))}
              onChange={(field: string) => {
                const nf = byName.get(field);
                const nextOps = opsForField(nf);
                set(parts.rules.map((x, j) => (j === i ? { field, op: nextOps.includes(x.op) ? x.op : nextOps[0]! } : x)));
              }}
            />
            <Select
              aria-label={`${bt('cond.op')} ${n}`}
              data-testid={`${idPrefix}-op-${i}`}
              style={{ minWidth: 100 }}
              value={r.op}
              options={ops.map((o) => ({ value: o, label: bt(`op.${o}`) }))}
              onChange={(op: ConditionOp) => set(parts.rules.map((x, j) => (j === i ? clean({ field: x.field, op, value: op === 'empty' || op === 'not_empty' ? undefined : x.value }) : x)))}
            />
            <ValueInput
              label={`${bt('cond.value')} ${n}`}
              field={f}
              op={r.op}
              value={r.value}
              onChange={(v) => set(parts.rules.map((x, j) => (j === i ? { ...x, value: v } : x)))}
            />
            <Button type="text" danger icon={<DeleteOutlined />} aria-label={`${bt('cond.remove')} ${n}`} onClick={() => set(parts.rules.filter((_x, j) => j !== i))} />
          </div>
        );
      })}
      <Button
        size="small"
        icon={<PlusOutlined />}
        data-testid={`${idPrefix}-add`}
        disabled={usable.length === 0}
        onClick={() => {
          const f = usable[0]!;
          set([...parts.rules, { field: f.name, op: opsForField(f)[0]! }]);
        }}
      >
        {bt('cond.add')}
      </Button>
      {error ? <div className="builder-error-text">{error}</div> : null}
    </div>
  );
}

function clean(r: Rule): Rule {
  return r.value === undefined ? { field: r.field, op: r.op } : r;
}
