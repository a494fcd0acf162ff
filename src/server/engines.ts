// Every engine, in dependency order. Migrations run and bootstraps happen in this order.
import type { Engine } from './engine.ts';
import { platformEngine } from './platform/index.ts';

export const engines: Engine[] = [platformEngine];
