// Shared transaction bookkeeping: after-commit hooks, run only when the commit succeeded.
import type { Sql, Tx } from './types.ts';

export function makeTx(sql: Sql): { tx: Tx; hooks: Array<() => void | Promise<void>> } {
  const hooks: Array<() => void | Promise<void>> = [];
  const tx: Tx = {
    query: (text, params) => sql.query(text, params),
    exec: (script) => sql.exec(script),
    afterCommit: (fn) => {
      hooks.push(fn);
    },
  };
  return { tx, hooks };
}

export async function runHooks(hooks: Array<() => void | Promise<void>>, onError: (err: unknown) => void): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook();
    } catch (err) {
      onError(err);
    }
  }
}
