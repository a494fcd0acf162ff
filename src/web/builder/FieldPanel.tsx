// The property panel of one field: names and labels in both languages, rules, options, link
// target, visible-if / required-if conditions, help text. Every control is labelled; problems
// the server reported for this field are shown beside the property they concern.
import { useId, useState, type ReactNode } from 'react';
import { Alert, Button, Checkbox, Collapse, Input, InputNumber, Select, Space, Typography } from 'antd';
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { ERP_MASTER_KINDS, FORMULA_RESULT_TYPES, type AppDef, type EntityDef, type FieldDef, type FieldType } from '../../shared/definition.ts';
import { ConditionEditor } from './ConditionEditor.tsx';
import { useBuilderI18n } from './i18n.ts';
import { cleanLabel, FIELD_TYPE_INFO, fieldCaps, isIdent, NUMERIC_TYPES, type Problem } from './model.ts';

function Prop({ label, children, id, error, help }: { label: string; children: ReactNode; id: string; error?: string | undefined; help?: string | undefined }) {
  return (
    <div className={`prop${error ? ' prop-error' : ''}`}>
      <label htmlFor={id} className="prop-label">
        {label}
      </label>
      {children}
      {help ? <div className="prop-help">{help}</div> : null}
      {error ? (
        <div className="builder-error-text" role="alert">
          {error}
        </div>
      ) : null}
    </div>
  );
}

const numOrStr = (type: FieldType, s: string): number | string | undefined => {
  if (s.trim() === '') return undefined;
  if ((type === 'integer' || type === 'duration') && /^-?\d{1,15}$/.test(s.trim())) return Number(s.trim());
  return s.trim();
};

