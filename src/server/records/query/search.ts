// Full-text search over the `search_text` column the records engine maintains (the searchable
// fields joined). Chinese has no word boundaries, so every whitespace-separated term must occur
// as a substring; ASCII letters match either case (the same rule as the `like` operator).
import { asciiLower } from '../../../shared/condition-eval.ts';
import { ident } from '../../db/index.ts';
import { validationFailed } from '../../platform/errors.ts';
import { checkAlias, escapeLike } from './condition.ts';
import type { QueryScope } from './index.ts';
import type { Params } from './params.ts';

export const MAX_SEARCH_TERMS = 10;
export const MAX_TERM_LENGTH = 100;

/**
 * Full-text search over `<alias>.search_text`: the text is split on whitespace into terms; every
 * term must occur (AND) as a substring, ASCII-case-insensitive (works for Chinese, which has no
 * word boundaries). LIKE metacharacters are escaped. Returns null when the text has no terms.
 * More than 10 terms or a term over 100 characters → 400.
 */
export function compileSearch(text: string, scope: QueryScope, params: Params): string | null {
  const alias = checkAlias(scope.alias);
  if (typeof text !== 'string') throw validationFailed('The search must be text.', [{ path: 'q', message: 'must be text' }]);
  const terms = text.split(/\s+/u).filter(Boolean);
  if (terms.length === 0) return null;
  if (terms.length > MAX_SEARCH_TERMS)
    throw validationFailed(`Search for at most ${MAX_SEARCH_TERMS} words at once.`, [{ path: 'q', message: `at most ${MAX_SEARCH_TERMS} terms` }]);
  const bad = terms.find((t) => t.length > MAX_TERM_LENGTH || !t.isWellFormed() || t.includes('\u0000'));
  if (bad !== undefined)
    throw validationFailed(`Each search word may have at most ${MAX_TERM_LENGTH} characters and only normal text.`, [{ path: 'q', message: 'a term is too long or not valid text' }]);
  const c = `(${alias}.${ident('search_text')} collate "C")`;
  return `(${alias}.${ident('search_text')} is not null and ${terms.map((t) => `${c} ilike ${params.add(`%${escapeLike(t)}%`)}::text`).join(' and ')})`;
}

/** The same rule in JavaScript (for tests and for searching rows already in memory). */
export function matchesSearch(text: string, searchText: string | null | undefined): boolean {
  const terms = text.split(/\s+/u).filter(Boolean);
  if (terms.length === 0) return true;
  if (searchText === null || searchText === undefined) return false;
  const hay = asciiLower(searchText);
  return terms.every((t) => hay.includes(asciiLower(t)));
}
