// Pure pieces of spreadsheet import/export: CSV, encodings, numbers, dates, cell conversion.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FieldDef } from '../src/shared/definition.ts';
import { csvLine, decodeCsv, detectDelimiter, parseCsv } from '../src/server/records/excel/csv.ts';
import { convertCell, type ConvertEnv } from '../src/server/records/excel/convert.ts';
import { canonical, decimalOfNumberCell, excelNumberText, fitsExcelNumber, formatInfo, plainNumber, shiftDecimal, textOfNumberCell } from '../src/server/records/excel/numbers.ts';
import { suggestMapping } from '../src/server/records/excel/mapping.ts';
import { columnLetter, type Cell } from '../src/server/records/excel/read.ts';
import { instantOf, wallAt, wallOfSerial } from '../src/server/records/excel/time.ts';
import { inspectZip } from '../src/server/records/excel/zip.ts';
import { gbkEncode } from './excel-helpers.ts';

const env: ConvertEnv = {
  timezone: 'Asia/Shanghai',
  format: 'xlsx',
  refs: { lookup: (_f, t) => (t === '王强' ? { id: '11111111-1111-1111-1111-111111111111' } : { error: `there is no user "${t}"` }) },
};
const F = (type: FieldDef['type'], extra: Partial<FieldDef> = {}): FieldDef => ({ name: 'f', type, label: { zh: '字段' }, ...extra });
const txt = (text: string): Cell => ({ kind: 'text', text });
const num = (value: number, numFmt?: string): Cell => ({ kind: 'number', value, numFmt });

describe('CSV', () => {
  it('parses quotes, embedded separators, line breaks and CRLF', () => {
    const text = 'a,b,c\r\n"x, y","say ""hi""","two\nlines"\r\n1,,3\n';
    expect(parseCsv(text)).toEqual([
      ['a', 'b', 'c'],
      ['x, y', 'say "hi"', 'two\nlines'],
      ['1', '', '3'],
    ]);
  });

  it('detects semicolon and tab separators', () => {
    expect(detectDelimiter('a;b;c\n1;2;3')).toBe(';');
    expect(detectDelimiter('a\tb\tc\n')).toBe('\t');
    expect(detectDelimiter('"a;b",c\n')).toBe(',');
  });

  it('refuses an unterminated quote', () => {
    expect(() => parseCsv('a,"b\n1,2')).toThrow(/closing "/);
  });

  it('writes cells that parse back to the same values', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.string({ maxLength: 8 }), { minLength: 2, maxLength: 5 }), { minLength: 1, maxLength: 5 }), (rows) => {
        const width = rows[0]!.length;
        const table = rows.map((r) => Array.from({ length: width }, (_, i) => r[i] ?? 'x'));
        // a record of one empty cell is indistinguishable from a blank line: keep rows non-trivial
        fc.pre(table.every((r) => r.some((c) => c !== '')));
        const text = table.map(csvLine).join('');
        expect(parseCsv(text, ',')).toEqual(table);
      }),
    );
  });

  it('decodes UTF-8, UTF-8 with BOM, GBK and UTF-16, and refuses binary', () => {
    const s = '名称,数量\n齿轮,3\n';
    expect(decodeCsv(Buffer.from(s, 'utf8'))).toEqual({ text: s, encoding: 'utf-8' });
    expect(decodeCsv(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(s, 'utf8')]))).toEqual({ text: s, encoding: 'utf-8-bom' });
    expect(decodeCsv(gbkEncode(s))).toEqual({ text: s, encoding: 'gb18030' });
    expect(decodeCsv(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(s, 'utf16le')]))).toEqual({ text: s, encoding: 'utf-16le' });
    expect(() => decodeCsv(Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x80]))).toThrow(/cannot be read as CSV/);
  });
});

