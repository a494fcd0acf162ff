// Live preview of the form being designed, at desktop or phone width: the layout's sections,
// tabs or steps, columns, labels, help, required marks, and visible-if / required-if evaluated
// on what is typed into the preview (with the same evaluator the server uses).
import { useMemo, useState } from 'react';
import { Button, Card, Checkbox, Col, Empty, Form, Input, Row, Segmented, Select, Steps, Tabs, Typography } from 'antd';
import { CameraOutlined, EditOutlined, EnvironmentOutlined, PaperClipOutlined, QrcodeOutlined } from '@ant-design/icons';
import type { AppDef, EntityDef, FieldDef, LayoutGroup } from '../../shared/definition.ts';
import { evaluateCondition } from '../../shared/condition-eval.ts';
import { useBuilderI18n } from './i18n.ts';
import { defaultLayout, NUMERIC_TYPES, unplaced } from './model.ts';

function safeEval(app: AppDef, entity: EntityDef, cond: FieldDef['visibleIf'], values: Record<string, unknown>): boolean {
  if (!cond) return true;
  try {
    return evaluateCondition(cond, values, { app, entity, ctx: { userId: '00000000-0000-0000-0000-000000000000', departmentIds: [], now: new Date(), timezone: 'Asia/Shanghai' } });
  } catch {
    return true; // an unfinished condition does not hide the field in the preview
  }
}

function Control({ f, value, onChange, id }: { f: FieldDef; value: unknown; onChange: (v: unknown) => void; id: string }) {
  const { lbl } = useBuilderI18n();
  const str = value === undefined || value === null ? '' : String(value);
  switch (f.type) {
    case 'long_text':
      return <Input.TextArea id={id} rows={3} value={str} onChange={(e) => onChange(e.target.value)} />;
    case 'boolean':
      return <Checkbox id={id} checked={value === true} onChange={(e) => onChange(e.target.checked)} aria-label={lbl(f.label)} />;
    case 'select':
    case 'multi_select':
      return (
        <Select
          id={id}
          allowClear
          mode={f.type === 'multi_select' ? 'multiple' : undefined}
          value={value as string | undefined}
          onChange={onChange}
          options={(f.options ?? []).map((o) => ({ value: o.value, label: lbl(o.label, o.value) }))}
        />
      );
    case 'date':
      return <Input id={id} type="date" value={str} onChange={(e) => onChange(e.target.value)} />;
    case 'datetime':
      return <Input id={id} type="datetime-local" value={str} onChange={(e) => onChange(e.target.value)} />;
    case 'attachment':
      return <Button id={id} icon={<PaperClipOutlined />}>上传附件 / Upload</Button>;
    case 'image':
      return <Button id={id} icon={<CameraOutlined />}>拍照 / Photo</Button>;
    case 'signature':
      return <Button id={id} icon={<EditOutlined />}>签名 / Sign</Button>;
    case 'geolocation':
      return <Button id={id} icon={<EnvironmentOutlined />}>定位 / Locate</Button>;
    case 'qr_code':
      return <Input id={id} prefix={<QrcodeOutlined />} value={str} onChange={(e) => onChange(e.target.value)} />;
    case 'formula':
    case 'auto_number':
      return <Input id={id} disabled placeholder={f.type === 'formula' ? `= ${f.formula ?? ''}` : f.autoNumber} />;
    case 'child_table':
      return (
        <Card size="small" className="preview-child">
          <Typography.Text type="secondary">{f.target}</Typography.Text>
        </Card>
      );
    default:
      return (
        <Input
          id={id}
          inputMode={NUMERIC_TYPES.has(f.type) ? 'decimal' : undefined}
          suffix={f.type === 'percent' ? '%' : f.type === 'money' ? '¥' : undefined}
          value={str}
          onChange={(e) => onChange(e.target.value === '' ? undefined : e.target.value)}
        />
      );
  }
}

