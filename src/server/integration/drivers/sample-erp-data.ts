// The demo plant's ERP master data (华东精机零部件有限公司), generated deterministically: materials
// from bar stock to gear reducers, multi-level BOMs, suppliers, purchase orders, work orders, and
// the 237 machines of the equipment register. Dates are relative to the day of seeding so the
// supplier-delivery warnings always have something to show.
import type { BomData, EquipmentData, MaterialData, PurchaseOrderData, SupplierData, WorkOrderData } from '../masterdata/objects.ts';

/** A small deterministic generator (mulberry32): the same seed gives the same plant. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type M = MaterialData & { purchasable: boolean; producible: boolean; price?: string };
const mat = (code: string, name: string, uom: string, kind: 'buy' | 'make', price?: string): M => ({
  code,
  name,
  uom,
  type: 'goods',
  purchasable: kind === 'buy',
  producible: kind === 'make',
  ...(price ? { price } : {}),
});

export const SAMPLE_MATERIALS: M[] = [
  // raw steel bars (kg)
  mat('RM-45-D30', '45#圆钢 Φ30', 'kg', 'buy', '5.80'),
  mat('RM-45-D50', '45#圆钢 Φ50', 'kg', 'buy', '5.75'),
  mat('RM-45-D60', '45#圆钢 Φ60', 'kg', 'buy', '5.70'),
  mat('RM-45-D80', '45#圆钢 Φ80', 'kg', 'buy', '5.70'),
  mat('RM-40CR-D60', '40Cr圆钢 Φ60', 'kg', 'buy', '6.45'),
  mat('RM-40CR-D90', '40Cr圆钢 Φ90', 'kg', 'buy', '6.40'),
  mat('RM-20CRMNTI-D120', '20CrMnTi圆钢 Φ120', 'kg', 'buy', '7.35'),
  mat('RM-20CRMNTI-D180', '20CrMnTi圆钢 Φ180', 'kg', 'buy', '7.30'),
  mat('RM-42CRMO-D100', '42CrMo圆钢 Φ100', 'kg', 'buy', '7.90'),
  mat('RM-Q235-PL10', 'Q235钢板 δ10', 'kg', 'buy', '4.60'),
  // castings (u)
  mat('CS-HT250-ZQ250-BODY', 'HT250 减速机箱体铸件 ZQ250', 'u', 'buy', '860.00'),
  mat('CS-HT250-ZQ250-COVER', 'HT250 减速机箱盖铸件 ZQ250', 'u', 'buy', '520.00'),
  mat('CS-HT250-ZQ350-BODY', 'HT250 减速机箱体铸件 ZQ350', 'u', 'buy', '1380.00'),
  mat('CS-HT250-ZQ350-COVER', 'HT250 减速机箱盖铸件 ZQ350', 'u', 'buy', '790.00'),
  mat('CS-QT450-BRGSEAT', 'QT450 轴承座铸件', 'u', 'buy', '145.00'),
  mat('CS-HT200-ENDCAP', 'HT200 端盖铸件', 'u', 'buy', '38.50'),
  mat('CS-ZL104-FANCOVER', 'ZL104 风扇罩压铸件', 'u', 'buy', '26.00'),
  mat('CS-QT500-FLANGE', 'QT500 法兰铸件', 'u', 'buy', '88.00'),
  // bearings (u)
  mat('BRG-6205-2RS', '深沟球轴承 6205-2RS', 'u', 'buy', '12.80'),
  mat('BRG-6207-2RS', '深沟球轴承 6207-2RS', 'u', 'buy', '18.60'),
  mat('BRG-6308', '深沟球轴承 6308', 'u', 'buy', '32.40'),
  mat('BRG-30208', '圆锥滚子轴承 30208', 'u', 'buy', '41.20'),
  mat('BRG-30212', '圆锥滚子轴承 30212', 'u', 'buy', '76.50'),
  mat('BRG-32210', '圆锥滚子轴承 32210', 'u', 'buy', '68.90'),
  mat('BRG-NU210', '圆柱滚子轴承 NU210', 'u', 'buy', '95.00'),
  mat('BRG-22212', '调心滚子轴承 22212', 'u', 'buy', '188.00'),
  // seals (u)
  mat('SEAL-TC-40-62-8', '骨架油封 TC 40×62×8', 'u', 'buy', '3.20'),
  mat('SEAL-TC-60-85-10', '骨架油封 TC 60×85×10', 'u', 'buy', '5.60'),
  mat('SEAL-OR-150-3.5', 'O型密封圈 150×3.5 NBR', 'u', 'buy', '1.80'),
  mat('SEAL-OR-220-5.3', 'O型密封圈 220×5.3 NBR', 'u', 'buy', '3.10'),
  mat('SEAL-GASKET-ZQ250', '箱体密封垫 ZQ250', 'u', 'buy', '9.50'),
  mat('SEAL-GASKET-ZQ350', '箱体密封垫 ZQ350', 'u', 'buy', '13.80'),
  // fasteners (u)
  mat('FST-HEX-M8X25', '内六角圆柱头螺钉 M8×25 12.9级', 'u', 'buy', '0.42'),
  mat('FST-HEX-M10X40', '内六角圆柱头螺钉 M10×40 12.9级', 'u', 'buy', '0.86'),
  mat('FST-BOLT-M12X50', '六角头螺栓 M12×50 8.8级', 'u', 'buy', '0.95'),
  mat('FST-BOLT-M16X70', '六角头螺栓 M16×70 8.8级', 'u', 'buy', '2.10'),
  mat('FST-NUT-M12', '六角螺母 M12 8级', 'u', 'buy', '0.18'),
  mat('FST-NUT-M16', '六角螺母 M16 8级', 'u', 'buy', '0.36'),
  mat('FST-WASHER-12', '弹簧垫圈 12', 'u', 'buy', '0.05'),
  mat('FST-PIN-10X40', '圆锥销 10×40', 'u', 'buy', '0.65'),
  mat('FST-KEY-14X9X56', '平键 14×9×56', 'u', 'buy', '1.20'),
  mat('OIL-L-CKC220', '工业齿轮油 L-CKC 220', 'l', 'buy', '18.50'),
  // machined parts (u)
  mat('SH-IN-ZQ250', '输入轴 ZQ250', 'u', 'make'),
  mat('SH-MID-ZQ250', '中间轴 ZQ250', 'u', 'make'),
  mat('SH-OUT-ZQ250', '输出轴 ZQ250', 'u', 'make'),
  mat('SH-IN-ZQ350', '输入轴 ZQ350', 'u', 'make'),
  mat('SH-OUT-ZQ350', '输出轴 ZQ350', 'u', 'make'),
  mat('HS-BODY-ZQ250', '减速机箱体（精加工）ZQ250', 'u', 'make'),
  mat('HS-COVER-ZQ250', '减速机箱盖（精加工）ZQ250', 'u', 'make'),
  mat('HS-BODY-ZQ350', '减速机箱体（精加工）ZQ350', 'u', 'make'),
  mat('HS-COVER-ZQ350', '减速机箱盖（精加工）ZQ350', 'u', 'make'),
  mat('GB-Z23-M4', '齿轮坯 z23 m4', 'u', 'make'),
  mat('GB-Z87-M4', '齿轮坯 z87 m4', 'u', 'make'),
  mat('GR-Z23-M4', '主动齿轮 z23 m4（渗碳淬火）', 'u', 'make'),
  mat('GR-Z87-M4', '从动齿轮 z87 m4（渗碳淬火）', 'u', 'make'),
  // assemblies (u)
  mat('AS-GEARSET-ZQ250', '齿轮组件 ZQ250', 'u', 'make'),
  mat('AS-INSHAFT-ZQ250', '输入轴组件 ZQ250', 'u', 'make'),
  mat('AS-OUTSHAFT-ZQ250', '输出轴组件 ZQ250', 'u', 'make'),
  mat('GRD-ZQ250-40', '减速机 ZQ250-40', 'u', 'make'),
  mat('GRD-ZQ350-31.5', '减速机 ZQ350-31.5', 'u', 'make'),
];

const l = (material_code: string, quantity: string) => {
  const m = SAMPLE_MATERIALS.find((x) => x.code === material_code);
  if (!m) throw new Error(`sample BOM names an unknown material ${material_code}`);
  return { material_code, material_name: m.name, quantity, uom: m.uom };
};
const bom = (output: string, inputs: ReturnType<typeof l>[]): BomData => {
  const o = l(output, '1');
  return { code: `BOM-${output}`, name: `${o.material_name} BOM`, output_code: output, inputs, outputs: [o] };
};

/** Multi-level: 减速机 → 箱体/轴组件/齿轮组 → 轴/齿轮 → 齿轮坯 → 圆钢. */
export const SAMPLE_BOMS: BomData[] = [
  bom('GRD-ZQ250-40', [
    l('HS-BODY-ZQ250', '1'),
    l('HS-COVER-ZQ250', '1'),
    l('AS-INSHAFT-ZQ250', '1'),
    l('AS-OUTSHAFT-ZQ250', '1'),
    l('AS-GEARSET-ZQ250', '1'),
    l('SEAL-GASKET-ZQ250', '1'),
    l('FST-BOLT-M12X50', '16'),
    l('FST-NUT-M12', '16'),
    l('FST-WASHER-12', '16'),
    l('FST-PIN-10X40', '2'),
    l('OIL-L-CKC220', '6.5'),
  ]),
  bom('AS-INSHAFT-ZQ250', [l('SH-IN-ZQ250', '1'), l('BRG-6207-2RS', '2'), l('SEAL-TC-40-62-8', '1'), l('FST-KEY-14X9X56', '1')]),
  bom('AS-OUTSHAFT-ZQ250', [l('SH-OUT-ZQ250', '1'), l('BRG-30212', '2'), l('SEAL-TC-60-85-10', '1'), l('FST-KEY-14X9X56', '1')]),
  bom('AS-GEARSET-ZQ250', [l('GR-Z23-M4', '1'), l('GR-Z87-M4', '1'), l('SH-MID-ZQ250', '1'), l('BRG-30208', '2')]),
  bom('SH-IN-ZQ250', [l('RM-40CR-D60', '4.8')]),
  bom('SH-MID-ZQ250', [l('RM-40CR-D60', '6.2')]),
  bom('SH-OUT-ZQ250', [l('RM-42CRMO-D100', '14.5')]),
  bom('HS-BODY-ZQ250', [l('CS-HT250-ZQ250-BODY', '1')]),
  bom('HS-COVER-ZQ250', [l('CS-HT250-ZQ250-COVER', '1')]),
  bom('GB-Z23-M4', [l('RM-20CRMNTI-D120', '3.6')]),
  bom('GB-Z87-M4', [l('RM-20CRMNTI-D180', '21.4')]),
  bom('GR-Z23-M4', [l('GB-Z23-M4', '1')]),
  bom('GR-Z87-M4', [l('GB-Z87-M4', '1')]),
  bom('GRD-ZQ350-31.5', [
    l('HS-BODY-ZQ350', '1'),
    l('HS-COVER-ZQ350', '1'),
    l('SH-IN-ZQ350', '1'),
    l('SH-OUT-ZQ350', '1'),
    l('BRG-32210', '2'),
    l('BRG-22212', '2'),
    l('SEAL-GASKET-ZQ350', '1'),
    l('FST-BOLT-M16X70', '20'),
    l('FST-NUT-M16', '20'),
    l('OIL-L-CKC220', '11'),
  ]),
  bom('SH-IN-ZQ350', [l('RM-40CR-D90', '9.6')]),
  bom('SH-OUT-ZQ350', [l('RM-42CRMO-D100', '22.0')]),
  bom('HS-BODY-ZQ350', [l('CS-HT250-ZQ350-BODY', '1')]),
  bom('HS-COVER-ZQ350', [l('CS-HT250-ZQ350-COVER', '1')]),
];