describe('numbers', () => {
  it('prints doubles without exponents', () => {
    expect(plainNumber(1e21)).toBe('1000000000000000000000');
    expect(plainNumber(1.5e-7)).toBe('0.00000015');
    expect(plainNumber(-2.5e-10)).toBe('-0.00000000025');
    expect(plainNumber(123.45)).toBe('123.45');
  });

  it('reads numeric cells at Excel precision, keeping the zeros the format shows', () => {
    expect(excelNumberText(0.1 + 0.2)).toBe('0.3');
    expect(decimalOfNumberCell(12.5, '0.00', false)).toBe('12.50');
    expect(decimalOfNumberCell(1234.5, '#,##0.000;[Red]-#,##0.000', false)).toBe('1234.500');
    expect(decimalOfNumberCell(0.125, '0.0%', true)).toBe('12.5');
    expect(decimalOfNumberCell(0.125, '0.00%', true)).toBe('12.50');
    expect(decimalOfNumberCell(12.5, '0.0"%"', true)).toBe('12.5'); // a literal % sign: the value is already percent
    expect(textOfNumberCell(123, '00000')).toBe('00123');
    expect(formatInfo('[$¥-804]#,##0.00_);(#,##0.00)')).toMatchObject({ decimals: 2, percent: false });
  });

  it('shifts decimal points exactly', () => {
    expect(shiftDecimal('0.125', 2)).toBe('12.5');
    expect(shiftDecimal('12.5', -2)).toBe('0.125');
    expect(shiftDecimal('-0.001', 2)).toBe('-0.1');
    expect(shiftDecimal('7', -3)).toBe('0.007');
  });

  it('knows which decimals survive a numeric cell', () => {
    expect(fitsExcelNumber('19999.99')).toBe(true);
    expect(fitsExcelNumber('12.50')).toBe(true);
    expect(fitsExcelNumber('12345678901234.5678')).toBe(false);
    expect(fitsExcelNumber('9007199254740993')).toBe(false);
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.integer({ min: 0, max: 6 }), (n, scale) => {
        const s = canonical(shiftDecimal(n.toString(), -scale));
        if (fitsExcelNumber(s)) expect(excelNumberText(Number(s))).toBe(s);
      }),
    );
  });
});

describe('dates', () => {
  it('converts Excel serial days, including the 1900 leap-year quirk', () => {
    expect(wallOfSerial(46112)).toMatchObject({ y: 2026, mo: 3, d: 31 });
    expect(wallOfSerial(1)).toMatchObject({ y: 1900, mo: 1, d: 1 });
    expect(wallOfSerial(61)).toMatchObject({ y: 1900, mo: 3, d: 1 });
    expect(wallOfSerial(60)).toBeNull();
    expect(wallOfSerial(46112.5)).toMatchObject({ h: 12, mi: 0 });
  });

  it('reads wall clocks in the plant time zone', () => {
    const t = instantOf({ y: 2026, mo: 3, d: 31, h: 8, mi: 30, s: 0, ms: 0 }, 'Asia/Shanghai');
    expect(t.toISOString()).toBe('2026-03-31T00:30:00.000Z');
    expect(wallAt(t, 'Asia/Shanghai')).toMatchObject({ y: 2026, mo: 3, d: 31, h: 8, mi: 30 });
    // across a daylight-saving change elsewhere
    expect(instantOf({ y: 2026, mo: 7, d: 1, h: 12, mi: 0, s: 0, ms: 0 }, 'Europe/Berlin').toISOString()).toBe('2026-07-01T10:00:00.000Z');
  });
});

