// Fixtures for the spreadsheet tests: a GBK encoder (Node has only the decoder), workbook
// builders, and the app the import/export tests publish.
import ExcelJS from 'exceljs';
import type { AppDef, FieldDef } from '../src/shared/definition.ts';

let gbk: Map<string, Buffer> | null = null;

/** Encodes text as GBK/GB18030 two-byte sequences (ASCII as is), built from the WHATWG decoder. */
export function gbkEncode(s: string): Buffer {
  if (!gbk) {
    gbk = new Map();
    const dec = new TextDecoder('gb18030');
    for (let lead = 0x81; lead <= 0xfe; lead++) {
      for (let trail = 0x40; trail <= 0xfe; trail++) {
        if (trail === 0x7f) continue;
        const bytes = Buffer.from([lead, trail]);
        const ch = dec.decode(bytes);
        if (ch.length === 1 && ch !== '\ufffd' && !gbk.has(ch)) gbk.set(ch, bytes);
      }
    }
  }
  const parts: Buffer[] = [];
  for (const ch of s) {
    if (ch.charCodeAt(0) < 0x80) parts.push(Buffer.from(ch, 'latin1'));
    else {
      const b = gbk.get(ch);
      if (!b) throw new Error(`no GBK code for ${ch}`);
      parts.push(b);
    }
  }
  return Buffer.concat(parts);
}

export type CellSpec = string | number | boolean | Date | null | { value: unknown; numFmt?: string };

/** An .xlsx with one sheet: the first row is the header. */
export async function workbook(rows: CellSpec[][], sheetName = 'Sheet1'): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet(sheetName);
  for (const r of rows) {
    const row = ws.addRow(r.map((c) => (c !== null && typeof c === 'object' && !(c instanceof Date) ? (c.value as ExcelJS.CellValue) : c)));
    r.forEach((c, i) => {
      if (c !== null && typeof c === 'object' && !(c instanceof Date) && c.numFmt) row.getCell(i + 1).numFmt = c.numFmt;
    });
  }
  return Buffer.from(await wb.xlsx.writeBuffer());
}

/** Reads an .xlsx into rows of raw cell values with their number formats. */
export async function readWorkbook(buf: Buffer): Promise<{ name: string; rows: Array<Array<{ value: unknown; numFmt: string | undefined }>> }> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(buf as unknown as ArrayBuffer);
  const ws = wb.worksheets[0]!;
  const rows: Array<Array<{ value: unknown; numFmt: string | undefined }>> = [];
  ws.eachRow({ includeEmpty: true }, (row) => {
    const cells: Array<{ value: unknown; numFmt: string | undefined }> = [];
    for (let c = 1; c <= ws.columnCount; c++) cells.push({ value: row.getCell(c).value, numFmt: row.getCell(c).numFmt });
    rows.push(cells);
  });
  return { name: ws.name, rows };
}

const L = (zh: string, en?: string) => ({ zh, ...(en ? { en } : {}) });

/** Every importable field type, plus computed ones and a field hidden from operators. */
export function excelFields(): FieldDef[] {
  return [
    { name: 'title', type: 'text', label: L('标题', 'Title'), required: true, searchable: true },
    { name: 'notes', type: 'long_text', label: L('备注', 'Notes') },
    { name: 'qty', type: 'integer', label: L('数量', 'Quantity'), min: 0, filterable: true },
    { name: 'price', type: 'money', label: L('单价', 'Unit price') },
    { name: 'big', type: 'decimal', label: L('大数', 'Big number'), scale: 4 },
    { name: 'loose', type: 'decimal', label: L('小数', 'Decimal') },
    { name: 'ratio', type: 'percent', label: L('比例', 'Ratio'), scale: 1 },
    { name: 'due', type: 'date', label: L('到期日', 'Due date') },
    { name: 'happened_at', type: 'datetime', label: L('发生时间', 'Happened at') },
    { name: 'dur', type: 'duration', label: L('时长', 'Duration') },
    { name: 'ok', type: 'boolean', label: L('合格', 'Passed') },
    {
      name: 'color',
      type: 'select',
      label: L('颜色', 'Colour'),
      options: [
        { value: 'red', label: L('红色', 'Red') },
        { value: 'green', label: L('绿色', 'Green') },
      ],
    },
    {
      name: 'tags',
      type: 'multi_select',
      label: L('标签', 'Tags'),
      options: [
        { value: 'a', label: L('甲', 'A') },
        { value: 'b', label: L('乙', 'B') },
        { value: 'c', label: L('丙', 'C') },
      ],
    },
    { name: 'owner', type: 'user', label: L('负责人', 'Owner') },
    { name: 'dept', type: 'department', label: L('部门', 'Department') },
    { name: 'part', type: 'link', label: L('零件', 'Part'), target: 'part' },
    { name: 'material', type: 'erp_link', label: L('ERP物料', 'ERP material'), target: 'material' },
    { name: 'qr', type: 'qr_code', label: L('二维码', 'QR code') },
    { name: 'geo', type: 'geolocation', label: L('位置', 'Location') },
    { name: 'code', type: 'text', label: L('代码', 'Code'), unique: true, pattern: '^[A-Z]{2}[0-9]+$' },
    { name: 'secret', type: 'text', label: L('内部备注', 'Internal note') },
    { name: 'total', type: 'formula', label: L('金额', 'Amount'), formula: 'qty * price', resultType: 'money' },
    { name: 'serial', type: 'auto_number', label: L('序号', 'Serial'), autoNumber: 'SN-{#####}' },
  ];
}

export function excelTestApp(name = 'xl'): AppDef {
  const perms = [
    { role: 'quality_engineer', actions: ['read', 'create', 'write', 'import', 'export'] as const, scope: 'all' as const },
    { role: 'operator', actions: ['read', 'create', 'import', 'export'] as const, scope: 'own_department' as const, fields: { secret: 'hidden' as const } },
    { role: 'inspector', actions: ['read'] as const, scope: 'all' as const },
    // li.teamlead also holds `exporter` (the test creates it): read everything, export own department
    { role: 'team_lead', actions: ['read'] as const, scope: 'all' as const },
    { role: 'exporter', actions: ['export'] as const, scope: 'own_department' as const },
  ].map((p) => ({ ...p, actions: [...p.actions] }));
  return {
    name,
    label: L('表格测试', 'Spreadsheet test'),
    entities: [
      {
        name: 'part',
        label: L('零件', 'Part'),
        namingSeries: 'P-{####}',
        titleField: 'title',
        fields: [{ name: 'title', type: 'text', label: L('名称', 'Title'), required: true }],
        permissions: [{ role: '*', actions: ['read', 'create'] }],
      },
      {
        name: 'rec',
        label: L('检验记录', 'Inspection record'),
        namingSeries: 'R-{YYYY}-{####}',
        titleField: 'title',
        fields: excelFields(),
        permissions: perms,
      },
      {
        // the same fields: the round trip imports rec's export here and compares
        name: 'rec_copy',
        label: L('检验记录副本', 'Inspection record copy'),
        namingSeries: 'RC-{####}',
        fields: excelFields(),
        permissions: perms,
      },
    ],
  };
}