export const SAMPLE_SUPPLIERS: SupplierData[] = [
  { code: 'SUP-001', name: '宝钢特钢有限公司' },
  { code: 'SUP-002', name: '江阴兴澄特种钢铁有限公司' },
  { code: 'SUP-003', name: '常州华锐铸造有限公司' },
  { code: 'SUP-004', name: '泊头市鑫达铸业有限公司' },
  { code: 'SUP-005', name: '瓦房店轴承集团有限责任公司' },
  { code: 'SUP-006', name: '洛阳LYC轴承有限公司' },
  { code: 'SUP-007', name: '青岛开世密封工业有限公司' },
  { code: 'SUP-008', name: '宁波东港紧固件制造有限公司' },
  { code: 'SUP-009', name: '上海高强度螺栓厂' },
  { code: 'SUP-010', name: '长城润滑油华东分公司' },
  { code: 'SUP-011', name: '无锡锡钢金属材料有限公司' },
  { code: 'SUP-012', name: '苏州精密压铸有限公司' },
];

/** Which supplier sells which material family. */
const SUPPLIER_BY_PREFIX: Array<[string, string[]]> = [
  ['RM-', ['SUP-001', 'SUP-002', 'SUP-011']],
  ['CS-', ['SUP-003', 'SUP-004', 'SUP-012']],
  ['BRG-', ['SUP-005', 'SUP-006']],
  ['SEAL-', ['SUP-007']],
  ['FST-', ['SUP-008', 'SUP-009']],
  ['OIL-', ['SUP-010']],
];

