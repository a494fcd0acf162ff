// The test app of the query-layer tests: one entity with a column of every comparable kind,
// linked to a supplier which links to a country.
import type { AppDef, EntityDef } from '../src/shared/definition.ts';
import { label } from './query-fixtures.ts';

export const country: EntityDef = {
  name: 'country',
  label: label('国家'),
  fields: [
    { name: 'code', type: 'text', label: label('代码') },
    { name: 'name_zh', type: 'text', label: label('名称') },
  ],
};

export const supplier: EntityDef = {
  name: 'supplier',
  label: label('供应商'),
  fields: [
    { name: 'title', type: 'text', label: label('名称') },
    { name: 'rating', type: 'integer', label: label('评级') },
    { name: 'country', type: 'link', target: 'country', label: label('国家') },
    { name: 'secret_note', type: 'text', label: label('内部备注') },
  ],
};

export const item: EntityDef = {
  name: 'item',
  label: label('物料'),
  fields: [
    { name: 'title', type: 'text', label: label('标题'), searchable: true },
    { name: 'note', type: 'long_text', label: label('备注') },
    { name: 'kind', type: 'select', label: label('类别'), options: [{ value: 'a', label: label('甲') }] },
    { name: 'qty', type: 'integer', label: label('数量') },
    { name: 'price', type: 'decimal', label: label('单价') },
    { name: 'ratio', type: 'percent', label: label('比例') },
    { name: 'due', type: 'date', label: label('到期') },
    { name: 'at', type: 'datetime', label: label('时间') },
    { name: 'active', type: 'boolean', label: label('启用') },
    { name: 'tags', type: 'multi_select', label: label('标签') },
    { name: 'supplier', type: 'link', target: 'supplier', label: label('供应商') },
    { name: 'owner', type: 'user', label: label('负责人') },
    { name: 'dept', type: 'department', label: label('部门') },
    { name: 'photo', type: 'attachment', label: label('照片') },
    { name: 'dur', type: 'duration', label: label('时长') },
    { name: 'lines', type: 'child_table', target: 'country', label: label('明细') },
  ],
};

export const app: AppDef = { name: 'qa', label: label('测试'), entities: [item, supplier, country] };
