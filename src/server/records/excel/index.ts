// Spreadsheet import and export for the records engine (issue 3 item 7). Other folders import
// only this file.
//
//   previewImport(ctx, actor, app, entity, bytes, opts)  → headers, samples, suggested mapping
//   importRecords(ctx, actor, app, entity, bytes, opts)  → per-row report (one transaction)
//   exportRecords(ctx, actor, app, entity, opts)         → a streamed .xlsx / .csv of the list
//   excelRoutes / excelEngine                            → the HTTP API (see routes.ts)
//
// Formats: .xlsx (Office Open XML) and .csv (UTF-8 with or without BOM, GBK/GB18030, UTF-16;
// comma, semicolon or tab). Old .xls files are refused with 415 and a hint to save as .xlsx.
import type { Engine } from '../../engine.ts';
import { excelRoutes } from './routes.ts';

export { excelRoutes, XLSX_TYPE } from './routes.ts';
export {
  previewImport,
  importRecords,
  IMPORT_MAX_BYTES,
  IMPORT_MAX_ROWS,
  type ImportOptions,
  type FileOptions,
  type ImportMode,
  type ImportReport,
  type RowReport,
  type RowError,
  type PreviewResult,
} from './import.ts';
export { exportRecords, type ExportOptions, type ExportFormat, type ExportLang, type ExportStream } from './export.ts';
export { readSpreadsheet, type SheetData, type Cell, type Column } from './read.ts';
export { suggestMapping, type Mapping } from './mapping.ts';
export { IMPORTABLE_TYPES } from './convert.ts';

/** Registered after the records engine: its routes sit next to the records API. */
export const excelEngine: Engine = { name: 'excel', routes: excelRoutes };