const isoDay = (base: Date, days: number) => new Date(base.getTime() + days * 86_400_000).toISOString().slice(0, 10);

export function samplePurchaseOrders(today: Date): PurchaseOrderData[] {
  const r = rng(20260301);
  const states = ['confirmed', 'confirmed', 'processing', 'processing', 'quotation', 'done', 'draft'];
  const out: PurchaseOrderData[] = [];
  for (let i = 1; i <= 30; i++) {
    const [prefix, sups] = SUPPLIER_BY_PREFIX[i % SUPPLIER_BY_PREFIX.length]!;
    const supplierCode = sups[Math.floor(r() * sups.length)];
    const supplier = SAMPLE_SUPPLIERS.find((s) => s.code === supplierCode)!;
    const candidates = SAMPLE_MATERIALS.filter((m) => m.purchasable && m.code.startsWith(prefix));
    const nLines = 1 + Math.floor(r() * Math.min(4, candidates.length));
    const picked = [...candidates].sort(() => r() - 0.5).slice(0, nLines);
    const orderedDaysAgo = 5 + Math.floor(r() * 40);
    const lines = picked.map((m, k) => {
      const qty = m.uom === 'kg' ? String(200 + Math.floor(r() * 40) * 50) : String(10 + Math.floor(r() * 30) * 10);
      return {
        line_no: k + 1,
        material_code: m.code,
        material_name: m.name,
        quantity: qty,
        unit: m.uom,
        unit_price: m.price ?? '0.00',
        delivery_date: isoDay(today, -10 + Math.floor(r() * 35)),
      };
    });
    const total = lines.reduce((s, x) => s + BigInt(x.quantity) * BigInt(x.unit_price!.replace('.', '')), 0n);
    out.push({
      number: `PO-2026-${String(i).padStart(4, '0')}`,
      state: states[i % states.length]!,
      supplier_code: supplier.code,
      supplier_name: supplier.name,
      purchase_date: isoDay(today, -orderedDaysAgo),
      delivery_date: lines.map((x) => x.delivery_date).sort()[0] ?? null,
      currency: 'CNY',
      total_amount: `${total / 100n}.${String(total % 100n).padStart(2, '0')}`,
      lines,
    });
  }
  return out;
}

