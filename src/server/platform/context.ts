// What every engine is handed: configuration, the database, a logger and a clock.
// The clock is injectable so timers and SLAs can be tested without waiting.
import type { Config } from '../config.ts';
import type { Database } from '../db/index.ts';

export interface Logger {
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
  debug(obj: unknown, msg?: string): void;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface AppContext {
  config: Config;
  db: Database;
  log: Logger;
  clock: Clock;
}

/** Who is acting, and from where: every action of a request runs as one principal. */
export interface Principal {
  kind: 'user' | 'apikey' | 'system';
  userId: string;
  username: string;
  displayName: string;
  /** Role codes, e.g. `admin`, `auditor`, `quality_engineer`. */
  roles: string[];
  departmentIds: string[];
  primaryDepartmentId: string | null;
  /** API-key scopes; null means the full rights of the user. */
  scopes: string[] | null;
  sessionId?: string;
  apiKeyId?: string;
}

export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export interface Actor {
  principal: Principal;
  meta: RequestMeta;
}

export const SYSTEM_USER_ID = '00000000-0000-0000-0000-000000000000';

export const systemActor: Actor = {
  principal: {
    kind: 'system',
    userId: SYSTEM_USER_ID,
    username: 'system',
    displayName: 'System',
    roles: ['admin'],
    departmentIds: [],
    primaryDepartmentId: null,
    scopes: null,
  },
  meta: { ip: null, userAgent: 'trellis', requestId: null },
};
