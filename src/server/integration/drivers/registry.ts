// Drivers by kind. Each driver module registers itself when imported (drivers/index.ts imports them all).
import type { Driver } from '../types.ts';

const drivers = new Map<string, Driver<any, any>>();

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
