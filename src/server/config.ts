// Configuration comes from the environment only, read once at start-up and validated,
// so a typo in a variable is a clear start-up error instead of a surprise later.
import path from 'node:path';
import { z } from 'zod';

const boolish = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', ''])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  TRELLIS_DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z.string().optional(),
  TRELLIS_ADMIN_PASSWORD: z.string().optional(),
  TRELLIS_SKIP_DEMO: boolish.default(false),
  TRELLIS_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TRELLIS_TLS_CERT: z.string().optional(),
  TRELLIS_TLS_KEY: z.string().optional(),
  TRELLIS_TLS_CA: z.string().optional(),
  TRELLIS_TLS_CLIENT_CERT: z.enum(['off', 'request', 'require']).default('off'),
  TRELLIS_TIMEZONE: z.string().default('Asia/Shanghai'),
  TRELLIS_SESSION_TTL_HOURS: z.coerce.number().positive().default(12),
  TRELLIS_SECURE_COOKIES: boolish.optional(),
  TRELLIS_BODY_LIMIT: z.coerce.number().int().positive().default(1_048_576),
  TRELLIS_SECRET_KEY: z.string().optional(),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  adminPassword: string | undefined;
  skipDemo: boolean;
  logLevel: string;
  tls: { cert: string; key: string; ca: string | undefined; clientCert: 'off' | 'request' | 'require' } | undefined;
  timezone: string;
  sessionTtlMs: number;
  secureCookies: boolean;
  bodyLimit: number;
  /** Key material for encrypting secrets at rest (connector credentials); derived per install when unset. */
  secretKey: string | undefined;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration in environment variables:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if ((e.TRELLIS_TLS_CERT && !e.TRELLIS_TLS_KEY) || (!e.TRELLIS_TLS_CERT && e.TRELLIS_TLS_KEY)) {
    throw new ConfigError('TRELLIS_TLS_CERT and TRELLIS_TLS_KEY must be set together (paths to PEM files).');
  }
  if (e.TRELLIS_TLS_CLIENT_CERT !== 'off' && !e.TRELLIS_TLS_CA) {
    throw new ConfigError('TRELLIS_TLS_CLIENT_CERT needs TRELLIS_TLS_CA (PEM of the CA that signs client certificates).');
  }
  const tls = e.TRELLIS_TLS_CERT
    ? { cert: e.TRELLIS_TLS_CERT, key: e.TRELLIS_TLS_KEY!, ca: e.TRELLIS_TLS_CA, clientCert: e.TRELLIS_TLS_CLIENT_CERT }
    : undefined;
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: path.resolve(e.TRELLIS_DATA_DIR),
    databaseUrl: e.DATABASE_URL || undefined,
    adminPassword: e.TRELLIS_ADMIN_PASSWORD || undefined,
    skipDemo: e.TRELLIS_SKIP_DEMO,
    logLevel: e.TRELLIS_LOG_LEVEL,
    tls,
    timezone: e.TRELLIS_TIMEZONE,
    sessionTtlMs: e.TRELLIS_SESSION_TTL_HOURS * 3600_000,
    secureCookies: e.TRELLIS_SECURE_COOKIES ?? Boolean(tls),
    bodyLimit: e.TRELLIS_BODY_LIMIT,
    secretKey: e.TRELLIS_SECRET_KEY,
  };
}