export function FormPreview({ app, entity }: { app: AppDef; entity: EntityDef }) {
  const { bt, lbl } = useBuilderI18n();
  const [device, setDevice] = useState<'desktop' | 'phone'>('desktop');
  const [values, setValues] = useState<Record<string, unknown>>({});
  const [step, setStep] = useState(0);
  const layout = entity.layout ?? defaultLayout(entity);
  const groups: LayoutGroup[] = useMemo(() => {
    const rest = unplaced({ ...entity, layout });
    return rest.length ? [...layout.groups, { id: '__rest', title: { zh: '其他', en: 'Other' }, fields: rest }] : layout.groups;
  }, [entity, layout]);
  const byName = new Map(entity.fields.map((f) => [f.name, f]));
  const phone = device === 'phone';

  const renderGroup = (g: LayoutGroup) => {
    const cols = phone ? 1 : Math.max(1, Math.min(4, g.columns ?? 1));
    const fields = g.fields.map((n) => byName.get(n)).filter((f): f is FieldDef => !!f && safeEval(app, entity, f.visibleIf, values));
    return (
      <Row gutter={16}>
        {fields.map((f) => {
          const req = !!f.required || (!!f.requiredIf && safeEval(app, entity, f.requiredIf, values));
          const id = `preview-${entity.name}-${f.name}`;
          return (
            <Col key={f.name} span={f.type === 'long_text' || f.type === 'child_table' ? 24 : 24 / cols}>
              <Form.Item label={lbl(f.label, f.name)} required={req} htmlFor={id} help={f.help ? lbl(f.help) : undefined}>
                <Control id={id} f={f} value={values[f.name]} onChange={(v) => setValues((s) => ({ ...s, [f.name]: v }))} />
              </Form.Item>
            </Col>
          );
        })}
      </Row>
    );
  };

  let body;
  if (groups.length === 0 || entity.fields.length === 0) body = <Empty description={bt('canvas.empty')} />;
  else if (layout.kind === 'tabs') body = <Tabs items={groups.map((g) => ({ key: g.id, label: lbl(g.title), children: renderGroup(g) }))} />;
  else if (layout.kind === 'steps') {
    const cur = Math.min(step, groups.length - 1);
    body = (
      <>
        <Steps size="small" current={cur} orientation={phone ? 'vertical' : 'horizontal'} items={groups.map((g) => ({ title: lbl(g.title) }))} style={{ marginBottom: 16 }} />
        {renderGroup(groups[cur]!)}
        <div className="preview-step-actions">
          <Button disabled={cur === 0} onClick={() => setStep(cur - 1)}>
            {bt('preview.prev')}
          </Button>
          {cur < groups.length - 1 ? (
            <Button type="primary" onClick={() => setStep(cur + 1)}>
              {bt('preview.next')}
            </Button>
          ) : (
            <Button type="primary">{bt('preview.submit')}</Button>
          )}
        </div>
      </>
    );
  } else
    body = groups.map((g) => (
      <div key={g.id} className="preview-section">
        <Typography.Title level={5}>{lbl(g.title)}</Typography.Title>
        {renderGroup(g)}
      </div>
    ));

  return (
    <div className="form-preview" data-testid="form-preview">
      <div className="preview-toolbar">
        <Typography.Text strong>{bt('preview.title')}</Typography.Text>
        <Segmented
          aria-label={bt('preview.title')}
          value={device}
          onChange={(v) => setDevice(v as 'desktop' | 'phone')}
          options={[
            { value: 'desktop', label: bt('preview.desktop') },
            { value: 'phone', label: bt('preview.phone') },
          ]}
        />
      </div>
      <div className={phone ? 'preview-phone' : 'preview-desktop'} data-testid={`preview-${device}`}>
        <Typography.Title level={4} style={{ marginTop: 0 }}>
          {lbl(entity.label, entity.name)}
        </Typography.Title>
        <Form layout="vertical" component="div">
          {body}
        </Form>
      </div>
    </div>
  );
}
