// A throw-away Tryton ERP for tests: Debian's trytond on SQLite in a temp folder, on a free
// loopback port. The database with production, purchase and stock activated is built once and
// cached (keyed by the trytond version); each server copies it. `seedTryton` then sets up a
// company and some master data through JSON-RPC, like a real plant's ERP would hold.
// Only the trytond processes started here are ever stopped.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TrytonClient, date, decimal } from '../../src/server/integration/drivers/tryton-rpc.ts';

export const TRYTON_DB = 'erp';
export const TRYTON_USER = 'admin';
export const TRYTON_PASSWORD = 'admin';

function trytondVersion(): string {
  return execFileSync('trytond', ['--version'], { encoding: 'utf8' }).trim().replace(/[^0-9.]/g, '') || 'unknown';
}

/** Builds (once) an SQLite database with production, purchase and stock activated. */
function templateDatabase(): string {
  const dir = path.join(os.tmpdir(), `trellis-tryton-template-${trytondVersion()}`);
  const file = path.join(dir, 'db', `${TRYTON_DB}.sqlite`);
  if (fs.existsSync(path.join(dir, 'ready'))) return file;
  const building = `${dir}.building-${process.pid}`;
  fs.rmSync(building, { recursive: true, force: true });
  fs.mkdirSync(path.join(building, 'db'), { recursive: true });
  fs.writeFileSync(path.join(building, 'db', `${TRYTON_DB}.sqlite`), '');
  fs.writeFileSync(path.join(building, 'pass'), `${TRYTON_PASSWORD}\n`);
  const conf = path.join(building, 'trytond.conf');
  fs.writeFileSync(conf, `[database]\nuri = sqlite://\npath = ${path.join(building, 'db')}\n`);
  const env = { ...process.env, TRYTONPASSFILE: path.join(building, 'pass') };
  execFileSync('trytond-admin', ['-c', conf, '-d', TRYTON_DB, '--all', '--email', 'admin@example.com'], { env, stdio: 'ignore' });
  execFileSync('trytond-admin', ['-c', conf, '-d', TRYTON_DB, '-u', 'production', 'purchase', 'stock', '--activate-dependencies'], { env, stdio: 'ignore' });
  fs.writeFileSync(path.join(building, 'ready'), 'ok');
  try {
    fs.renameSync(building, dir); // atomic; a parallel builder that lost the race keeps its copy below
  } catch {
    if (!fs.existsSync(path.join(dir, 'ready'))) throw new Error(`could not store the Tryton template in ${dir}`);
    fs.rmSync(building, { recursive: true, force: true });
  }
  return file;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestTryton {
  url: string;
  port: number;
  dir: string;
  /** A client signed in as admin (for checks straight in Tryton). */
  client: TrytonClient;
  /** Stops the server (SIGTERM to the process this helper started). */
  stop(): Promise<void>;
  /** Starts it again on the same port and database. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
}

export async function startTryton(): Promise<TestTryton> {
  const template = templateDatabase();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-tryton-'));
  fs.mkdirSync(path.join(dir, 'db'));
  fs.copyFileSync(template, path.join(dir, 'db', `${TRYTON_DB}.sqlite`));
  const port = await freePort();
  const conf = path.join(dir, 'trytond.conf');
  fs.writeFileSync(conf, `[database]\nuri = sqlite://\npath = ${path.join(dir, 'db')}\n[web]\nlisten = 127.0.0.1:${port}\n`);
  const url = `http://127.0.0.1:${port}`;
  let proc: ChildProcess | null = null;

  const waitUp = async () => {
    for (let i = 0; i < 200; i++) {
      if (proc?.exitCode !== null && proc?.exitCode !== undefined) throw new Error(`trytond exited with ${proc.exitCode}; see ${dir}/server.log`);
      try {
        const r = await fetch(`${url}/${TRYTON_DB}/`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id: 0, method: 'common.db.login', params: [TRYTON_USER, { password: TRYTON_PASSWORD }, 'en'] }),
        });
        if (r.ok) return;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`trytond did not come up on ${url}`);
  };

  const t: TestTryton = {
    url,
    port,
    dir,
    client: new TrytonClient({ url, database: TRYTON_DB, username: TRYTON_USER, password: TRYTON_PASSWORD }),
    async start() {
      const log = fs.openSync(path.join(dir, 'server.log'), 'a');
      proc = spawn('trytond', ['-c', conf], { stdio: ['ignore', log, log] });
      fs.closeSync(log);
      await waitUp();
    },
    async stop() {
      const p = proc;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      proc = null;
    },
    async destroy() {
      await t.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await t.start();
  return t;
}

export interface TrytonSeed {
  companyId: number;
  warehouseId: number;
  productionLocationId: number;
  uom: { unit: number; kg: number };
  products: Record<string, number>;
  suppliers: Record<string, number>;
  bomId: number;
  productionIds: number[];
  purchaseId: number;
}

/** Company, currency, suppliers, products, a BOM, production orders and a purchase order. */
export async function seedTryton(c: TrytonClient): Promise<TrytonSeed> {
  const [currency] = await c.model<number[]>('currency.currency', 'create', [[{ name: '人民币', code: 'CNY', symbol: '¥', rounding: decimal('0.01'), digits: 2 }]]);
  const [companyParty] = await c.model<number[]>('party.party', 'create', [[{ name: '华东精机零部件有限公司' }]]);
  const [companyId] = await c.model<number[]>('company.company', 'create', [[{ party: companyParty, currency }]]);
  await c.model('res.user', 'write', [[1], { company: companyId, companies: [['add', [companyId]]] }]);
  await c.login(); // the context now carries the company
  const uoms = await c.searchRead('product.uom', [['symbol', 'in', ['u', 'kg']]], 0, null, null, ['symbol']);
  const uom = { unit: uoms.find((u) => u.symbol === 'u')!.id as number, kg: uoms.find((u) => u.symbol === 'kg')!.id as number };
  const locs = await c.searchRead('stock.location', [['type', 'in', ['warehouse', 'production']]], 0, null, null, ['type']);
  const warehouseId = locs.find((l) => l.type === 'warehouse')!.id as number;
  const productionLocationId = locs.find((l) => l.type === 'production')!.id as number;

  const supplierIds = await c.model<number[]>('party.party', 'create', [
    [
      { name: '宝钢特钢有限公司', code: 'SUP-001' },
      { name: '瓦房店轴承集团', code: 'SUP-002' },
    ],
  ]);
  const suppliers = { 'SUP-001': supplierIds[0]!, 'SUP-002': supplierIds[1]! };
  const productDefs = [
    { code: 'RM-45-D60', name: '45#圆钢 Φ60', uom: uom.kg, purchasable: true },
    { code: 'BRG-6205', name: '深沟球轴承 6205', uom: uom.unit, purchasable: true },
    { code: 'SH-100', name: '输出轴 SH-100', uom: uom.unit, producible: true },
  ];
  const products: Record<string, number> = {};
  for (const p of productDefs) {
    const [tpl] = await c.model<number[]>('product.template', 'create', [
      [
        {
          name: p.name,
          code: p.code,
          type: 'goods',
          default_uom: p.uom,
          purchasable: p.purchasable ?? false,
          ...(p.purchasable ? { purchase_uom: p.uom } : {}),
          producible: p.producible ?? false,
          products: [['create', [{}]]],
        },
      ],
    ]);
    const [prod] = await c.searchRead('product.product', [['template', '=', tpl]], 0, 1, null, ['id']);
    products[p.code] = prod!.id as number;
  }
  const [bomId] = await c.model<number[]>('production.bom', 'create', [
    [
      {
        name: 'BOM-SH-100',
        inputs: [['create', [{ product: products['RM-45-D60'], quantity: 2.5, uom: uom.kg }, { product: products['BRG-6205'], quantity: 2, uom: uom.unit }]]],
        outputs: [['create', [{ product: products['SH-100'], quantity: 1, uom: uom.unit }]]],
      },
    ],
  ]);
  const productionIds: number[] = [];
  for (const [i, qty] of [10, 25].entries()) {
    const [id] = await c.model<number[]>('production', 'create', [
      [
        {
          product: products['SH-100'],
          bom: bomId,
          quantity: qty,
          uom: uom.unit,
          planned_start_date: date(`2026-12-0${i + 1}`),
          planned_date: date(`2026-12-0${i + 3}`),
          warehouse: warehouseId,
          location: productionLocationId,
          company: companyId,
        },
      ],
    ]);
    productionIds.push(id!);
  }
  const [purchaseId] = await c.model<number[]>('purchase.purchase', 'create', [
    [
      {
        party: suppliers['SUP-001'],
        company: companyId,
        currency,
        warehouse: warehouseId,
        invoice_method: 'order',
        purchase_date: date('2026-11-20'),
        lines: [
          [
            'create',
            [
              { type: 'line', product: products['RM-45-D60'], quantity: 500, unit: uom.kg, unit_price: decimal('6.3500'), description: '45#圆钢 Φ60', delivery_date_edit: true, delivery_date_store: date('2026-12-05') },
              { type: 'line', product: products['BRG-6205'], quantity: 200, unit: uom.unit, unit_price: decimal('12.80'), description: '深沟球轴承 6205' },
            ],
          ],
        ],
      },
    ],
  ]);
  await c.model('purchase.purchase', 'quote', [[purchaseId]]);
  return { companyId: companyId!, warehouseId, productionLocationId, uom, products, suppliers, bomId: bomId!, productionIds, purchaseId: purchaseId! };
}
