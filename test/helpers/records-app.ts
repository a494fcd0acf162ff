// The app definition the records tests publish: one field of every type, a child table, a
// naming series, unique and required-if rules, and row-scoped permissions.
import type { AppDef } from '../../src/shared/definition.ts';

const L = (zh: string, en?: string) => ({ zh, ...(en ? { en } : {}) });

export function recordsTestApp(name = 'rt'): AppDef {
  return {
    name,
    label: L('记录测试', 'Records test'),
    entities: [
      {
        name: 'item',
        label: L('物料', 'Item'),
        titleField: 'title',
        fields: [
          { name: 'code', type: 'text', label: L('编码'), required: true, unique: true },
          { name: 'title', type: 'text', label: L('名称') },
        ],
        permissions: [{ role: '*', actions: ['read', 'create', 'write', 'delete'] }],
      },
      {
        name: 'doc_line',
        label: L('明细', 'Line'),
        child: true,
        fields: [
          { name: 'part', type: 'text', label: L('零件'), required: true },
          { name: 'qty', type: 'integer', label: L('数量'), min: 1 },
          { name: 'unit_price', type: 'decimal', label: L('单价'), scale: 2 },
          { name: 'amount', type: 'formula', label: L('金额'), formula: 'qty * unit_price', resultType: 'decimal', scale: 2 },
        ],
      },
      {
        name: 'doc',
        label: L('单据', 'Document'),
        submittable: true,
        namingSeries: 'DOC-{YYYY}-{####}',
        titleField: 'title',
        fields: [
          { name: 'title', type: 'text', label: L('标题', 'Title'), required: true, maxLength: 50, searchable: true },
          { name: 'notes', type: 'long_text', label: L('备注') },
          { name: 'qty', type: 'integer', label: L('数量'), min: 0, max: 1000000, filterable: true },
          { name: 'price', type: 'money', label: L('价格') },
          { name: 'big', type: 'decimal', label: L('大数'), scale: 2 },
          { name: 'ratio', type: 'percent', label: L('比例'), scale: 1 },
          { name: 'due', type: 'date', label: L('到期') },
          { name: 'happened_at', type: 'datetime', label: L('发生时间') },
          { name: 'dur', type: 'duration', label: L('时长') },
          { name: 'ok', type: 'boolean', label: L('合格') },
          {
            name: 'color',
            type: 'select',
            label: L('颜色'),
            options: [
              { value: 'red', label: L('红', 'Red') },
              { value: 'green', label: L('绿', 'Green') },
            ],
          },
          {
            name: 'tags',
            type: 'multi_select',
            label: L('标签'),
            options: [
              { value: 'a', label: L('甲') },
              { value: 'b', label: L('乙') },
              { value: 'c', label: L('丙') },
            ],
          },
          { name: 'assignee', type: 'user', label: L('负责人') },
          { name: 'dept', type: 'department', label: L('部门') },
          { name: 'item', type: 'link', label: L('物料'), target: 'item' },
          { name: 'material', type: 'erp_link', label: L('ERP物料'), target: 'material' },
          { name: 'lines', type: 'child_table', label: L('明细'), target: 'doc_line' },
          { name: 'file', type: 'attachment', label: L('附件') },
          { name: 'photo', type: 'image', label: L('照片') },
          { name: 'sign', type: 'signature', label: L('签名') },
          { name: 'geo', type: 'geolocation', label: L('位置') },
          { name: 'qr', type: 'qr_code', label: L('二维码') },
          { name: 'code', type: 'text', label: L('代码'), unique: true, pattern: '^[A-Z]{2}[0-9]+$' },
          { name: 'reason', type: 'text', label: L('原因'), requiredIf: { field: 'color', op: 'eq', value: 'red' } },
          { name: 'total', type: 'formula', label: L('合计'), formula: '$sum(lines.amount)', resultType: 'decimal', scale: 2 },
          { name: 'notes_num', type: 'formula', label: L('备注数值'), formula: '$number(notes)', resultType: 'decimal', scale: 2 },
          { name: 'serial', type: 'auto_number', label: L('序号'), autoNumber: 'SN-{#####}' },
        ],
        permissions: [{ role: '*', actions: ['read', 'create', 'write', 'submit', 'cancel', 'delete'] }],
      },
      {
        name: 'report',
        label: L('报工', 'Work report'),
        fields: [
          { name: 'title', type: 'text', label: L('标题'), required: true, searchable: true },
          { name: 'qty', type: 'integer', label: L('数量'), filterable: true },
          { name: 'cost', type: 'money', label: L('成本') },
        ],
        permissions: [
          { role: 'operator', actions: ['read', 'create', 'write'], scope: 'own_department', fields: { cost: 'hidden' } },
          { role: 'workshop_director', actions: ['read'], scope: 'department_subtree' },
        ],
      },
    ],
  };
}
