// Every engine, in dependency order. Migrations run and bootstraps happen in this order.
import type { Engine } from './engine.ts';
import { platformEngine } from './platform/index.ts';
import { modelingEngine } from './modeling/index.ts';
import { recordsEngine } from './records/index.ts';
import { excelEngine } from './records/excel/index.ts';
import { workflowEngine } from './workflow/index.ts';
import { integrationEngine } from './integration/index.ts';
import { filesEngine } from './files/index.ts';
import { viewsEngine } from './views/index.ts';
import { iotEngine } from './iot/index.ts';
import { dashboardsEngine } from './dashboards/index.ts';
import { catalogEngine } from './catalog/index.ts';
import { notifyEngine } from './notify/index.ts';

export const engines: Engine[] = [platformEngine, modelingEngine, recordsEngine, excelEngine, workflowEngine, integrationEngine, notifyEngine, filesEngine, viewsEngine, iotEngine, catalogEngine, dashboardsEngine];
