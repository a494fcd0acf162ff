// The list's side panels — filter builder, columns and saved views — loaded when first opened.
import { Button, Checkbox, Drawer, Input, Space, Typography } from 'antd';
import { SaveOutlined } from '@ant-design/icons';
import type { EntityDef, FieldDef } from '../api.ts';
import { useI18n } from '../i18n/index.tsx';
import { FilterBuilder, type FilterRow } from './FilterBuilder.tsx';
import { label } from './model.ts';

export interface ListPanelsProps {
  panel: 'filter' | 'columns' | null;
  phone: boolean;
  entity: EntityDef;
  listable: FieldDef[];
  draftRows: FilterRow[];
  setDraftRows: (rows: FilterRow[]) => void;
  onApply: (rows: FilterRow[]) => void;
  columns: string[];
  setColumns: (c: string[]) => void;
  viewName: string;
  setViewName: (s: string) => void;
  saving: boolean;
  onSaveView: (name: string) => void;
  canDelete: boolean;
  onDeleteView: () => void;
  onClose: () => void;
}

export default function ListPanels(p: ListPanelsProps) {
  const { t, locale } = useI18n();
  const placement = p.phone ? 'bottom' : 'right';
  const height = p.phone ? '80%' : undefined;
  return (
    <>
      <Drawer
        title={t('list.filter')}
        open={p.panel === 'filter'}
        onClose={p.onClose}
        placement={placement}
        height={height}
        size="large"
        extra={
          <Space>
            <Button onClick={() => p.onApply([])}>{t('list.clear')}</Button>
            <Button type="primary" onClick={() => p.onApply(p.draftRows)} data-testid="filter-apply">
              {t('list.apply')}
            </Button>
          </Space>
        }
      >
        <FilterBuilder entity={p.entity} rows={p.draftRows} onChange={p.setDraftRows} />
      </Drawer>
      <Drawer title={`${t('list.columns')} · ${t('list.views')}`} open={p.panel === 'columns'} onClose={p.onClose} placement={placement} height={height}>
        <Space orientation="vertical" style={{ width: '100%' }}>
          <Checkbox.Group value={p.columns} onChange={(v) => p.setColumns(v)} className="column-choice" options={p.listable.map((f) => ({ value: f.name, label: label(f.label, locale) }))} />
          <Typography.Title level={5}>{t('list.saveView')}</Typography.Title>
          <Space.Compact style={{ width: '100%' }}>
            <Input aria-label={t('list.viewName')} placeholder={t('list.viewName')} value={p.viewName} onChange={(e) => p.setViewName(e.target.value)} maxLength={60} />
            <Button type="primary" icon={<SaveOutlined />} data-testid="view-save" disabled={!p.viewName.trim()} loading={p.saving} onClick={() => p.onSaveView(p.viewName.trim())}>
              {t('common.save')}
            </Button>
          </Space.Compact>
          {p.canDelete ? (
            <Button danger type="link" onClick={p.onDeleteView}>
              {t('list.deleteView')}
            </Button>
          ) : null}
        </Space>
      </Drawer>
    </>
  );
}
