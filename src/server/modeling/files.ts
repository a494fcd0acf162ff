// Definitions as files: YAML or JSON, so apps can live in git and move between installations.
import YAML from 'yaml';
import type { AppDef } from '../../shared/definition.ts';

export type DefinitionFormat = 'yaml' | 'json';

export class DefinitionParseError extends Error {}

export function formatOfPath(file: string): DefinitionFormat {
  return /\.json$/i.test(file) ? 'json' : 'yaml';
}

/** Parses a definition file's text. YAML is a superset of JSON, but JSON files get JSON's errors. */
export function parseDefinition(text: string, format: DefinitionFormat): unknown {
  if (format === 'json') {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new DefinitionParseError(`not valid JSON: ${(err as Error).message}`);
    }
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) throw new DefinitionParseError(`not valid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
  return doc.toJS({ maxAliasCount: 100 });
}

/** Serialises a definition, keys in the order the definition has them. */
export function serializeDefinition(def: AppDef, format: DefinitionFormat): string {
  if (format === 'json') return `${JSON.stringify(def, null, 2)}\n`;
  return YAML.stringify(def, { lineWidth: 0, aliasDuplicateObjects: false });
}
