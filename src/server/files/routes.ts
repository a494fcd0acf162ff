// HTTP face of the files engine. Uploads are the raw request body (no multipart parser needed:
// a phone's camera photo or a signature PNG is one fetch with the file as the body).
import { z } from 'zod';
import type { Api } from '../http/app.ts';
import { registerScopes, requireActor, type AppContext } from '../platform/index.ts';
import { assertMayReadFile } from './access.ts';
import { baseType, FILE_MAX_BYTES, fileMeta, INLINE_TYPES, readFile, saveFile } from './store.ts';

registerScopes('files:read', 'files:write');

const IdParams = z.object({ id: z.string().min(1).max(100) }).strict();
const UploadQuery = z.object({ name: z.string().max(255).optional() }).strict();

/** RFC 6266: an ASCII fallback plus the UTF-8 name, so 检验报告.pdf keeps its name. */
function disposition(kind: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export async function filesRoutes(api: Api, ctx: AppContext): Promise<void> {
  // Own scope: every body is taken as bytes here, the type is checked against the allow-list.
  await api.register(async (scoped) => {
    const r = scoped as unknown as Api;
    r.removeAllContentTypeParsers();
    r.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: FILE_MAX_BYTES }, (_request, body, done) => done(null, body));
    const tags = ['files'];

    r.post(
      '/files',
      {
        bodyLimit: FILE_MAX_BYTES,
        schema: {
          tags,
          summary: 'Upload a file (raw body; ?name= the file name) → 201 with its id',
          description: 'Send the bytes as the body with the file\'s Content-Type (images, PDF, text, CSV, Office files). At most 10 MB. Reference it from a record as {"id": "<id>", "name": "…"}.',
          querystring: UploadQuery,
        },
      },
      async (request, reply) => {
        const actor = requireActor(request, { scope: 'files:write' });
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const headerName = request.headers['x-file-name'];
        const name = request.query.name ?? (typeof headerName === 'string' ? safeDecode(headerName) : undefined);
        const meta = await saveFile(ctx, actor, { name, contentType: baseType(request.headers['content-type']), bytes: body });
        reply.header('location', `/api/v1/files/${meta.id}`);
        return reply.code(201).send(meta);
      },
    );

    r.get('/files/:id/meta', { schema: { tags, summary: 'Who uploaded a file, when, its size and SHA-256', params: IdParams } }, async (request) => {
      const actor = requireActor(request, { scope: 'files:read' });
      const meta = await fileMeta(ctx.db, request.params.id);
      await assertMayReadFile(ctx, actor, meta);
      return meta;
    });

    r.get('/files/:id', { schema: { tags, summary: 'Download a file (404 unless you may read a record field, approval or upload that holds it)', params: IdParams } }, async (request, reply) => {
      const actor = requireActor(request, { scope: 'files:read' });
      const etag = request.headers['if-none-match'];
      const meta = await fileMeta(ctx.db, request.params.id);
      await assertMayReadFile(ctx, actor, meta);
      reply
        .header('etag', `"${meta.sha256}"`)
        .header('cache-control', 'private, max-age=3600')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox");
      if (etag === `"${meta.sha256}"`) return reply.code(304).send();
      const f = await readFile(ctx.db, meta.id, meta);
      return reply
        .header('content-disposition', disposition(INLINE_TYPES.has(f.contentType) ? 'inline' : 'attachment', f.name))
        .type(f.contentType)
        .send(f.data);
    });
  });
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
