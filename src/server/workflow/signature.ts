// Electronic signatures on approval decisions. The signer re-enters the password (or the signing
// PIN); we store the canonical snapshot of the document as signed, its SHA-256, and a SHA-256
// over that hash plus decision, signer, time, IP address and user agent. Verification recomputes
// both from the stored row and compares the snapshot with the document as it is now.
import { createHash } from 'node:crypto';
import type { Sql, Tx } from '../db/index.ts';
import { canonicalJson } from '../platform/audit/index.ts';
import type { Actor } from '../platform/context.ts';

export interface SignatureContent {
  instanceId: string;
  taskId: string;
  userId: string;
  username: string;
  decision: string;
  comment: string | null;
  method: 'password' | 'pin';
  signedAt: string;
  ip: string | null;
  userAgent: string | null;
  documentHash: string;
}

export const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

export function documentHash(document: unknown): string {
  return sha256(canonicalJson(document));
}

export function signatureHash(c: SignatureContent): string {
  return sha256(canonicalJson(c));
}

export async function storeSignature(
  tx: Tx,
  o: { instanceId: string; taskId: string; actor: Actor; decision: string; comment: string | null; method: 'password' | 'pin'; at: Date; document: Record<string, unknown> },
): Promise<string> {
  const signedAt = new Date(Math.floor(o.at.getTime()));
  const document = JSON.parse(JSON.stringify(o.document)) as Record<string, unknown>;
  const content: SignatureContent = {
    instanceId: o.instanceId,
    taskId: o.taskId,
    userId: o.actor.principal.userId,
    username: o.actor.principal.username,
    decision: o.decision,
    comment: o.comment,
    method: o.method,
    signedAt: signedAt.toISOString(),
    ip: o.actor.meta.ip,
    userAgent: o.actor.meta.userAgent,
    documentHash: documentHash(document),
  };
  const r = await tx.query<{ id: string }>(
    `insert into wf_signatures (instance_id, task_id, user_id, username, decision, comment, method, signed_at, ip, user_agent, document, document_hash, hash)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning id`,
    [o.instanceId, o.taskId, content.userId, content.username, o.decision, o.comment, o.method, signedAt, content.ip, content.userAgent, JSON.stringify(document), content.documentHash, signatureHash(content)],
  );
  return r.rows[0]!.id;
}

export interface SignatureRow {
  id: string;
  instance_id: string;
  task_id: string;
  user_id: string;
  username: string;
  decision: string;
  comment: string | null;
  method: 'password' | 'pin';
  signed_at: Date;
  ip: string | null;
  user_agent: string | null;
  document: Record<string, unknown>;
  document_hash: string;
  hash: string;
}

export interface VerifyReport {
  signatureId: string;
  valid: boolean;
  /** The stored snapshot still hashes to the stored document hash. */
  documentIntact: boolean;
  /** The signature hash over hash + decision + who/when/where still matches. */
  signatureIntact: boolean;
  /** The document as it is now is the one that was signed (null when it cannot be read). */
  matchesCurrentDocument: boolean | null;
  problems: string[];
  signedBy: string;
  signedAt: string;
  decision: string;
}

export async function verifySignature(sql: Sql, id: string, currentDocument: Record<string, unknown> | null): Promise<VerifyReport | null> {
  const r = await sql.query<SignatureRow>('select * from wf_signatures where id = $1', [id]);
  const s = r.rows[0];
  if (!s) return null;
  const problems: string[] = [];
  const docHash = documentHash(s.document);
  const documentIntact = docHash === s.document_hash;
  if (!documentIntact) problems.push('The stored snapshot of the signed document was altered after signing.');
  const content: SignatureContent = {
    instanceId: s.instance_id,
    taskId: s.task_id,
    userId: s.user_id,
    username: s.username,
    decision: s.decision,
    comment: s.comment,
    method: s.method,
    signedAt: new Date(s.signed_at).toISOString(),
    ip: s.ip,
    userAgent: s.user_agent,
    documentHash: s.document_hash,
  };
  const signatureIntact = signatureHash(content) === s.hash;
  if (!signatureIntact) problems.push('The signature record (decision, signer, time, address or device) was altered after signing.');
  let matches: boolean | null = null;
  if (currentDocument) {
    matches = documentHash(JSON.parse(JSON.stringify(currentDocument))) === s.document_hash;
    if (!matches) problems.push('The document has changed since it was signed.');
  }
  return {
    signatureId: s.id,
    valid: documentIntact && signatureIntact && matches !== false,
    documentIntact,
    signatureIntact,
    matchesCurrentDocument: matches,
    problems,
    signedBy: s.username,
    signedAt: content.signedAt,
    decision: s.decision,
  };
}
