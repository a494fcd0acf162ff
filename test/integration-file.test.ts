// File exchange driver with temporary folders: atomic CSV/XLSX writes named by the idempotency
// key (a retry makes no second file), and a source that claims files into processing/, hands out
// their rows, moves them to done/ (or failed/ with the reason) and re-reads a file left behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import '../src/server/integration/drivers/index.ts';
import { getDriver } from '../src/server/integration/drivers/index.ts';
import { fileConfigSchema, openFileDestination, openFileSource } from '../src/server/integration/drivers/file.ts';
import type { DeliveryRequest } from '../src/server/integration/types.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-file-test-'));
const folder = (name: string) => {
  const p = path.join(root, name);
  fs.mkdirSync(p, { recursive: true });
  return p;
};

function request(key: string, payload: unknown): DeliveryRequest {
  return {
    deliveryId: randomUUID(),
    idempotencyKey: key,
    partitionKey: null,
    attempt: 1,
    payload,
    event: { specversion: '1.0', id: randomUUID(), source: '/t', type: 'trellis.report', time: new Date().toISOString(), datacontenttype: 'application/json', data: {} },
  };
}

describe('file exchange driver', () => {
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('writes CSV atomically, named by the idempotency key; a retry makes no second file', async () => {
    expect(getDriver('file')?.openSource).toBeDefined();
    const dir = folder('out-csv');
    const dest = await openFileDestination(fileConfigSchema.parse({ folder: dir, prefix: 'report' }));
    const rows = [
      { 物料: 'M-001', 数量: '12.500', 备注: 'a, "quoted" note' },
      { 物料: 'M-002', 数量: '3', 备注: '=SUM(A1)' },
    ];
    expect(await dest.send(request('del/1', rows))).toMatchObject({ ok: true, externalRef: 'report-del_1.csv' });
    expect(await dest.send(request('del/1', rows))).toMatchObject({ ok: true, detail: { alreadyWritten: true } });
    expect(fs.readdirSync(dir)).toEqual(['report-del_1.csv']); // no temporary file left behind
    const text = fs.readFileSync(path.join(dir, 'report-del_1.csv'), 'utf8');
    expect(text).toBe('\ufeff物料,数量,备注\r\nM-001,12.500,"a, ""quoted"" note"\r\nM-002,3,\'=SUM(A1)\r\n');
    expect((await dest.test()).ok).toBe(true);
    const missing = await openFileDestination(fileConfigSchema.parse({ folder: path.join(root, 'nope') }));
    expect((await missing.test()).ok).toBe(false);
    expect(await missing.send(request('x', {}))).toMatchObject({ ok: false, retryable: false });
  });

  it('writes XLSX that the source reads back', async () => {
    const dir = folder('xlsx');
    const dest = await openFileDestination(fileConfigSchema.parse({ folder: dir, format: 'xlsx', columns: ['code', 'qty'] }));
    expect((await dest.send(request('k1', [{ code: 'M-9', qty: '1.25', ignored: 1 }]))).ok).toBe(true);
    const src = await openFileSource(fileConfigSchema.parse({ folder: dir, keyColumn: 'code' }));
    const r = await src.pull({ object: 'any', since: null, limit: 100 });
    expect(r.rows).toEqual([{ key: 'M-9', watermark: 'trellis-k1.xlsx', data: { code: 'M-9', qty: '1.25' } }]);
  });

  it('picks up files: processing → done, unreadable → failed, and re-reads a file a crash left in processing', async () => {
    const dir = folder('in');
    fs.writeFileSync(path.join(dir, 'a.csv'), 'code,qty\nM-1,1\nM-2,2\n');
    fs.writeFileSync(path.join(dir, 'b.xlsx'), 'this is not a workbook');
    fs.writeFileSync(path.join(dir, 'c.csv'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('code,qty\r\nM-3,3\r\n', 'utf16le')]));
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
    const cfg = fileConfigSchema.parse({ folder: dir, keyColumn: 'code' });
    const src = await openFileSource(cfg);
    const first = await src.pull({ object: 'x', since: null, limit: 100 });
    expect(first.rows.map((r) => r.data)).toEqual([{ code: 'M-1', qty: '1' }, { code: 'M-2', qty: '2' }]);
    expect(first.more).toBe(true);
    expect(fs.readdirSync(path.join(dir, 'processing'))).toEqual(['a.csv']);
    // The process dies here, before storing: a new source reads a.csv again.
    const again = await openFileSource(cfg);
    const replay = await again.pull({ object: 'x', since: null, limit: 100 });
    expect(replay.rows.map((r) => r.key)).toEqual(['M-1', 'M-2']);
    const second = await again.pull({ object: 'x', since: null, limit: 100 }); // a.csv done; b.xlsx fails; c.csv read
    expect(second.rows.map((r) => r.data)).toEqual([{ code: 'M-3', qty: '3' }]);
    const third = await again.pull({ object: 'x', since: null, limit: 100 });
    expect(third).toMatchObject({ rows: [], more: false });
    expect(fs.readdirSync(path.join(dir, 'done')).sort()).toEqual(['a.csv', 'c.csv']);
    expect(fs.readdirSync(path.join(dir, 'failed')).sort()).toEqual(['b.xlsx', 'b.xlsx.error.txt']);
    expect(fs.readFileSync(path.join(dir, 'failed', 'b.xlsx.error.txt'), 'utf8')).toMatch(/xlsx/i);
    expect(fs.readdirSync(dir).sort()).toEqual(['done', 'failed', 'notes.txt', 'processing']);
  });
});
