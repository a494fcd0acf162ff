// argon2id password hashing (prebuilt N-API binary, no compiler needed).
import { hash, verify } from '@node-rs/argon2';

// OWASP-recommended argon2id parameters: 19 MiB, 2 iterations, 1 lane.
const OPTIONS = { algorithm: 2 as const, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(hashed: string | null | undefined, password: string): Promise<boolean> {
  if (!hashed) return false;
  try {
    return await verify(hashed, password);
  } catch {
    return false;
  }
}

/** Minimum rules, said in words a person can act on; null when acceptable. */
export function passwordProblem(password: string): string | null {
  if (password.length < 10) return 'The password must be at least 10 characters long.';
  if (password.length > 256) return 'The password must be at most 256 characters long.';
  if (!/[A-Za-z]/.test(password) || !/[0-9]/.test(password)) return 'The password must contain letters and digits.';
  return null;
}
