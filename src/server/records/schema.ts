// The published definition of one entity, as the records engine needs it: fields by name, the
// child entities behind child_table fields, the table name. Built from modeling's cached
// published app; a missing app or entity is a 404 the caller can act on.
import { entityTable, type AppDef, type EntityDef, type FieldDef } from '../../shared/definition.ts';
import type { Sql } from '../db/index.ts';
import { getPublishedApp } from '../modeling/index.ts';
import { notFound } from '../platform/index.ts';

export interface EntitySchema {
  app: AppDef;
  appVersion: number;
  entity: EntityDef;
  table: string;
  fields: Map<string, FieldDef>;
  /** child_table field name → child entity schema. */
  children: Map<string, EntitySchema>;
}

const cache = new WeakMap<EntityDef, EntitySchema>();

function build(app: AppDef, appVersion: number, entity: EntityDef, entities: Map<string, EntityDef>, depth = 0): EntitySchema {
  const hit = cache.get(entity);
  if (hit && hit.app === app) return hit;
  const children = new Map<string, EntitySchema>();
  const schema: EntitySchema = {
    app,
    appVersion,
    entity,
    table: entityTable(app.name, entity.name),
    fields: new Map(entity.fields.map((f) => [f.name, f])),
    children,
  };
  if (depth < 3) {
    for (const f of entity.fields) {
      if (f.type !== 'child_table' || !f.target) continue;
      const child = entities.get(f.target);
      if (child) children.set(f.name, build(app, appVersion, child, entities, depth + 1));
    }
  }
  cache.set(entity, schema);
  return schema;
}

/** The published schema of `app`/`entity`; 404 when either is unknown or the entity is a child. */
export async function loadEntity(sql: Sql, appName: string, entityName: string, opts: { allowChild?: boolean } = {}): Promise<EntitySchema> {
  const pub = await getPublishedApp(sql, appName);
  if (!pub) throw notFound(`There is no published app "${appName}". Publish it first, or check the name.`);
  const entity = pub.entities.get(entityName);
  if (!entity) {
    throw notFound(`The app "${appName}" has no entity "${entityName}". Its entities: ${[...pub.entities.keys()].join(', ')}.`);
  }
  if (entity.child && !opts.allowChild) {
    throw notFound(`"${entityName}" is a child table: its rows are read and written through the parent record's child-table field.`);
  }
  return build(pub.def, pub.version, entity, pub.entities);
}
