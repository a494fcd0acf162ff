import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/server/db/index.ts';
import { recordsMigrations } from '../src/server/records/migrations.ts';
import { dateParts, formatName, nextInSeries, parseNamingPattern, seriesPrefix } from '../src/server/records/naming.ts';
import { createTestDatabase, testTarget, type TestDatabase } from './helpers/db.ts';

describe('naming series patterns', () => {
  it('formats date parts in the plant time zone', () => {
    // 17:30 UTC on 31 Dec is already 1 Jan in Shanghai (UTC+8).
    const at = new Date('2025-12-31T17:30:00Z');
    expect(dateParts(at, 'Asia/Shanghai')).toEqual({ YYYY: '2026', YY: '26', MM: '01', DD: '01' });
    expect(dateParts(at, 'UTC')).toEqual({ YYYY: '2025', YY: '25', MM: '12', DD: '31' });
    expect(formatName('ECN-{YYYY}-{####}', at, 'Asia/Shanghai', 7)).toBe('ECN-2026-0007');
    expect(formatName('QC{YY}{MM}{DD}-{###}', at, 'Asia/Shanghai', 1234)).toBe('QC260101-1234');
    expect(seriesPrefix('ECN-{YYYY}-{####}', at, 'Asia/Shanghai')).toBe('ECN-2026-{#}');
  });

  it('refuses patterns without exactly one counter or with unknown tokens', () => {
    expect(() => parseNamingPattern('ECN-{YYYY}')).toThrow(/exactly one counter/);
    expect(() => parseNamingPattern('ECN-{###}-{###}')).toThrow(/exactly one counter/);
    expect(() => parseNamingPattern('ECN-{HH}-{###}')).toThrow(/Unknown token \{HH\}/);
    expect(parseNamingPattern('EQ-{#####}').digits).toBe(5);
  });
});

describe(`naming series counters (${testTarget})`, () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
    await migrate(t.db, recordsMigrations);
  });
  afterAll(async () => {
    await t.drop();
  });

  const at = new Date('2026-03-01T02:00:00Z');

  it('hands out 1..50 exactly under 50 concurrent transactions', async () => {
    const names = await Promise.all(
      Array.from({ length: 50 }, () => t.db.tx((tx) => nextInSeries(tx, 'x/ecn/name', 'ECN-{YYYY}-{####}', at, 'Asia/Shanghai'))),
    );
    const numbers = names.map((n) => n.n).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(names.map((n) => n.name)).size).toBe(50);
    expect(names.map((n) => n.name)).toContain('ECN-2026-0050');
  });

  it('does not consume a number when the transaction rolls back (gap-free)', async () => {
    await expect(
      t.db.tx(async (tx) => {
        await nextInSeries(tx, 'x/gap/name', 'G-{###}', at, 'Asia/Shanghai');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const r = await t.db.tx((tx) => nextInSeries(tx, 'x/gap/name', 'G-{###}', at, 'Asia/Shanghai'));
    expect(r.name).toBe('G-001');
  });

  it('restarts every period and keeps series apart', async () => {
    const next = (scope: string, when: Date) => t.db.tx((tx) => nextInSeries(tx, scope, 'Y-{YYYY}-{##}', when, 'Asia/Shanghai'));
    expect((await next('x/y/name', new Date('2026-06-01T00:00:00Z'))).name).toBe('Y-2026-01');
    expect((await next('x/y/name', new Date('2026-06-02T00:00:00Z'))).name).toBe('Y-2026-02');
    expect((await next('x/y/name', new Date('2027-01-01T00:00:00Z'))).name).toBe('Y-2027-01');
    expect((await next('x/other/name', new Date('2026-06-01T00:00:00Z'))).name).toBe('Y-2026-01');
  });
});
