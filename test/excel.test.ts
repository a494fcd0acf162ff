// Spreadsheet import and export through the HTTP API, on PGlite and (TRELLIS_TEST_PG) PostgreSQL.
import { randomBytes } from 'node:crypto';
import JSZip from 'jszip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishApp } from '../src/server/modeling/index.ts';
import { DEMO_PASSWORD, systemActor } from '../src/server/platform/index.ts';
import { assignRole, createRole } from '../src/server/platform/org/index.ts';
import { XLSX_TYPE } from '../src/server/records/excel/index.ts';
import { parseCsv } from '../src/server/records/excel/csv.ts';
import { testTarget } from './helpers/db.ts';
import { createTestTrellis, loginAs, withApiKey, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { excelFields, excelTestApp, gbkEncode, readWorkbook, workbook } from './excel-helpers.ts';

const API = '/api/v1/apps/xl/entities';
const REC = `${API}/rec/records`;
const COPY = `${API}/rec_copy/records`;
/** Fields the round trip compares: everything but the per-entity counter. */
const COMPARED = excelFields().map((f) => f.name).filter((n) => n !== 'serial');

describe(`spreadsheet import and export (${testTarget})`, () => {
  let t: TestTrellis;
  let admin: TestSession;
  let quality: TestSession; // zhou.quality: quality_engineer, all rows
  let op1: TestSession; // wang.operator: machining team 1, own department, "secret" hidden
  let op2: TestSession; // yang.operator: machining team 2
  let inspector: TestSession; // luo.inspector: read only
  let lead: TestSession; // li.teamlead (machining team 1): reads every row, exports only their department's
  let ids: Record<string, string>;

  beforeAll(async () => {
    t = await createTestTrellis({ seedDemo: true });
    await t.ctx.db.tx(async (tx) => {
      const w = { tx, actor: systemActor };
      await createRole(w, { code: 'exporter', name: '数据导出' });
      const li = (await tx.query<{ id: string }>(`select id from users where username = 'li.teamlead'`)).rows[0]!.id;
      await assignRole(w, 'exporter', [li]);
    });
    await publishApp(t.ctx, systemActor, excelTestApp());
    admin = await loginAs(t);
    const as = (u: string) => loginAs(t, u, DEMO_PASSWORD);
    [quality, op1, op2, inspector, lead] = [await as('zhou.quality'), await as('wang.operator'), await as('yang.operator'), await as('luo.inspector'), await as('li.teamlead')];
    for (const title of ['齿轮', '轴承']) {
      const r = await admin.inject({ method: 'POST', url: `${API}/part/records`, payload: { values: { title } } });
      expect(r.statusCode, r.body).toBe(201);
    }
    const q = async (sql: string) => (await t.ctx.db.query<{ k: string; id: string }>(sql)).rows;
    ids = Object.fromEntries([
      ...(await q(`select username as k, id from users`)).map((r) => [r.k, String(r.id)]),
      ...(await q(`select 'dept:' || code as k, id from departments`)).map((r) => [r.k, String(r.id)]),
      ...(await q(`select 'part:' || name as k, id from x_xl__part`)).map((r) => [r.k, String(r.id)]),
    ]);
  });
  afterAll(async () => {
    await t?.destroy();
  });

  async function counts() {
    const n = async (sql: string) => Number((await t.ctx.db.query<{ n: number }>(sql)).rows[0]!.n);
    return {
      rec: await n('select count(*)::int as n from x_xl__rec'),
      copy: await n('select count(*)::int as n from x_xl__rec_copy'),
      history: await n('select count(*)::int as n from record_history'),
      outbox: await n('select count(*)::int as n from outbox'),
      audit: await n('select count(*)::int as n from audit_log'),
      counters: await n('select coalesce(sum(last), 0)::int as n from naming_counters'),
    };
  }

  const upload = (s: TestSession, url: string, body: Buffer, contentType = XLSX_TYPE) => s.inject({ method: 'POST', url, payload: body, headers: { 'content-type': contentType } });
  const q = (o: Record<string, unknown>) => `?${new URLSearchParams(Object.entries(o).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString()}`;

  async function create(s: TestSession, values: Record<string, unknown>, url = REC) {
    const r = await s.inject({ method: 'POST', url, payload: { values } });
    expect(r.statusCode, r.body).toBe(201);
    return r.json() as { id: string; name: string; values: Record<string, unknown> };
  }

  async function list(s: TestSession, url: string, filter: unknown) {
    const r = await s.inject(`${url}${q({ filter, limit: '200', sort: 'created_at' })}`);
    expect(r.statusCode, r.body).toBe(200);
    return (r.json() as { items: Array<{ id: string; name: string; values: Record<string, unknown> }> }).items;
  }

  function richValues(marker: string, i: number): Record<string, unknown> {
    return {
      title: `${marker} 齿轮箱检验 #${i}`,
      notes: `第一行, "引号"\n第二行 — 中文；=SUM(A1:A3)`,
      qty: 40 + i,
      price: '19999.99',
      big: '12345678901234.5678',
      loose: i === 1 ? '12.50' : '0.1',
      ratio: '12.5',
      due: '2026-02-28',
      happened_at: '2026-03-31T00:30:05.000Z',
      dur: 5400,
      ok: i % 2 === 1,
      color: 'green',
      tags: ['a', 'c'],
      owner: ids['zhou.quality'],
      dept: ids['dept:machining'],
      part: ids['part:P-0002'],
      material: 'MAT-0001',
      qr: '-EQ-0001',
      geo: { lat: 31.2304, lng: 121.4737 },
      code: `${marker === '往返' ? 'XA' : 'CA'}${i}`,
      secret: '+机密',
    };
  }

  async function roundTrip(format: 'xlsx' | 'csv', marker: string) {
    const originals = [await create(admin, richValues(marker, 1)), await create(admin, richValues(marker, 2)), await create(admin, { title: `${marker} 空值` })];
    const filter = { field: 'title', op: 'like', value: marker };
    const exp = await admin.inject(`${REC}/export${q({ format, filter })}`);
    expect(exp.statusCode, exp.body).toBe(200);
    expect(exp.headers['content-disposition']).toMatch(new RegExp(`^attachment; filename="xl-rec-\\d{12}\\.${format}"; filename\\*=UTF-8''${encodeURIComponent('检验记录-')}\\d{12}\\.${format}$`));
    const file = exp.rawPayload;
    // the file goes to the twin entity by its zh headers: preview first
    const preview = await upload(admin, `${COPY}/import/preview`, file, format === 'csv' ? 'text/csv' : XLSX_TYPE);
    expect(preview.statusCode, preview.body).toBe(200);
    const pv = preview.json();
    expect(pv.totalRows).toBe(3);
    for (const f of COMPARED.filter((n) => !['total'].includes(n))) expect(Object.values(pv.mapping), f).toContain(f);
    expect(pv.mapping['编号']).toBeNull(); // system columns are not imported
    const r = await upload(admin, `${COPY}/import`, file, format === 'csv' ? 'text/csv' : XLSX_TYPE);
    expect(r.statusCode, r.body).toBe(200);
    const report = r.json();
    expect(report).toMatchObject({ total: 3, imported: 3, failed: 0, committed: true });
    const copies = await list(admin, COPY, filter);
    expect(copies).toHaveLength(3);
    for (const o of originals) {
      const c = copies.find((x) => x.values.title === o.values.title)!;
      expect(c, String(o.values.title)).toBeDefined();
      const full = (await admin.inject(`${REC}/${o.id}`)).json();
      for (const f of COMPARED) expect(c.values[f], `${format} ${String(o.values.title)} ${f}`).toEqual(full.values[f]);
    }
    return { originals, copies, file };
  }

  it('round-trips every importable field type through .xlsx (exact decimals, dates, Chinese text)', async () => {
    const { file } = await roundTrip('xlsx', '往返');
    const wb = await readWorkbook(file);
    expect(wb.name).toBe('检验记录');
    const header = wb.rows[0]!.map((c) => c.value);
    expect(header.slice(0, 4)).toEqual(['编号', '标题', '备注', '数量']);
    expect(header).toContain('内部备注');
    expect(header).not.toContain('序号 (serial)');
    const col = (h: string) => header.indexOf(h);
    const row = wb.rows.find((r) => String(r[1]!.value).endsWith('#1'))!; // newest first by default
    // decimals: a numeric cell where a double holds them exactly, else the exact text
    expect(row[col('单价')]).toEqual({ value: 19999.99, numFmt: '#,##0.00' });
    expect(row[col('大数')]!.value).toBe('12345678901234.5678');
    expect(row[col('比例')]).toEqual({ value: 0.125, numFmt: '0.0%' });
    expect(row[col('小数')]).toEqual({ value: 12.5, numFmt: '0.00' });
    expect(row[col('到期日')]!.value).toEqual(new Date(Date.UTC(2026, 1, 28)));
    expect(row[col('发生时间')]!.value).toEqual(new Date(Date.UTC(2026, 2, 31, 8, 30, 5))); // plant time
    expect(row[col('颜色')]!.value).toBe('绿色');
    expect(row[col('标签')]!.value).toBe('甲, 丙');
    expect(row[col('负责人')]!.value).toBe('周涛');
    expect(row[col('部门')]!.value).toBe('机加工车间');
    expect(row[col('零件')]!.value).toBe('P-0002');
    expect(row[col('合格')]!.value).toBe('是');
  });

  it('round-trips through CSV (UTF-8 with BOM, formula-like text guarded)', async () => {
    const { file } = await roundTrip('csv', '逗号');
    expect([...file.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const rows = parseCsv(file.subarray(3).toString('utf8'));
    const header = rows[0]!;
    const row = rows.find((r) => r[1]!.endsWith('#1'))!;
    expect(row[header.indexOf('大数')]).toBe('12345678901234.5678');
    expect(row[header.indexOf('二维码')]).toBe("'-EQ-0001");
    expect(row[header.indexOf('发生时间')]).toBe('2026-03-31 08:30:05');
  });

  it('exports English headers and labels with lang=en, and the preview maps them back', async () => {
    const r = await admin.inject(`${REC}/export${q({ format: 'csv', lang: 'en', filter: { field: 'code', op: 'eq', value: 'XA1' }, fields: 'name,title,color,ok,owner,qty' })}`);
    expect(r.statusCode, r.body).toBe(200);
    const rows = parseCsv(r.rawPayload.subarray(3).toString('utf8'));
    expect(rows[0]).toEqual(['Number', 'Title', 'Colour', 'Passed', 'Owner', 'Quantity']);
    expect(rows[1]!.slice(2)).toEqual(['Green', 'Yes', 'Zhou Tao', '41']);
    const p = await upload(admin, `${COPY}/import/preview`, r.rawPayload, 'text/csv');
    expect(p.json().mapping).toEqual({ Number: null, Title: 'title', Colour: 'color', Passed: 'ok', Owner: 'owner', Quantity: 'qty' });
  });

  it('imports CSV in UTF-8, UTF-8 with BOM and GBK, with names looked up', async () => {
    const csv = (code: string) =>
      ['标题,数量,单价,到期日,合格,颜色,标签,负责人,部门,零件,代码', `中文标题${code},7,"1,234.50",2026/3/31,是,红色,"甲，乙",王强,machining_t1,齿轮,${code}`].join('\r\n');
    const bodies: Array<[string, Buffer]> = [
      ['XU1', Buffer.from(csv('XU1'), 'utf8')],
      ['XB1', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(csv('XB1'), 'utf8')])],
      ['XG1', gbkEncode(csv('XG1'))],
    ];
    for (const [code, body] of bodies) {
      const p = await upload(quality, `${REC}/import/preview`, body, 'text/csv');
      expect(p.statusCode, p.body).toBe(200);
      expect(p.json().encoding).toBe(code === 'XU1' ? 'utf-8' : code === 'XB1' ? 'utf-8-bom' : 'gb18030');
      expect(p.json().sampleRows[0].values['标题']).toBe(`中文标题${code}`);
      const r = await upload(quality, `${REC}/import`, body, 'text/csv');
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json()).toMatchObject({ imported: 1, failed: 0 });
      const [rec] = await list(quality, REC, { field: 'code', op: 'eq', value: code });
      expect(rec!.values).toMatchObject({
        title: `中文标题${code}`,
        qty: 7,
        price: '1234.50',
        due: '2026-03-31',
        ok: true,
        color: 'red',
        tags: ['a', 'b'],
        owner: ids['wang.operator'],
        dept: ids['dept:machining_t1'],
        part: ids['part:P-0001'],
      });
    }
  });

  it('suggests a mapping from zh labels (case, spaces, units, required marks) and lists unmapped required fields', async () => {
    const file = await workbook([
      ['标题*', ' 数 量 ', '单价（元）', 'COLOUR', '不存在的列', '备注'],
      ['A', 1, 2.5, '红色', 'x', 'n'],
      [null, null, null, null, null, null],
      ['B', 2, 3, 'Green', 'y', null],
    ]);
    const r = await upload(quality, `${REC}/import/preview`, file);
    expect(r.statusCode, r.body).toBe(200);
    const p = r.json();
    expect(p.mapping).toEqual({ '标题*': 'title', '数 量': 'qty', '单价（元）': 'price', COLOUR: 'color', 不存在的列: null, 备注: 'notes' });
    expect(p.totalRows).toBe(2);
    expect(p.sampleRows.map((s: { row: number }) => s.row)).toEqual([2, 4]);
    expect(p.unmappedRequired).toEqual([]);
    expect(p.fields.map((f: { name: string }) => f.name)).not.toContain('total');
    expect(p.columns[1]).toMatchObject({ letter: 'B', header: '数 量', field: 'qty' });
    // a title row above the headers is skipped
    const titled = await upload(quality, `${REC}/import/preview`, await workbook([['2026年3月检验清单'], ['标题', '数量'], ['T', 1]]));
    expect(titled.json()).toMatchObject({ headerRow: 2, totalRows: 1, mapping: { 标题: 'title', 数量: 'qty' } });
    const none = await upload(quality, `${REC}/import/preview`, await workbook([['数量'], [1]]));
    expect(none.json().unmappedRequired).toEqual(['title']);
  });

  it('all_or_nothing: one bad row and nothing is written (records, history, outbox, audit, numbers)', async () => {
    const before = await counts();
    const file = await workbook([
      ['标题', '数量', '代码'],
      ['好行一', 1, 'AN1'],
      ['坏行', -5, 'AN2'],
      ['好行二', 2, 'AN3'],
    ]);
    const r = await upload(quality, `${REC}/import${q({ mode: 'all_or_nothing' })}`, file);
    expect(r.statusCode, r.body).toBe(422);
    const body = r.json();
    expect(body).toMatchObject({ total: 3, imported: 0, failed: 1, committed: false });
    expect(body.detail).toMatch(/nothing was imported/);
    expect(body.rows.map((x: { row: number; ok: boolean }) => [x.row, x.ok])).toEqual([[2, true], [3, false], [4, true]]);
    expect(body.rows[1].errors).toEqual([{ column: '数量', cell: 'B3', field: 'qty', message: 'must be at least 0' }]);
    expect(body.rows[0].id).toBeUndefined();
    expect(await counts()).toEqual(before);
    // dry run of a good file: checked, not written
    const dry = await upload(quality, `${REC}/import${q({ dryRun: 'true' })}`, await workbook([['标题', '代码'], ['试', 'DR1']]));
    expect(dry.statusCode, dry.body).toBe(200);
    expect(dry.json()).toMatchObject({ dryRun: true, committed: false, imported: 0, failed: 0 });
    expect(await counts()).toEqual(before);
  });

  it('valid_rows_only: imports the good rows in one transaction and reports each bad row', async () => {
    const before = await counts();
    const file = await workbook([
      ['标题', '数量', '颜色', '代码', '负责人', '到期日'],
      ['有效一', 1, '红色', 'VR1', 'wang.operator', { value: 46112 }], // serial day without a date format
      ['数量错', 'abc', null, 'VR2', null, null],
      ['颜色错', 1, '蓝色', 'VR3', null, null],
      [null, 1, null, 'VR4', null, null], // title is required
      ['代码错', 1, null, 'bad', null, null],
      ['代码重复', 1, null, 'VR1', null, null], // unique, found by the database
      ['有效二', 2, 'Green', 'VR5', '王强 (wang.operator)', '2026-04-01'],
      ['人员错', 1, null, 'VR6', '查无此人', null],
    ]);
    const r = await upload(quality, `${REC}/import${q({ mode: 'valid_rows_only' })}`, file);
    expect(r.statusCode, r.body).toBe(200);
    const rep = r.json();
    expect(rep).toMatchObject({ mode: 'valid_rows_only', total: 8, imported: 2, failed: 6, committed: true });
    const bad = Object.fromEntries(rep.rows.filter((x: { ok: boolean }) => !x.ok).map((x: { row: number; errors: unknown[] }) => [x.row, x.errors]));
    expect(Object.keys(bad).map(Number)).toEqual([3, 4, 5, 6, 7, 9]);
    expect(bad[3]).toEqual([{ column: '数量', cell: 'B3', field: 'qty', message: '"abc" is not a whole number' }]);
    expect(bad[4][0]).toMatchObject({ column: '颜色', cell: 'C4', field: 'color', message: expect.stringMatching(/"蓝色" is not an option/) });
    expect(bad[5]).toEqual([{ column: '标题', cell: 'A5', field: 'title', message: 'is required' }]);
    expect(bad[6][0]).toMatchObject({ column: '代码', field: 'code', message: expect.stringMatching(/pattern/) });
    expect(bad[7][0]).toMatchObject({ column: '代码', field: 'code', message: expect.stringMatching(/unique/) });
    expect(bad[9][0]).toMatchObject({ column: '负责人', field: 'owner', message: expect.stringMatching(/no user "查无此人"/) });
    const good = rep.rows.filter((x: { ok: boolean }) => x.ok);
    expect(good.map((x: { row: number }) => x.row)).toEqual([2, 8]);
    // gap-free numbering: the refused rows used up no number
    const [n1, n2] = good.map((x: { name: string }) => Number(x.name.split('-').pop()));
    expect(n2).toBe(n1! + 1);
    const after = await counts();
    expect(after.rec - before.rec).toBe(2);
    expect(after.history - before.history).toBe(2);
    expect(after.outbox - before.outbox).toBe(2);
    expect(after.audit - before.audit).toBe(3); // two records + the import summary
    const [v1] = await list(quality, REC, { field: 'code', op: 'eq', value: 'VR1' });
    expect(v1!.values).toMatchObject({ owner: ids['wang.operator'], due: '2026-03-31', color: 'red' });
    const audit = await t.ctx.db.query<{ detail: Record<string, unknown> }>(`select detail from audit_log where action = 'record.import' order by seq desc limit 1`);
    expect(audit.rows[0]!.detail).toMatchObject({ imported: 2, failed: 6, rowsFailed: [3, 4, 5, 6, 7, 9] });
  });

  it('takes an explicit mapping (query string or JSON with base64) and refuses a wrong one', async () => {
    const file = await workbook([['名字', 'Menge', '忽略'], ['映射一', 3, 'x']]);
    const r = await upload(quality, `${REC}/import${q({ mapping: { 名字: 'title', Menge: 'qty', 忽略: null } })}`, file);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ imported: 1 });
    const j = await quality.inject({
      method: 'POST',
      url: `${REC}/import`,
      payload: { file: file.toString('base64'), filename: 'data.xlsx', mapping: { A: 'title', B: 'qty' }, mode: 'valid_rows_only' },
    });
    expect(j.statusCode, j.body).toBe(200);
    expect(j.json()).toMatchObject({ imported: 1 });
    const bad = await upload(quality, `${REC}/import${q({ mapping: { 名字: 'total', Menge: 'nope', 没有: 'qty' } })}`, file);
    expect(bad.statusCode).toBe(400);
    const paths = bad.json().errors.map((e: { path: string; message: string }) => `${e.path}: ${e.message}`);
    expect(paths).toEqual([
      expect.stringMatching(/^mapping\.名字: .*computed/),
      expect.stringMatching(/^mapping\.Menge: there is no field "nope"/),
      expect.stringMatching(/^mapping\.没有: the sheet has no column/),
    ]);
    const nothing = await upload(quality, `${REC}/import`, await workbook([['foo', 'bar'], [1, 2]]));
    expect(nothing.statusCode).toBe(400);
    expect(nothing.json().detail).toMatch(/No column of the file matches/);
  });

  it('refuses malformed and oversized files with a 4xx and writes nothing', async () => {
    const before = await counts();
    const zip = new JSZip();
    zip.file('hello.txt', 'not a workbook');
    const notXlsx = await zip.generateAsync({ type: 'nodebuffer' });
    const docx = new JSZip();
    docx.file('[Content_Types].xml', '<Types/>');
    docx.file('word/document.xml', '<w:document/>');
    const good = await workbook([['标题'], ['x']]);
    const cases: Array<[string, Buffer, string, number, RegExp]> = [
      ['random bytes as xlsx', randomBytes(4096), XLSX_TYPE, 400, /not a valid \.xlsx/],
      ['random bytes as csv', randomBytes(4096), 'text/csv', 400, /cannot be read as CSV/],
      ['a zip that is not xlsx', notXlsx, XLSX_TYPE, 400, /not an Excel workbook/],
      ['a Word file', await docx.generateAsync({ type: 'nodebuffer' }), XLSX_TYPE, 400, /Word document/],
      ['a truncated workbook', good.subarray(0, Math.floor(good.length / 2)), XLSX_TYPE, 400, /damaged|incomplete/],
      ['an empty file', Buffer.alloc(0), XLSX_TYPE, 400, /empty/],
      ['an old .xls', Buffer.concat([Buffer.from('d0cf11e0a1b11ae1', 'hex'), randomBytes(600)]), 'application/vnd.ms-excel', 415, /\.xls/],
      ['a file over 10 MB', Buffer.concat([Buffer.from('标题\n'), Buffer.alloc(11 * 1024 * 1024, 0x61)]), 'text/csv', 413, /at most 10\.0 MB/],
      ['a body over the route limit', Buffer.alloc(16 * 1024 * 1024, 0x61), 'text/csv', 413, /larger than this endpoint accepts/],
      ['headers only', await workbook([['标题', '数量']]), XLSX_TYPE, 200, /.*/],
    ];
    for (const [what, body, type, status, message] of cases) {
      for (const path of ['import', 'import/preview']) {
        const r = await upload(quality, `${REC}/${path}`, body, type);
        expect(r.statusCode, `${what} → ${path}: ${r.body.slice(0, 300)}`).toBe(status);
        if (status >= 400) {
          expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
          expect(r.json().detail, what).toMatch(message);
        }
      }
    }
    const b64 = await quality.inject({ method: 'POST', url: `${REC}/import`, payload: { file: '!!!not base64!!!' } });
    expect(b64.statusCode).toBe(400);
    const noFile = await quality.inject({ method: 'POST', url: `${REC}/import`, payload: {} });
    expect(noFile.statusCode).toBe(400);
    const sheet = await upload(quality, `${REC}/import${q({ sheet: '不存在' })}`, good);
    expect(sheet.statusCode).toBe(400);
    expect(sheet.json().detail).toMatch(/no sheet "不存在".*Sheet1/);
    expect(await counts()).toEqual(before);
  });

  it('export honours the filter and the row scope, and hides hidden fields', async () => {
    for (const [s, qty] of [[op1, 501], [op1, 502], [op2, 503]] as const) await create(s, { title: `范围 ${qty}`, qty });
    const scoped = { field: 'title', op: 'like', value: '范围' };
    const titles = async (s: TestSession, extra: Record<string, unknown> = {}) => {
      const r = await s.inject(`${REC}/export${q({ format: 'csv', filter: scoped, sort: 'qty', ...extra })}`);
      expect(r.statusCode, r.body).toBe(200);
      const rows = parseCsv(r.rawPayload.subarray(3).toString('utf8'));
      return { header: rows[0]!, titles: rows.slice(1).map((x) => x[rows[0]!.indexOf('标题')]) };
    };
    const mine = await titles(op1);
    expect(mine.titles).toEqual(['范围 501', '范围 502']); // own department only
    expect(mine.header).not.toContain('内部备注'); // hidden for operators
    expect((await titles(op2)).titles).toEqual(['范围 503']);
    const all = await titles(quality);
    expect(all.titles).toEqual(['范围 501', '范围 502', '范围 503']);
    expect(all.header).toContain('内部备注');
    // the export right has its own row scope: rows must be in both the read and the export scope
    expect((await lead.inject(`${REC}${q({ filter: scoped })}`)).json().items).toHaveLength(3);
    expect((await titles(lead)).titles).toEqual(['范围 501', '范围 502']);
    const filtered = await titles(quality, { filter: { and: [scoped, { field: 'qty', op: 'gte', value: 502 }] }, sort: '-qty' });
    expect(filtered.titles).toEqual(['范围 503', '范围 502']);
    // many pages: the keyset walk exports every row once
    const many = await titles(admin, { filter: { field: 'title', op: 'like', value: '' }, sort: 'created_at' });
    const total = (await t.ctx.db.query<{ n: number }>('select count(*)::int as n from x_xl__rec')).rows[0]!.n;
    expect(many.titles).toHaveLength(total);
    // POST variant with the filter in the body
    const post = await op1.inject({ method: 'POST', url: `${REC}/export`, payload: { format: 'xlsx', filter: scoped } });
    expect(post.statusCode, post.body).toBe(200);
    expect(post.headers['content-type']).toBe(XLSX_TYPE);
    expect((await readWorkbook(post.rawPayload)).rows).toHaveLength(3);
    // a hidden field cannot be asked for, nor filtered on
    expect((await op1.inject(`${REC}/export${q({ fields: 'title,secret' })}`)).statusCode).toBe(400);
    expect((await op1.inject(`${REC}/export${q({ filter: { field: 'secret', op: 'eq', value: 'x' } })}`)).statusCode).toBe(400);
    const audit = await t.ctx.db.query<{ detail: Record<string, unknown> }>(`select detail from audit_log where action = 'record.export' order by seq desc limit 1`);
    expect(audit.rows[0]?.detail).toMatchObject({ app: 'xl', entity: 'rec' });
  });

  it('an operator imports into their own department, with hidden fields not importable', async () => {
    const file = await workbook([['标题', '内部备注'], ['操作工导入', '不能写']]);
    const p = await upload(op1, `${REC}/import/preview`, file);
    expect(p.json().mapping).toEqual({ 标题: 'title', 内部备注: null });
    const r = await upload(op1, `${REC}/import`, file);
    expect(r.statusCode, r.body).toBe(200);
    const row = await t.ctx.db.query<{ owner_department_id: string; secret: string | null }>(`select owner_department_id, secret from x_xl__rec where title = '操作工导入'`);
    expect(row.rows[0]).toEqual({ owner_department_id: ids['dept:machining_t1'], secret: null });
    const forced = await upload(op1, `${REC}/import${q({ mapping: { 标题: 'title', 内部备注: 'secret' } })}`, file);
    expect(forced.statusCode).toBe(400);
    expect(forced.json().errors[0].message).toMatch(/may not write/);
  });

  it('refuses export and import without the rights (403) and unknown apps (404)', async () => {
    const file = await workbook([['标题'], ['x']]);
    const e = await inspector.inject(`${REC}/export`);
    expect(e.statusCode).toBe(403);
    expect(e.json().detail).toMatch(/export/);
    const i = await upload(inspector, `${REC}/import`, file);
    expect(i.statusCode).toBe(403);
    expect((await upload(inspector, `${REC}/import/preview`, file)).statusCode).toBe(403);
    expect((await t.app.inject({ url: `${REC}/export` })).statusCode).toBe(401);
    expect((await admin.inject(`${API}/nope/records/export`)).statusCode).toBe(404);
    // an API key with records:read may export but not import
    const k = await quality.inject({ method: 'POST', url: '/api/v1/apikeys', payload: { name: 'export only', scopes: ['records:read'] } });
    expect(k.statusCode, k.body).toBe(201);
    const key = withApiKey(t, k.json().key);
    expect((await key({ url: `${REC}/export?format=csv` })).statusCode).toBe(200);
    const ki = await key({ method: 'POST', url: `${REC}/import`, payload: file, headers: { 'content-type': XLSX_TYPE } });
    expect(ki.statusCode).toBe(403);
    expect(ki.json().detail).toMatch(/records:write/);
  });

  it('imports hundreds of rows in one go and exports them all across keyset pages', async () => {
    const before = await counts();
    const N = 260; // more than one page of the list (200)
    const lines = ['标题,数量,比例,到期日'];
    for (let i = 1; i <= N; i++) lines.push(`批量 ${i},${i},${(i % 1000) / 10}%,2026-01-${String((i % 28) + 1).padStart(2, '0')}`);
    const r = await upload(quality, `${REC}/import${q({ mode: 'valid_rows_only' })}`, Buffer.from(lines.join('\n')), 'text/csv');
    expect(r.statusCode, r.body.slice(0, 500)).toBe(200);
    expect(r.json()).toMatchObject({ total: N, imported: N, failed: 0 });
    expect((await counts()).rec - before.rec).toBe(N);
    for (const format of ['csv', 'xlsx'] as const) {
      const e = await quality.inject(`${REC}/export${q({ format, filter: { field: 'title', op: 'like', value: '批量' }, sort: 'qty', fields: 'title,qty,ratio' })}`);
      expect(e.statusCode, e.body.slice(0, 300)).toBe(200);
      const rows = format === 'csv' ? parseCsv(e.rawPayload.subarray(3).toString('utf8')) : (await readWorkbook(e.rawPayload)).rows.map((x) => x.map((c) => (typeof c.value === 'number' ? c.value : String(c.value))));
      expect(rows).toHaveLength(N + 1);
      expect(rows.slice(1).map((x) => Number(x[1]))).toEqual(Array.from({ length: N }, (_, i) => i + 1));
      expect(rows[N]![2]).toEqual(format === 'csv' ? '26.0' : 0.26);
    }
  }, 180_000);

  it('reads Excel number cells at display precision and dates in plant time', async () => {
    const file = await workbook([
      ['标题', '小数', '比例', '发生时间', '时长', '代码'],
      ['精度', { value: 0.1 + 0.2, numFmt: '0.00' }, { value: 0.333, numFmt: '0.0%' }, new Date(Date.UTC(2026, 2, 31, 8, 30)), { value: 1.5 / 24, numFmt: '[h]:mm:ss' }, 'PR1'],
    ]);
    const r = await upload(quality, `${REC}/import`, file);
    expect(r.statusCode, r.body).toBe(200);
    const [rec] = await list(quality, REC, { field: 'code', op: 'eq', value: 'PR1' });
    expect(rec!.values).toMatchObject({ loose: '0.30', ratio: '33.3', happened_at: '2026-03-31T00:30:00.000Z', dur: 5400 });
  });
});
