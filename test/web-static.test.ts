// Serving the built web console: precompressed variants chosen by Accept-Encoding, hashed assets
// cached for a year, index.html (also as the SPA fallback) revalidated on every load.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/server/config.ts';
import { createTrellis, type Trellis } from '../src/server/main.ts';
import { createTestDatabase } from './helpers/db.ts';
import { TEST_ADMIN_PASSWORD } from './helpers/trellis.ts';

const JS = `export const greeting = ${JSON.stringify('格架 '.repeat(400))};\n`;
const HTML = '<!doctype html><html><head><script type="module" src="/assets/app-Ab12Cd34.js"></script></head><body><div id="root"></div></body></html>';

describe('web console static files', () => {
  let trellis: Trellis;
  let drop: () => Promise<void>;
  let webRoot: string;
  beforeAll(async () => {
    webRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-web-static-'));
    fs.mkdirSync(path.join(webRoot, 'assets'));
    fs.writeFileSync(path.join(webRoot, 'index.html'), HTML);
    const js = path.join(webRoot, 'assets/app-Ab12Cd34.js');
    fs.writeFileSync(js, JS);
    fs.writeFileSync(`${js}.br`, zlib.brotliCompressSync(JS));
    fs.writeFileSync(`${js}.gz`, zlib.gzipSync(JS));
    const testDb = await createTestDatabase();
    drop = () => testDb.drop();
    const config = loadConfig({ TRELLIS_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, TRELLIS_LOG_LEVEL: 'silent', TRELLIS_DATA_DIR: '/nonexistent-test-data-dir' });
    trellis = await createTrellis(config, { db: testDb.db, seedDemo: false, webRoot, announce: () => {}, logger: pino({ level: 'silent' }) });
  });
  afterAll(async () => {
    await trellis?.close();
    await drop?.();
    fs.rmSync(webRoot, { recursive: true, force: true });
  });

  it('sends the brotli or gzip file the browser accepts, with a year of immutable caching', async () => {
    const br = await trellis.app.inject({ url: '/assets/app-Ab12Cd34.js', headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.statusCode).toBe(200);
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers['content-type']).toContain('javascript');
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(String(br.headers.vary)).toContain('accept-encoding');
    expect(zlib.brotliDecompressSync(br.rawPayload).toString()).toBe(JS);

    const gz = await trellis.app.inject({ url: '/assets/app-Ab12Cd34.js', headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(gz.rawPayload).toString()).toBe(JS);

    const plain = await trellis.app.inject({ url: '/assets/app-Ab12Cd34.js', headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body).toBe(JS);
  });

  it('index.html and client-side routes are revalidated (a new build is picked up)', async () => {
    for (const url of ['/', '/inbox/todo']) {
      const res = await trellis.app.inject({ url, headers: { 'accept-encoding': 'identity' } });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type'], url).toContain('text/html');
      expect(res.headers['cache-control'], url).toBe('no-cache');
      expect(res.body, url).toBe(HTML);
    }
  });
});
