// A whole Trellis on a test database, driven with app.inject (no port needed).
import pino from 'pino';
import { loadConfig } from '../../src/server/config.ts';
import { createTrellis, type Trellis } from '../../src/server/main.ts';
import type { Clock } from '../../src/server/platform/context.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export const TEST_ADMIN_PASSWORD = 'Admin-Pass-2026!';

export interface TestTrellis extends Trellis {
  testDb: TestDatabase;
  /** Closes Trellis and drops the test database. */
  destroy(): Promise<void>;
}

export async function createTestTrellis(opts: { seedDemo?: boolean; clock?: Clock; env?: Record<string, string> } = {}): Promise<TestTrellis> {
  const testDb = await createTestDatabase();
  const config = loadConfig({
    TRELLIS_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
    TRELLIS_LOG_LEVEL: 'silent',
    TRELLIS_DATA_DIR: '/nonexistent-test-data-dir',
    ...opts.env,
  });
  const trellis = await createTrellis(config, {
    db: testDb.db,
    seedDemo: opts.seedDemo ?? false,
    clock: opts.clock,
    announce: () => {},
    logger: pino({ level: 'silent' }),
  });
  return {
    ...trellis,
    testDb,
    async destroy() {
      await trellis.close();
      await testDb.drop();
    },
  };
}
