// Secrets handed to clients (session tokens, API keys, generated passwords) and their hashes.
// Only sha-256 hashes reach the database: a stolen table does not sign anyone in.
import { hash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'trellis_session';
export const CSRF_COOKIE = 'trellis_csrf';
export const CSRF_HEADER = 'x-csrf-token';

const TOKEN_BYTES = 32;
/** 32 random bytes in base64url: 43 characters. */
const SESSION_TOKEN = /^[A-Za-z0-9_-]{43}$/;
/** `trk_<8 lowercase hex>_<43 base64url>`: the prefix is public (shown in lists), the rest is secret. */
const API_KEY = /^trk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$/;

export function randomToken(bytes = TOKEN_BYTES): string {
  return randomBytes(bytes).toString('base64url');
}

/** One-shot hashing: no Hash object per call (this runs on every authenticated request). */
export function sha256(text: string): string {
  return hash('sha256', text, 'hex');
}

export function isSessionToken(value: string): boolean {
  return SESSION_TOKEN.test(value);
}

export interface NewApiKey {
  /** The full key, shown to its owner once. */
  key: string;
  /** Public part stored in `api_keys.prefix`, e.g. `trk_ab12cd34`. */
  prefix: string;
  hash: string;
}

export function newApiKey(): NewApiKey {
  const prefix = `trk_${randomBytes(4).toString('hex')}`;
  const key = `${prefix}_${randomToken()}`;
  return { key, prefix, hash: sha256(key) };
}

/** The public prefix of a well-formed key, or null when the text is not an API key at all. */
export function apiKeyPrefix(value: string): string | null {
  const m = API_KEY.exec(value);
  return m ? `trk_${m[1]}` : null;
}

/** Constant-time comparison of two strings (CSRF tokens, hashes). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const LETTERS = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ';
const DIGITS = '23456789';

/** A 16-character password with letters and digits (no look-alikes), meeting `passwordProblem`. */
export function generatePassword(length = 16): string {
  const all = LETTERS + DIGITS;
  const chars = [LETTERS[randomInt(LETTERS.length)]!, DIGITS[randomInt(DIGITS.length)]!];
  while (chars.length < length) chars.push(all[randomInt(all.length)]!);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}
