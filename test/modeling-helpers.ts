// Small builders for app definitions in the modeling tests.
import type { AppDef, EntityDef, FieldDef } from '../src/shared/definition.ts';

export const label = (zh: string) => ({ zh });

export function field(name: string, type: FieldDef['type'], extra: Partial<FieldDef> = {}): FieldDef {
  const f: FieldDef = { name, type, label: label(name), ...extra };
  if ((type === 'select' || type === 'multi_select') && !f.options) f.options = [{ value: 'a', label: label('A') }, { value: 'b', label: label('B') }];
  return f;
}

export function entity(name: string, fields: FieldDef[], extra: Partial<EntityDef> = {}): EntityDef {
  return { name, label: label(name), fields, ...extra };
}

export function app(name: string, entities: EntityDef[], extra: Partial<AppDef> = {}): AppDef {
  return { name, label: label(name), entities, ...extra };
}

/** A deep copy to edit. */
export const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
