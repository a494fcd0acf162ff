// In-process subscribers (automations, workflow triggers) get their events through the same
// reliable path as external destinations: the relay creates a delivery row per event × subscriber,
// the worker runs the handler in a transaction that also marks the delivery succeeded, so the
// handler's database effect commits exactly once; a failure is retried with backoff like any delivery.
import type { Tx } from '../db/index.ts';
import type { CloudEvent } from '../platform/events/index.ts';
import { matchesPattern } from './flows.ts';

export type SubscriberHandler = (tx: Tx, event: CloudEvent) => Promise<void>;

export interface Subscriber {
  name: string;
  typePattern: string;
  handler: SubscriberHandler;
  maxAttempts: number;
  concurrency: number;
}

const subscribers = new Map<string, Subscriber>();

/** Thrown by a handler for an event it can never process: the delivery goes straight to dead. */
export class PermanentSubscriberError extends Error {}

/**
 * Registers a handler for events whose type matches `typePattern` (glob, `*` = anything).
 * Register at module load, before the engine starts; events committed from then on are delivered.
 * The name is the subscriber's identity in delivery rows: keep it stable.
 */
export function subscribe(name: string, typePattern: string, handler: SubscriberHandler, opts: { maxAttempts?: number; concurrency?: number } = {}): () => void {
  if (!/^[a-z][a-z0-9_.:-]{0,99}$/.test(name)) throw new Error(`Invalid subscriber name ${JSON.stringify(name)}`);
  if (subscribers.has(name)) throw new Error(`Subscriber "${name}" is registered twice`);
  subscribers.set(name, { name, typePattern, handler, maxAttempts: opts.maxAttempts ?? 10, concurrency: opts.concurrency ?? 1 });
  return () => {
    subscribers.delete(name);
  };
}

export function getSubscriber(name: string): Subscriber | undefined {
  return subscribers.get(name);
}

export function subscribersFor(event: CloudEvent): Subscriber[] {
  return [...subscribers.values()].filter((s) => matchesPattern(s.typePattern, event.type));
}

export function allSubscribers(): Subscriber[] {
  return [...subscribers.values()];
}
