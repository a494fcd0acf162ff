// The foot of a form in a drawer: what went wrong, then Cancel and the main action. The row stays
// in view while a long form scrolls, so on a phone the save button never scrolls away.
import { Alert, Button } from 'antd';
import type { ReactNode } from 'react';

export function DrawerFormActions({ error, testId, cancelLabel, onCancel, children }: {
  /** The problem to show above the buttons (null: none). */
  error: string | null;
  /** Prefix of the alert's test id: `<testId>-error`. */
  testId: string;
  cancelLabel: string;
  onCancel: () => void;
  /** The main button (save, send…). */
  children: ReactNode;
}) {
  return (
    <>
      {error ? <Alert type="error" showIcon title={error} data-testid={`${testId}-error`} /> : null}
      <div className="drawer-form-actions">
        <Button onClick={onCancel}>{cancelLabel}</Button>
        {children}
      </div>
    </>
  );
}