export function FieldPanel({
  app,
  entity,
  field,
  publishedNames,
  problems,
  onChange,
  onDelete,
}: {
  app: AppDef;
  entity: EntityDef;
  field: FieldDef;
  /** Names of this entity's fields in the published version (renames keep their data). */
  publishedNames: ReadonlySet<string>;
  problems: Problem[];
  onChange: (next: FieldDef, renamedFrom?: string) => void;
  onDelete: () => void;
}) {
  const { bt, lbl, locale } = useBuilderI18n();
  const uid = useId();
  const id = (k: string) => `${uid}-${k}`;
  const caps = fieldCaps(field.type);
  const errOf = (prop: string) =>
    problems
      .filter((p) => {
        const rest = p.path.split('.').slice(4);
        return prop === '' ? rest.length === 0 : rest[0] === prop;
      })
      .map((p) => p.message)
      .join('; ') || undefined;
  const set = (patch: Partial<FieldDef>) => {
    const next = { ...field, ...patch } as FieldDef & Record<string, unknown>;
    for (const k of Object.keys(patch)) if (next[k] === undefined || next[k] === '') delete next[k];
    onChange(next);
  };
  const others = entity.fields.filter((f) => f.name !== field.name);
  const original = field.renamedFrom ?? field.name;
  // The name is committed only when it is a valid identifier no other field uses, so the
  // definition never holds two fields of the same name while someone is typing.
  const [nameDraft, setNameDraft] = useState(field.name);
  const duplicate = others.some((f) => f.name === nameDraft);
  const nameError = !isIdent(nameDraft) ? bt('apps.nameInvalid') : duplicate ? bt('field.duplicate') : nameDraft === field.name ? errOf('name') : undefined;
  const typeName = (t: string) => {
    const i = FIELD_TYPE_INFO.find((x) => x.type === t);
    return i ? (locale === 'en' ? i.en : i.zh) : t;
  };
  const ctxDefault = field.type === 'date' ? 'today' : field.type === 'datetime' ? 'now' : field.type === 'user' ? 'user' : field.type === 'department' ? 'user_departments' : null;
  const isCtx = field.default !== null && typeof field.default === 'object' && !Array.isArray(field.default);

  return (
    <div className="field-panel" data-testid="field-panel" aria-label={bt('field.title')}>
      <Typography.Title level={5} style={{ marginTop: 0 }}>
        {bt('field.title')} · {typeName(field.type)}
      </Typography.Title>
      {errOf('') ? <Alert type="error" showIcon title={errOf('')} style={{ marginBottom: 8 }} /> : null}
      <Prop label={bt('field.name')} id={id('name')} error={nameError} help={publishedNames.has(original) && original !== field.name ? bt('field.renamed', { from: original }) : bt('apps.nameHelp')}>
        <Input
          id={id('name')}
          data-testid="prop-name"
          value={nameDraft}
          status={nameError ? 'error' : undefined}
          onChange={(e) => {
            const name = e.target.value.trim();
            setNameDraft(name);
            if (!isIdent(name) || others.some((f) => f.name === name) || name === field.name) return;
            const next: FieldDef = { ...field, name };
            if (publishedNames.has(original) && name !== original) next.renamedFrom = original;
            else delete next.renamedFrom;
            onChange(next, field.name);
          }}
        />
      </Prop>
      <Prop label={bt('field.type')} id={id('type')} error={errOf('type')}>
        <Select
          id={id('type')}
          style={{ width: '100%' }}
          value={field.type}
          options={FIELD_TYPE_INFO.map((i) => ({ value: i.type, label: typeName(i.type) }))}
          onChange={(type: FieldType) => onChange({ name: field.name, type, label: field.label, ...(field.help ? { help: field.help } : {}), ...(field.required ? { required: true } : {}) })}
        />
      </Prop>
      <Prop label={bt('field.labelZh')} id={id('zh')} error={errOf('label')}>
        <Input id={id('zh')} data-testid="prop-label-zh" value={field.label.zh} onChange={(e) => set({ label: { ...field.label, zh: e.target.value } })} />
      </Prop>
      <Prop label={bt('field.labelEn')} id={id('en')}>
        <Input id={id('en')} data-testid="prop-label-en" value={field.label.en ?? ''} onChange={(e) => set({ label: cleanLabel({ zh: field.label.zh, en: e.target.value }) ?? { zh: field.label.zh } })} />
      </Prop>
      <div className="prop-checks">
        <Checkbox checked={!!field.required} onChange={(e) => set({ required: e.target.checked || undefined })} data-testid="prop-required">
          {bt('field.required')}
        </Checkbox>
        {caps.unique ? (
          <Checkbox checked={!!field.unique} onChange={(e) => set({ unique: e.target.checked || undefined })}>
            {bt('field.unique')}
          </Checkbox>
        ) : null}
        <Checkbox checked={!!field.readOnlyAfterSubmit} onChange={(e) => set({ readOnlyAfterSubmit: e.target.checked || undefined })}>
          {bt('field.readOnlyAfterSubmit')}
        </Checkbox>
        <Checkbox checked={!!field.filterable} onChange={(e) => set({ filterable: e.target.checked || undefined })}>
          {bt('field.filterable')}
        </Checkbox>
        <Checkbox checked={!!field.searchable} onChange={(e) => set({ searchable: e.target.checked || undefined })}>
          {bt('field.searchable')}
        </Checkbox>
        <Checkbox checked={!!field.personalData} onChange={(e) => set({ personalData: e.target.checked || undefined })}>
          {bt('field.personalData')}
        </Checkbox>
      </div>
      {['required', 'unique', 'readOnlyAfterSubmit'].map((k) => (errOf(k) ? <div key={k} className="builder-error-text">{errOf(k)}</div> : null))}

      {caps.options ? (
        <Prop label={bt('field.options')} id={id('opt-0')} error={errOf('options')}>
          {(field.options ?? []).map((o, i) => (
            <Space.Compact key={i} style={{ display: 'flex', marginBottom: 4 }}>
              <Input id={id(`opt-${i}`)} aria-label={`${bt('field.optionValue')} ${i + 1}`} style={{ width: '30%' }} value={o.value} onChange={(e) => set({ options: field.options!.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)) })} />
              <Input aria-label={`${bt('field.optionZh')} ${i + 1}`} style={{ width: '32%' }} value={o.label.zh} onChange={(e) => set({ options: field.options!.map((x, j) => (j === i ? { ...x, label: { ...x.label, zh: e.target.value } } : x)) })} />
              <Input
                aria-label={`${bt('field.optionEn')} ${i + 1}`}
                style={{ width: '30%' }}
                value={o.label.en ?? ''}
                onChange={(e) => set({ options: field.options!.map((x, j) => (j === i ? { ...x, label: cleanLabel({ zh: x.label.zh, en: e.target.value }) ?? x.label } : x)) })}
              />
              <Button aria-label={`${bt('common.delete')} ${o.value}`} icon={<DeleteOutlined />} onClick={() => set({ options: field.options!.filter((_x, j) => j !== i) })} />
            </Space.Compact>
          ))}
          <Button
            size="small"
            icon={<PlusOutlined />}
            onClick={() => {
              const n = (field.options?.length ?? 0) + 1;
              set({ options: [...(field.options ?? []), { value: `opt${n}`, label: { zh: `选项${n}`, en: `Option ${n}` } }] });
            }}
          >
            {bt('field.addOption')}
          </Button>
        </Prop>
      ) : null}

      {caps.target ? (
        <Prop label={bt('field.target')} id={id('target')} error={errOf('target')}>
          <Select
            id={id('target')}
            style={{ width: '100%' }}
            value={field.target || undefined}
            onChange={(target: string) => set({ target })}
            options={
              field.type === 'erp_link'
                ? ERP_MASTER_KINDS.map((k) => ({ value: k, label: k }))
                : app.entities.filter((e) => (field.type === 'child_table' ? e.child : !e.child)).map((e) => ({ value: e.name, label: `${lbl(e.label, e.name)} (${e.name})` }))
            }
          />
        </Prop>
      ) : null}

      {caps.formula ? (
        <>
          <Prop label={bt('field.formula')} id={id('formula')} error={errOf('formula')} help="qty * unit_price">
            <Input id={id('formula')} value={field.formula ?? ''} onChange={(e) => set({ formula: e.target.value })} />
          </Prop>
          <Prop label={bt('field.resultType')} id={id('rt')}>
            <Select id={id('rt')} style={{ width: '100%' }} allowClear value={field.resultType} onChange={(resultType) => set({ resultType })} options={FORMULA_RESULT_TYPES.map((v) => ({ value: v, label: typeName(v) }))} />
          </Prop>
        </>
      ) : null}

      {caps.autoNumber ? (
        <Prop label={bt('field.autoNumber')} id={id('auto')} error={errOf('autoNumber')} help={bt('settings.namingHelp')}>
          <Input id={id('auto')} value={field.autoNumber ?? ''} onChange={(e) => set({ autoNumber: e.target.value })} />
        </Prop>
      ) : null}

      {caps.minMax ? (
        <Space className="prop-row">
          <Prop label={bt('field.min')} id={id('min')} error={errOf('min')}>
            <Input id={id('min')} value={field.min === undefined ? '' : String(field.min)} onChange={(e) => set({ min: numOrStr(field.type, e.target.value) })} />
          </Prop>
          <Prop label={bt('field.max')} id={id('max')} error={errOf('max')}>
            <Input id={id('max')} value={field.max === undefined ? '' : String(field.max)} onChange={(e) => set({ max: numOrStr(field.type, e.target.value) })} />
          </Prop>
        </Space>
      ) : null}
      {caps.scale ? (
        <Prop label={bt('field.scale')} id={id('scale')} error={errOf('scale')}>
          <InputNumber id={id('scale')} min={0} max={12} value={field.scale ?? null} onChange={(v) => set({ scale: v ?? undefined })} />
        </Prop>
      ) : null}
      {caps.text ? (
        <>
          <Prop label={bt('field.maxLength')} id={id('maxlen')} error={errOf('maxLength')}>
            <InputNumber id={id('maxlen')} min={1} value={field.maxLength ?? null} onChange={(v) => set({ maxLength: v ?? undefined })} />
          </Prop>
          <Prop label={bt('field.pattern')} id={id('pattern')} error={errOf('pattern')} help="^1[3-9][0-9]{9}$">
            <Input id={id('pattern')} value={field.pattern ?? ''} onChange={(e) => set({ pattern: e.target.value })} />
          </Prop>
        </>
      ) : null}

      {caps.default ? (
        <Prop label={bt('field.default')} id={id('default')} error={errOf('default')}>
          {field.type === 'boolean' ? (
            <Select
              id={id('default')}
              allowClear
              style={{ width: '100%' }}
              value={field.default === undefined ? undefined : String(field.default)}
              onChange={(v?: string) => set({ default: v === undefined ? undefined : v === 'true' })}
              options={[
                { value: 'true', label: '是 / Yes' },
                { value: 'false', label: '否 / No' },
              ]}
            />
          ) : field.type === 'select' || field.type === 'multi_select' ? (
            <Select
              id={id('default')}
              allowClear
              mode={field.type === 'multi_select' ? 'multiple' : undefined}
              style={{ width: '100%' }}
              value={field.default as string | string[] | undefined}
              onChange={(v: string | string[] | undefined) => set({ default: Array.isArray(v) && v.length === 0 ? undefined : v })}
              options={(field.options ?? []).map((o) => ({ value: o.value, label: lbl(o.label, o.value) }))}
            />
          ) : (
            <Space.Compact style={{ width: '100%' }}>
              <Input
                id={id('default')}
                disabled={isCtx}
                value={isCtx || field.default === undefined ? '' : String(field.default)}
                onChange={(e) => set({ default: NUMERIC_TYPES.has(field.type) ? numOrStr(field.type, e.target.value) : e.target.value || undefined })}
              />
              {ctxDefault ? (
                <Checkbox className="ctx-check" checked={isCtx} onChange={(e) => set({ default: e.target.checked ? { $ctx: ctxDefault } : undefined })}>
                  {bt('field.defaultCtx')}
                </Checkbox>
              ) : null}
            </Space.Compact>
          )}
        </Prop>
      ) : null}

      <Prop label={bt('field.helpZh')} id={id('helpzh')} error={errOf('help')}>
        <Input id={id('helpzh')} value={field.help?.zh ?? ''} onChange={(e) => set({ help: cleanLabel({ zh: e.target.value, ...(field.help?.en ? { en: field.help.en } : {}) }) })} />
      </Prop>
      <Prop label={bt('field.helpEn')} id={id('helpen')}>
        <Input id={id('helpen')} disabled={!field.help?.zh} value={field.help?.en ?? ''} onChange={(e) => set({ help: cleanLabel({ zh: field.help?.zh ?? '', en: e.target.value }) })} />
      </Prop>

      <Collapse
        size="small"
        defaultActiveKey={field.visibleIf || field.requiredIf ? ['cond'] : []}
        items={[
          {
            key: 'cond',
            label: `${bt('field.visibleIf')} / ${bt('field.requiredIf')}`,
            children: (
              <>
                <div className="prop-label">{bt('field.visibleIf')}</div>
                <ConditionEditor idPrefix="visible-if" fields={others} value={field.visibleIf} onChange={(visibleIf) => set({ visibleIf })} error={errOf('visibleIf')} />
                <div className="prop-label" style={{ marginTop: 12 }}>
                  {bt('field.requiredIf')}
                </div>
                <ConditionEditor idPrefix="required-if" fields={others} value={field.requiredIf} onChange={(requiredIf) => set({ requiredIf })} error={errOf('requiredIf')} />
              </>
            ),
          },
        ]}
      />
      <Button danger icon={<DeleteOutlined />} style={{ marginTop: 12 }} onClick={onDelete} data-testid="prop-delete">
        {bt('field.delete')}
      </Button>
    </div>
  );
}
