// Files engine: attachments, photos and signatures that records point at.
//
//   POST /api/v1/files?name=<file name>     raw body, Content-Type from the allow-list → 201 {id, name, contentType, size, sha256, …}
//   GET  /api/v1/files/:id                  the bytes (images and PDF inline, the rest as a download), to those
//                                           who may read what references the file (access.ts), else 404
//   GET  /api/v1/files/:id/meta             who uploaded what, when, its SHA-256
//
// A record field of type attachment/image/signature holds references `{ id, name, contentType, size }`;
// the id is this engine's. Bytes live in the database (bytea) so one backup holds everything and a
// second Trellis instance sees the same files.
import type { Engine } from '../engine.ts';
import { filesMigrations } from './migrations.ts';
import { filesRoutes } from './routes.ts';

export { ALLOWED_TYPES, FILE_MAX_BYTES, saveFile, readFile, fileMeta, type FileMeta } from './store.ts';

export const filesEngine: Engine = {
  name: 'files',
  migrations: filesMigrations,
  routes: (api, ctx) => filesRoutes(api, ctx),
};