describe('cell conversion', () => {
  const ok = (field: FieldDef, cell: Cell) => convertCell(field, cell, env);

  it('numbers and decimals', () => {
    expect(ok(F('integer'), txt('1,234'))).toEqual({ value: 1234 });
    expect(ok(F('integer'), num(42))).toEqual({ value: 42 });
    expect(ok(F('integer'), txt('4.5'))).toEqual({ error: '4.5 is not a whole number' });
    expect(ok(F('money'), txt('¥ 1,234.50'))).toEqual({ value: '1234.50' });
    expect(ok(F('decimal'), txt('１２.５'))).toEqual({ value: '12.5' });
    expect(ok(F('decimal'), txt('12345678901234.5678'))).toEqual({ value: '12345678901234.5678' });
    expect(ok(F('percent'), txt('12.5%'))).toEqual({ value: '12.5' });
    expect(ok(F('decimal'), txt('abc'))).toMatchObject({ error: expect.stringMatching(/not a number/) });
    expect(ok(F('duration'), txt('1:30:00'))).toEqual({ value: 5400 });
  });

  it('dates and times', () => {
    expect(ok(F('date'), txt('2026/3/31'))).toEqual({ value: '2026-03-31' });
    expect(ok(F('date'), txt('2026年3月31日'))).toEqual({ value: '2026-03-31' });
    expect(ok(F('date'), num(46112))).toEqual({ value: '2026-03-31' });
    expect(ok(F('date'), { kind: 'date', value: new Date(Date.UTC(2026, 2, 31)) })).toEqual({ value: '2026-03-31' });
    expect(ok(F('date'), txt('2026-02-30'))).toMatchObject({ error: expect.stringMatching(/not a date/) });
    expect(ok(F('datetime'), txt('2026-03-31 08:30'))).toEqual({ value: '2026-03-31T00:30:00.000Z' });
    expect(ok(F('datetime'), txt('2026-03-31T08:30:00+08:00'))).toEqual({ value: '2026-03-31T08:30:00+08:00' });
    expect(ok(F('datetime'), { kind: 'date', value: new Date(Date.UTC(2026, 2, 31, 8, 30)) })).toEqual({ value: '2026-03-31T00:30:00.000Z' });
  });

  it('booleans, options, references', () => {
    for (const t of ['是', 'Y', 'true', '1', 'TRUE']) expect(ok(F('boolean'), txt(t))).toEqual({ value: true });
    for (const t of ['否', 'n', 'False', '0']) expect(ok(F('boolean'), txt(t))).toEqual({ value: false });
    expect(ok(F('boolean'), txt('maybe'))).toMatchObject({ error: expect.stringMatching(/是\/否/) });
    const color = F('select', { options: [{ value: 'red', label: { zh: '红色', en: 'Red' } }, { value: 'green', label: { zh: '绿色', en: 'Green' } }] });
    expect(ok(color, txt('红色'))).toEqual({ value: 'red' });
    expect(ok(color, txt('GREEN'))).toEqual({ value: 'green' });
    expect(ok(color, txt('蓝色'))).toMatchObject({ error: expect.stringMatching(/not an option.*红色 \(red\)/) });
    const tags = F('multi_select', { options: ['甲', '乙', '丙'].map((z, i) => ({ value: 'abc'[i]!, label: { zh: z } })) });
    expect(ok(tags, txt('甲，丙; b'))).toEqual({ value: ['a', 'c', 'b'] });
    expect(ok(tags, txt('甲、丁'))).toMatchObject({ error: expect.stringMatching(/"丁" is not an option/) });
    expect(ok(F('user'), txt('王强'))).toEqual({ value: '11111111-1111-1111-1111-111111111111' });
    expect(ok(F('user'), txt('nobody'))).toEqual({ error: 'there is no user "nobody"' });
    expect(ok(F('geolocation'), txt('31.2304, 121.4737'))).toEqual({ value: { lat: 31.2304, lng: 121.4737 } });
    expect(ok(F('text'), { kind: 'error', text: '#DIV/0!' })).toMatchObject({ error: expect.stringMatching(/#DIV\/0!/) });
    expect(ok(F('text'), txt('  '))).toBeNull();
  });

  it('removes the formula guard of exported CSV only', () => {
    expect(convertCell(F('text'), txt("'=SUM(A1)"), { ...env, format: 'csv' })).toEqual({ value: '=SUM(A1)' });
    expect(convertCell(F('text'), txt("''=x"), { ...env, format: 'csv' })).toEqual({ value: "'=x" });
    expect(convertCell(F('text'), txt("'=SUM(A1)"), env)).toEqual({ value: "'=SUM(A1)" });
  });
});

describe('mapping suggestion', () => {
  const fields: FieldDef[] = [
    { name: 'title', type: 'text', label: { zh: '标题', en: 'Title' } },
    { name: 'qty', type: 'integer', label: { zh: '数量', en: 'Quantity' } },
    { name: 'unit_price', type: 'money', label: { zh: '单价', en: 'Unit price' } },
    { name: 'notes', type: 'long_text', label: { zh: '备注' } },
    { name: 'remark', type: 'text', label: { zh: '备注' } },
  ];
  const cols = (...h: string[]) => h.map((header, index) => ({ index, letter: columnLetter(index), header }));

  it('matches names, zh and en labels ignoring case, width, spaces, * and units', () => {
    expect(suggestMapping(cols('标题*', ' 数 量 ', '单价（元）', '编号'), fields)).toEqual({ '标题*': 'title', ' 数 量 ': 'qty', '单价（元）': 'unit_price', 编号: null });
    expect(suggestMapping(cols('TITLE', 'quantity', 'Unit Price', 'UNIT_PRICE'), fields)).toEqual({ TITLE: 'title', quantity: 'qty', 'Unit Price': 'unit_price', UNIT_PRICE: null });
  });

  it('leaves a shared label to the person, but takes "label (name)"', () => {
    expect(suggestMapping(cols('备注'), fields)).toEqual({ 备注: null });
    expect(suggestMapping(cols('备注 (notes)', '备注 (remark)'), fields)).toEqual({ '备注 (notes)': 'notes', '备注 (remark)': 'remark' });
  });
});

describe('zip inspection', () => {
  it('refuses what is not a zip', () => {
    expect(inspectZip(Buffer.from('hello'))).toMatchObject({ problem: 'not-zip' });
    expect(inspectZip(Buffer.alloc(100))).toMatchObject({ problem: 'not-zip' });
  });
});
