// Collects query parameters: every value from a user becomes `$n`, never SQL text.

export class Params {
  readonly values: unknown[];
  /** Pass values already in the statement (e.g. `new Params([id])` for `$1`) to continue numbering after them. */
  constructor(values: unknown[] = []) {
    this.values = values;
  }
  /** Adds a value and returns its placeholder, e.g. `$3`. Add a cast at the use site (`$3::numeric`). */
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}
