// Connector credentials at rest: AES-256-GCM with a random 96-bit IV per value; the stored text is
// `v1.<iv>.<tag>.<ciphertext>` (base64url). The key comes from TRELLIS_SECRET_KEY (any string, hashed
// to 32 bytes with SHA-256) or, when that is unset, from `<data folder>/secret.key`, generated once
// (0600). Several instances on one PostgreSQL must share TRELLIS_SECRET_KEY (decision 0011).
// The connector name is bound as additional authenticated data, so a ciphertext copied onto another
// connector does not decrypt.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';

const keys = new Map<string, Buffer>();

export class SecretKeyError extends Error {}

export function secretKey(config: Pick<Config, 'secretKey' | 'dataDir'>): Buffer {
  if (config.secretKey) return createHash('sha256').update(config.secretKey, 'utf8').digest();
  const file = path.join(config.dataDir, 'secret.key');
  const cached = keys.get(file);
  if (cached) return cached;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SecretKeyError(`Cannot read the secret key file ${file}: ${(err as Error).message}`);
    try {
      fs.mkdirSync(config.dataDir, { recursive: true });
      fs.writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SecretKeyError(`Cannot create the secret key file ${file} (${(e as Error).message}). Set TRELLIS_SECRET_KEY or make TRELLIS_DATA_DIR writable.`);
      }
    }
    text = fs.readFileSync(file, 'utf8').trim();
  }
  const key = Buffer.from(text, 'base64');
  if (key.length !== 32) throw new SecretKeyError(`The secret key file ${file} does not hold 32 base64 bytes; restore it from a backup or set TRELLIS_SECRET_KEY.`);
  keys.set(file, key);
  return key;
}

export function encryptSecrets(key: Buffer, value: unknown, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

export function decryptSecrets(key: Buffer, text: string, aad: string): unknown {
  const [v, iv, tag, body] = text.split('.');
  if (v !== 'v1' || !iv || !tag || body === undefined) throw new SecretKeyError('Stored connector secrets are not in a known format.');
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    d.setAAD(Buffer.from(aad, 'utf8'));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    const plain = Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
    return JSON.parse(plain);
  } catch {
    throw new SecretKeyError('Connector secrets cannot be decrypted with this key (TRELLIS_SECRET_KEY or secret.key changed?). Enter the credentials again.');
  }
}
