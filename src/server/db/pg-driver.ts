// Two costs of node-postgres 8 that showed up in the approval cycle's CPU profile (bench
// workflow-cycle, BENCH_PROFILE): ~15 % of the Node process's JavaScript time went to
// building result rows and copying query configs, not to Trellis.
//
// 1. Every answer carries a RowDescription, and `Result.addFields` turns it into a row
//    template on a null-prototype object — a dictionary-mode object in V8, so every row copied
//    from it is a slow copy (measured: 20 µs for one 47-column row, 9 µs with a plain object).
//    Here the template is a plain object (unless a column is literally named `__proto__`), and
//    for a prepared statement the parsers and a row builder are kept per statement name, reused
//    only while the columns' names, types and formats are the same. The builder is one object
//    literal per shape, compiled once (`new Function` over the JSON-quoted column names): a row
//    is then built at one monomorphic site instead of a copy plus one keyed store per column.
// 2. `client.query({ name, text, values })` clones the config object with property
//    descriptors on every call. `submitQuery` builds the Query itself (text + values, then the
//    name), which skips the clone; the answer is the same QueryResult.
//
// Both touch driver internals, so they are applied only to the shapes this file knows
// (checked at load), and test/db-pg-driver.test.ts compares their rows with the driver's own.
import { createRequire } from 'node:module';
import pg from 'pg';

interface FieldDescription {
  name: string;
  dataTypeID: number;
  format?: string;
}
type Parser = (value: string) => unknown;
type RowBuilder = (parsers: Parser[], values: Array<string | null>) => Record<string, unknown>;
interface ResultInternals {
  fields: FieldDescription[];
  /** Set by cachedRowDescription for a prepared statement's known shape. */
  _rowBuilder?: RowBuilder;
  parseRow(values: Array<string | null>): Record<string, unknown>;
  _parsers?: Parser[];
  _types?: { getTypeParser(oid: number, format: string): Parser };
  _prebuiltEmptyResultObject: Record<string, unknown>;
  addFields(fields: FieldDescription[]): void;
}
interface QueryInternals {
  name?: string;
  _result: ResultInternals;
  _accumulateRows: boolean;
  callback?: unknown;
  _checkForMultirow(): void;
  listeners(event: string): unknown[];
  handleRowDescription(msg: { fields: FieldDescription[] }): void;
}

const require = createRequire(import.meta.url);
const ResultClass = require('pg/lib/result.js') as { prototype: ResultInternals };
const QueryClass = pg.Query as unknown as { prototype: QueryInternals; new (text: string, values: unknown[] | undefined, callback: (err: Error | null, res: pg.QueryResult) => void): pg.Query & { name?: string } };
const originalAddFields = ResultClass.prototype.addFields;
const originalParseRow = ResultClass.prototype.parseRow;
const driverShapeKnown = typeof originalAddFields === 'function' && typeof originalParseRow === 'function' && typeof QueryClass.prototype.handleRowDescription === 'function' && typeof QueryClass.prototype._checkForMultirow === 'function';

function typeParser(result: ResultInternals, d: FieldDescription): Parser {
  const format = d.format || 'text';
  return result._types ? result._types.getTypeParser(d.dataTypeID, format) : (pg.types.getTypeParser as (oid: number, format: string) => Parser)(d.dataTypeID, format);
}

function fastAddFields(this: ResultInternals, fields: FieldDescription[]): void {
  const template: Record<string, unknown> = {};
  for (const d of fields) {
    if (d.name === '__proto__') return originalAddFields.call(this, fields);
    template[d.name] = null;
  }
  this.fields = fields;
  if (fields.length) this._parsers = fields.map((d) => typeParser(this, d));
  this._prebuiltEmptyResultObject = template;
}

interface Shape {
  fields: FieldDescription[];
  parsers: Parser[] | undefined;
  template: Record<string, unknown>;
  build: RowBuilder | undefined;
}

/** One object literal for the shape; none when a name could not be a plain literal key or a format is binary. */
function rowBuilder(fields: FieldDescription[]): RowBuilder | undefined {
  if (fields.length === 0 || fields.length > 200) return undefined;
  const props: string[] = [];
  for (let i = 0; i < fields.length; i++) {
    const d = fields[i]!;
    if (d.name === '__proto__' || (d.format && d.format !== 'text')) return undefined;
    props.push(`${JSON.stringify(d.name)}: v[${i}] === null ? null : p[${i}](v[${i}])`);
  }
  return new Function('p', 'v', `return { ${props.join(', ')} };`) as RowBuilder;
}

function fastParseRow(this: ResultInternals, values: Array<string | null>): Record<string, unknown> {
  const build = this._rowBuilder;
  if (build && values.length === this.fields.length) return build(this._parsers!, values);
  return originalParseRow.call(this, values);
}
/**
 * Per connection's type parsers (each pooled client has its own) and prepared statement name:
 * the last row shape that statement answered with. Bounded like the statement names.
 */
const shapesByTypes = new WeakMap<object, Map<string, Shape>>();

function sameShape(a: FieldDescription[], b: FieldDescription[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (x.name !== y.name || x.dataTypeID !== y.dataTypeID || (x.format || 'text') !== (y.format || 'text')) return false;
  }
  return true;
}

function cachedRowDescription(this: QueryInternals, msg: { fields: FieldDescription[] }): void {
  this._checkForMultirow();
  const result = this._result;
  let shapes: Map<string, Shape> | undefined;
  if (this.name && result._types) {
    shapes = shapesByTypes.get(result._types);
    if (!shapes) shapesByTypes.set(result._types, (shapes = new Map()));
  }
  const known = shapes?.get(this.name!);
  if (known && sameShape(known.fields, msg.fields)) {
    // the known descriptions: their names are the strings already used as property keys
    result.fields = known.fields;
    if (known.parsers) result._parsers = known.parsers;
    result._prebuiltEmptyResultObject = known.template;
    result._rowBuilder = known.build;
  } else {
    result.addFields(msg.fields);
    result._rowBuilder = undefined;
    if (shapes) {
      if (shapes.size >= 1024) shapes.clear();
      shapes.set(this.name!, { fields: msg.fields, parsers: result._parsers, template: result._prebuiltEmptyResultObject, build: result._parsers ? rowBuilder(msg.fields) : undefined });
    }
  }
  this._accumulateRows = Boolean(this.callback) || !this.listeners('row').length;
}

if (driverShapeKnown) {
  ResultClass.prototype.addFields = fastAddFields;
  ResultClass.prototype.parseRow = fastParseRow;
  QueryClass.prototype.handleRowDescription = cachedRowDescription;
}

/**
 * `client.query({ name, text, values })` without the driver's per-call config clone. `values`
 * must already be prepared (`prepareValue`), as db/postgres.ts does before anything is sent.
 */
export function submitQuery(client: pg.PoolClient, text: string, values: unknown[] | undefined, name: string | undefined): Promise<pg.QueryResult> {
  if (!driverShapeKnown) return client.query(name ? { name, text, values } : { text, values });
  return new Promise((resolve, reject) => {
    const query = new QueryClass(text, values, (err, res) => (err ? reject(err) : resolve(res)));
    if (name) query.name = name;
    void client.query(query as unknown as pg.QueryConfig); // a Query handed over answers through its callback
  });
}