export function sampleWorkOrders(today: Date): WorkOrderData[] {
  const r = rng(20260302);
  const makeable = SAMPLE_BOMS.map((b) => b.output_code!);
  const states = ['draft', 'waiting', 'waiting', 'assigned', 'running', 'running', 'running', 'done', 'done', 'cancelled'];
  const out: WorkOrderData[] = [];
  for (let i = 1; i <= 40; i++) {
    const code = makeable[Math.floor(r() * makeable.length)]!;
    const m = SAMPLE_MATERIALS.find((x) => x.code === code)!;
    const start = -15 + Math.floor(r() * 30);
    const qty = code.startsWith('GRD-') ? 2 + Math.floor(r() * 10) : 10 + Math.floor(r() * 20) * 5;
    out.push({
      number: `WO-2026-${String(i).padStart(4, '0')}`,
      state: states[i % states.length]!,
      product_code: code,
      product_name: m.name,
      quantity: String(qty),
      uom: m.uom,
      planned_start_date: isoDay(today, start),
      planned_date: isoDay(today, start + 2 + Math.floor(r() * 6)),
      bom_code: `BOM-${code}`,
      reference: null,
    });
  }
  return out;
}

/** 237 machines: the eight inspection template families plus cranes and forklifts. */
export function sampleEquipment(): EquipmentData[] {
  const r = rng(20260303);
  const groups: Array<{ category: string; prefix: string; name: string; count: number; workshops: string[]; models: string[]; hours: [number, number] }> = [
    { category: 'lathe', prefix: 'CL', name: '卧式车床', count: 60, workshops: ['机加工车间'], models: ['CA6140', 'CA6150', 'CK6150 数控车床', 'CK6163 数控车床'], hours: [8000, 52000] },
    { category: 'cnc', prefix: 'MC', name: '立式加工中心', count: 48, workshops: ['机加工车间'], models: ['VMC850', 'VMC1060', 'DMU 50', 'HMC630 卧式加工中心'], hours: [6000, 41000] },
    { category: 'injection', prefix: 'IM', name: '注塑机', count: 24, workshops: ['注塑车间'], models: ['海天 MA1600', '海天 MA2500', '伊之密 UN260'], hours: [9000, 60000] },
    { category: 'compressor', prefix: 'AC', name: '螺杆空压机', count: 12, workshops: ['动力车间'], models: ['阿特拉斯 GA37', '阿特拉斯 GA55', '复盛 SA-37A'], hours: [15000, 70000] },
    { category: 'press', prefix: 'PR', name: '开式压力机', count: 30, workshops: ['冲压车间'], models: ['J23-63', 'J23-80', 'JH21-160'], hours: [7000, 45000] },
    { category: 'boiler', prefix: 'BL', name: '燃气蒸汽锅炉', count: 3, workshops: ['动力车间'], models: ['WNS4-1.25-Q'], hours: [20000, 65000] },
    { category: 'crane', prefix: 'CR', name: '电动单梁起重机', count: 20, workshops: ['机加工车间', '装配车间', '仓储部'], models: ['LD 5t', 'LD 10t', 'QD 16/3.2t 双梁桥式起重机'], hours: [3000, 30000] },
    { category: 'forklift', prefix: 'FL', name: '内燃叉车', count: 40, workshops: ['仓储部', '装配车间'], models: ['合力 CPD30 电动', '合力 CPCD30', '杭叉 CPCD50'], hours: [2000, 18000] },
  ];
  const out: EquipmentData[] = [];
  for (const g of groups) {
    for (let i = 1; i <= g.count; i++) {
      const model = g.models[Math.floor(r() * g.models.length)]!;
      const year = 2008 + Math.floor(r() * 17);
      const month = 1 + Math.floor(r() * 12);
      const hours = g.hours[0] + Math.floor(r() * (g.hours[1] - g.hours[0]));
      out.push({
        code: `EQ-${g.prefix}-${String(i).padStart(3, '0')}`,
        name: `${g.name} ${String(i).padStart(2, '0')}#`,
        category: g.category,
        workshop: g.workshops[i % g.workshops.length]!,
        model,
        commissioned_on: `${year}-${String(month).padStart(2, '0')}-${String(1 + Math.floor(r() * 28)).padStart(2, '0')}`,
        runtime_hours: `${hours}.${Math.floor(r() * 10)}`,
      });
    }
  }
  return out;
}
