// Meters and their readings: the register, and the ledger aggregated per minute, hour or day
// (buckets in the plant's time zone). Values are exact decimal strings.
import { z } from 'zod';
import type { Sql } from '../db/index.ts';
import { appendAudit, conflict, notFound, type Actor, type AppContext } from '../platform/index.ts';

export const METER_KINDS = ['electricity', 'water', 'gas'] as const;

export const MeterInput = z.strictObject({
  code: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only (at most 64); it is the meter\'s segment of the MQTT topic'),
  name: z.string().max(200).default(''),
  kind: z.enum(METER_KINDS),
  unit: z.string().min(1).max(20),
  readingType: z.enum(['cumulative', 'interval']).default('cumulative'),
  equipmentCode: z.string().min(1).max(100).nullable().default(null),
  costCenter: z.string().min(1).max(100).nullable().default(null),
  active: z.boolean().default(true),
});
export type MeterInput = z.infer<typeof MeterInput>;

export interface Meter {
  id: string;
  code: string;
  name: string;
  kind: (typeof METER_KINDS)[number];
  unit: string;
  readingType: 'cumulative' | 'interval';
  equipmentCode: string | null;
  costCenter: string | null;
  active: boolean;
  lastReadingAt: string | null;
}

const METER_COLUMNS = `m.id, m.code, m.name, m.kind, m.unit, m.reading_type, m.equipment_code, m.cost_center, m.active,
  (select max(r.ts) from iot_meter_readings r where r.meter_id = m.id) as last_reading_at`;

function toMeter(r: Record<string, any>): Meter {
  return {
    id: r.id,
    code: r.code,
    name: r.name,
    kind: r.kind,
    unit: r.unit,
    readingType: r.reading_type,
    equipmentCode: r.equipment_code,
    costCenter: r.cost_center,
    active: r.active,
    lastReadingAt: r.last_reading_at ? new Date(r.last_reading_at).toISOString() : null,
  };
}

export interface MeterFilter {
  kind?: string | undefined;
  equipmentCode?: string | undefined;
  costCenter?: string | undefined;
}

export async function listMeters(sql: Sql, f: MeterFilter = {}): Promise<Meter[]> {
  const r = await sql.query(
    `select ${METER_COLUMNS} from iot_meters m
      where ($1::text is null or m.kind = $1) and ($2::text is null or m.equipment_code = $2) and ($3::text is null or m.cost_center = $3)
      order by m.code`,
    [f.kind ?? null, f.equipmentCode ?? null, f.costCenter ?? null],
  );
  return r.rows.map(toMeter);
}

export async function getMeter(sql: Sql, code: string): Promise<Meter> {
  const r = await sql.query(`select ${METER_COLUMNS} from iot_meters m where m.code = $1`, [code]);
  if (!r.rows[0]) throw notFound(`No meter with code "${code}". 没有编码为 "${code}" 的仪表；先在仪表登记中添加它。`);
  return toMeter(r.rows[0]);
}

/** Registers a meter (one transaction, audited). */
export async function createMeter(ctx: AppContext, actor: Actor, input: MeterInput): Promise<Meter> {
  return ctx.db.tx(async (tx) => {
    const r = await tx.query<{ id: string }>(
      `insert into iot_meters (code, name, kind, unit, reading_type, equipment_code, cost_center, active)
       values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (code) do nothing returning id`,
      [input.code, input.name, input.kind, input.unit, input.readingType, input.equipmentCode, input.costCenter, input.active],
    );
    if (!r.rows[0]) throw conflict(`A meter with code "${input.code}" already exists. 仪表编码 "${input.code}" 已存在。`);
    await appendAudit(tx, actor, { action: 'iot.meter.create', targetType: 'iot_meter', targetId: r.rows[0].id, detail: { ...input } });
    return getMeter(tx, input.code);
  });
}

export const INTERVALS = ['minute', 'hour', 'day'] as const;
export type Interval = (typeof INTERVALS)[number];

export interface ReadingBucket {
  /** Start of the bucket (UTC, ISO); day buckets start at midnight plant time. */
  start: string;
  readings: number;
  first: string;
  last: string;
  min: string;
  max: string;
  /** Used in the bucket: difference of the register (cumulative meters) or the sum (interval meters). */
  consumption: string;
  /** Readings of quality other than good in the bucket. */
  notGood: number;
}

/**
 * Readings of one meter over [from, to), aggregated per interval. For a cumulative meter the
 * consumption of a bucket is its last register value minus the previous bucket's last (the first
 * bucket is measured from the last reading before `from`, or from its own first reading).
 */
export async function meterReadings(sql: Sql, meter: Meter, from: Date, to: Date, interval: Interval, timezone: string): Promise<ReadingBucket[]> {
  const r = await sql.query(
    `with agg as (
       select date_trunc($2, ts, $5) as bucket, count(*)::int as n,
              min(value) as min, max(value) as max,
              (array_agg(value order by ts))[1] as first,
              (array_agg(value order by ts desc))[1] as last,
              sum(value) as total,
              count(*) filter (where quality <> 'good')::int as not_good
         from iot_meter_readings
        where meter_id = $1 and ts >= $3 and ts < $4
        group by 1
     ), before as (
       select value from iot_meter_readings where meter_id = $1 and ts < $3 order by ts desc limit 1
     )
     select bucket, n, min::text as min, max::text as max, first::text as first, last::text as last, not_good,
            (case when $6 = 'interval' then total
                  else last - coalesce(lag(last) over (order by bucket), (select value from before), first) end)::text as consumption
       from agg order by bucket`,
    [meter.id, interval, from, to, timezone, meter.readingType],
  );
  return r.rows.map((x) => ({
    start: new Date(x.bucket).toISOString(),
    readings: x.n,
    first: x.first,
    last: x.last,
    min: x.min,
    max: x.max,
    consumption: x.consumption,
    notGood: x.not_good,
  }));
}
