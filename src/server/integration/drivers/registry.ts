// Drivers by kind. Each driver module registers itself when imported (drivers/index.ts imports them all).
import { z } from 'zod';
import type { Driver } from '../types.ts';
import type { DriverInfo, JsonSchema } from '../../../shared/integration-api.ts';

const drivers = new Map<string, Driver<any, any>>();
const infos = new Map<string, DriverInfo>();

export function registerDriver(driver: Driver<any, any>): void {
  if (drivers.has(driver.kind)) throw new Error(`integration driver "${driver.kind}" registered twice`);
  drivers.set(driver.kind, driver);
}

export function getDriver(kind: string): Driver<any, any> | undefined {
  return drivers.get(kind);
}

export function driverKinds(): string[] {
  return [...drivers.keys()].sort();
}

/**
 * A driver's zod schema as JSON Schema, input side (fields with a default are not required, and
 * the default is stated). Refinements JSON Schema cannot say (JSONata parses, an absolute path)
 * are left out: the server's zod check stays the one that decides.
 */
export function driverJsonSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

/** What GET /integration/drivers tells about one driver; computed once per driver. */
export function driverInfo(driver: Driver<any, any>): DriverInfo {
  let info = infos.get(driver.kind);
  if (!info) {
    info = {
      kind: driver.kind,
      label: driver.label,
      destination: Boolean(driver.openDestination),
      source: Boolean(driver.openSource),
      secrets: Boolean(driver.secretSchema),
      configSchema: driverJsonSchema(driver.configSchema),
      secretSchema: driver.secretSchema ? driverJsonSchema(driver.secretSchema) : null,
    };
    infos.set(driver.kind, info);
  }
  return info;
}
