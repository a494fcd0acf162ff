// The meter register and the minute-level energy ledger.
import type { Migration } from '../db/index.ts';

export const iotMigrations: Migration[] = [
  {
    id: 'iot.001-meters-and-readings',
    up: `
create table iot_meters (
  id uuid primary key default gen_random_uuid(),
  -- The meter's code as it appears in the MQTT topic: trellis/meters/<code>/reading.
  code text not null unique check (code ~ '^[A-Za-z0-9_.-]{1,64}$'),
  name text not null default '',
  kind text not null check (kind in ('electricity', 'water', 'gas')),
  -- kWh, m3 ...
  unit text not null,
  -- cumulative: the value is the meter's register (consumption = difference);
  -- interval: the value is what was used since the previous reading (consumption = sum).
  reading_type text not null default 'cumulative' check (reading_type in ('cumulative', 'interval')),
  equipment_code text,
  cost_center text,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index iot_meters_equipment on iot_meters(equipment_code);
create index iot_meters_cost_center on iot_meters(cost_center);

-- One row per meter and minute (UTC, truncated to the minute): a message delivered twice,
-- or a reading sent twice in the same minute, is stored once (the first wins).
create table iot_meter_readings (
  meter_id uuid not null references iot_meters(id),
  ts timestamptz not null,
  value numeric not null,
  quality text not null default 'good' check (quality in ('good', 'uncertain', 'bad')),
  received_at timestamptz not null default now(),
  primary key (meter_id, ts)
);
`,
  },
];
