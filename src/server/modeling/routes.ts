// HTTP API of the modeling engine: definitions, validation, diff, publish, versions, rollback,
// export, and the JSON Schema of the definition format for the designer and for editors.
import { z } from 'zod';
import { AppDef } from '../../shared/definition.ts';
import type { Api } from '../http/app.ts';
import { AppError, badRequest, notFound, registerScopes, requireActor, requireRole, validationFailed, type AppContext } from '../platform/index.ts';
import { DefinitionParseError, parseDefinition, serializeDefinition } from './files.ts';
import { publishApp, publishProblems, rollbackApp } from './publish.ts';
import { getAppVersion, getPublishedApp, listApps, listAppVersions } from './registry.ts';
import { deleteDraft, getDraft, listDrafts, saveDraft } from './drafts.ts';
import { validateApp } from './validate.ts';

registerScopes('apps:read', 'apps:write');

/** Who may publish: administrators, IT administrators and app builders. */
export const PUBLISH_ROLES = ['admin', 'it_admin', 'app_builder'] as const;

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

const AppParams = z.object({ app: z.string().min(1).max(60) });
const VersionParams = AppParams.extend({ v: z.coerce.number().int().min(1) });
const ChangeSchema = z.object({
  kind: z.string(),
  entity: z.string(),
  field: z.string().optional(),
  path: z.string(),
  from: z.string().optional(),
  to: z.string().optional(),
  destructive: z.boolean(),
  blocked: z.boolean().optional(),
  message: z.string(),
});
const PublishResult = z.object({ app: z.string(), version: z.number(), changes: z.array(ChangeSchema), applied: z.boolean() });
const Flag = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
  .transform((v) => v === true || v === 'true' || v === '1')
  .optional();

let appJsonSchema: unknown;
function appSchema(): unknown {
  appJsonSchema ??= {
    ...z.toJSONSchema(AppDef, { unrepresentable: 'any', io: 'input' }),
    $id: '/api/v1/schema/app.json',
    title: 'Trellis app definition',
  };
  return appJsonSchema;
}

/** A publish body: `{definition, confirmDestructive?}`, or (YAML) the definition itself. */
function splitBody(body: unknown): { definition: unknown; confirmDestructive?: boolean; dryRun?: boolean } {
  if (body && typeof body === 'object' && !Array.isArray(body) && 'definition' in body) {
    const b = body as Record<string, unknown>;
    const extra = Object.keys(b).filter((k) => !['definition', 'confirmDestructive', 'dryRun'].includes(k));
    if (extra.length) throw badRequest(`Unknown properties ${extra.map((k) => `"${k}"`).join(', ')}; send {definition, confirmDestructive?, dryRun?}.`);
    for (const k of ['confirmDestructive', 'dryRun'] as const) {
      if (b[k] !== undefined && typeof b[k] !== 'boolean') throw validationFailed(`"${k}" must be true or false.`, [{ path: `body.${k}`, message: 'must be true or false' }]);
    }
    return { definition: b.definition, confirmDestructive: b.confirmDestructive as boolean | undefined, dryRun: b.dryRun as boolean | undefined };
  }
  return { definition: body };
}

function invalid(errors: { path: string; message: string }[]): AppError {
  return validationFailed(
    `The app definition has ${errors.length} problem(s): ${errors.slice(0, 5).map((e) => `${e.path}: ${e.message}`).join('; ')}${errors.length > 5 ? '; …' : ''}`,
    errors,
  );
}

export async function modelingRoutes(api: Api, ctx: AppContext): Promise<void> {
  await api.register(async (scope) => {
    const r = scope as Api;
    r.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, parseDefinition(String(body), 'yaml'));
      } catch (err) {
        const msg = err instanceof DefinitionParseError ? err.message : String(err);
        done(badRequest(`The request body is ${msg}`) as unknown as Error, undefined);
      }
    });

    r.get('/schema/app.json', { schema: { tags: ['modeling'], summary: 'JSON Schema of an app definition (for the designer and editors)' }, config: { auth: 'optional' } }, async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return appSchema();
    });

    r.get('/apps', { schema: { tags: ['modeling'], summary: 'Published apps' } }, async (request) => {
      requireActor(request, { scope: 'apps:read' });
      return { apps: await listApps(ctx.db) };
    });

    r.get('/apps/:app', { schema: { tags: ['modeling'], summary: 'Current definition and version of an app', params: AppParams } }, async (request) => {
      requireActor(request, { scope: 'apps:read' });
      const app = await getPublishedApp(ctx.db, request.params.app);
      if (!app) throw notFound(`There is no published app "${request.params.app}". GET /api/v1/apps lists them.`);
      return { app: app.name, version: app.version, definition: app.def };
    });

    r.get('/apps/:app/versions', { schema: { tags: ['modeling'], summary: 'Every published version of an app', params: AppParams } }, async (request) => {
      requireActor(request, { scope: 'apps:read' });
      const versions = await listAppVersions(ctx.db, request.params.app);
      if (!versions.length) throw notFound(`There is no published app "${request.params.app}".`);
      return { app: request.params.app, versions };
    });

    r.get('/apps/:app/versions/:v', { schema: { tags: ['modeling'], summary: 'One published version with its definition', params: VersionParams } }, async (request) => {
      requireActor(request, { scope: 'apps:read' });
      const v = await getAppVersion(ctx.db, request.params.app, request.params.v);
      if (!v) throw notFound(`App "${request.params.app}" has no version ${request.params.v}.`);
      return v;
    });

    r.get(
      '/apps/:app/export',
      { schema: { tags: ['modeling'], summary: 'The current definition as a YAML or JSON file', params: AppParams, querystring: z.object({ format: z.enum(['yaml', 'json']).default('yaml') }) } },
      async (request, reply) => {
        requireActor(request, { scope: 'apps:read' });
        const app = await getPublishedApp(ctx.db, request.params.app);
        if (!app) throw notFound(`There is no published app "${request.params.app}".`);
        const fmt = request.query.format;
        reply.header('content-disposition', `attachment; filename="${app.name}.${fmt === 'json' ? 'json' : 'yaml'}"`);
        reply.type(fmt === 'json' ? 'application/json; charset=utf-8' : 'application/yaml; charset=utf-8');
        return serializeDefinition(app.def, fmt);
      },
    );

    r.post(
      '/apps/validate',
      { schema: { tags: ['modeling'], summary: 'Check a definition (JSON or YAML body) without publishing', body: z.unknown(), response: { 200: z.object({ ok: z.literal(true), errors: z.array(z.object({ path: z.string(), message: z.string() })) }) } } },
      async (request) => {
        requireActor(request, { scope: 'apps:read' });
        const v = validateApp(request.body);
        if (!v.ok) throw invalid(v.errors);
        // what publish would also refuse (e.g. a calendar that does not exist), said now
        const problems = await ctx.db.tx((tx) => publishProblems(tx, v.app));
        if (problems.length) throw invalid(problems);
        return { ok: true as const, errors: [] };
      },
    );

    r.post(
      '/apps/diff',
      { schema: { tags: ['modeling'], summary: 'The changes publishing this definition would make (nothing is written)', body: z.unknown(), response: { 200: PublishResult } } },
      async (request) => {
        requireActor(request, { scope: 'apps:read' });
        const { definition } = splitBody(request.body);
        const v = validateApp(definition);
        if (!v.ok) throw invalid(v.errors);
        return publishApp(ctx, requireActor(request), v.app, { dryRun: true });
      },
    );

    r.post(
      '/apps/publish',
      {
        schema: {
          tags: ['modeling'],
          summary: 'Publish a definition as the next version (creates/alters tables); destructive changes need confirmDestructive',
          body: z.unknown(),
          querystring: z.object({ confirmDestructive: Flag, dryRun: Flag }),
          response: { 200: PublishResult },
        },
      },
      async (request) => {
        requireActor(request, { scope: 'apps:write' });
        const actor = requireRole(request, ...PUBLISH_ROLES);
        const b = splitBody(request.body);
        const v = validateApp(b.definition);
        if (!v.ok) throw invalid(v.errors);
        return publishApp(ctx, actor, v.app, {
          confirmDestructive: b.confirmDestructive ?? request.query.confirmDestructive ?? false,
          dryRun: b.dryRun ?? request.query.dryRun ?? false,
        });
      },
    );

    // Drafts: the designer's unpublished work (builders only; not validated until publish).
    const DraftBody = z.object({ definition: z.unknown(), baseRevision: z.number().int().min(1).optional() }).strict();
    r.get('/app-drafts', { schema: { tags: ['modeling'], summary: 'Unpublished drafts of apps (designer work in progress)' } }, async (request) => {
      requireActor(request, { scope: 'apps:read' });
      requireRole(request, ...PUBLISH_ROLES);
      return { drafts: await listDrafts(ctx.db) };
    });
    r.get('/app-drafts/:app', { schema: { tags: ['modeling'], summary: 'The draft of an app', params: AppParams } }, async (request) => {
      requireActor(request, { scope: 'apps:read' });
      requireRole(request, ...PUBLISH_ROLES);
      const d = await getDraft(ctx.db, request.params.app);
      if (!d) throw notFound(`App "${request.params.app}" has no draft. Save one with PUT /api/v1/app-drafts/${request.params.app}.`);
      return d;
    });
    r.put('/app-drafts/:app', { schema: { tags: ['modeling'], summary: 'Save the draft of an app (replaces the previous draft)', params: AppParams, body: DraftBody } }, async (request) => {
      requireActor(request, { scope: 'apps:write' });
      const actor = requireRole(request, ...PUBLISH_ROLES);
      return saveDraft(ctx, actor, request.params.app, request.body.definition, request.body.baseRevision);
    });
    r.delete('/app-drafts/:app', { schema: { tags: ['modeling'], summary: 'Discard the draft of an app', params: AppParams } }, async (request, reply) => {
      requireActor(request, { scope: 'apps:write' });
      const actor = requireRole(request, ...PUBLISH_ROLES);
      if (!(await deleteDraft(ctx, actor, request.params.app))) throw notFound(`App "${request.params.app}" has no draft.`);
      return reply.code(204).send();
    });

    r.post(
      '/apps/:app/rollback',
      {
        schema: {
          tags: ['modeling'],
          summary: 'Republish an earlier version as a new version',
          params: AppParams,
          body: z.object({ version: z.number().int().min(1), confirmDestructive: z.boolean().optional(), dryRun: z.boolean().optional() }).strict(),
          response: { 200: PublishResult },
        },
      },
      async (request) => {
        requireActor(request, { scope: 'apps:write' });
        const actor = requireRole(request, ...PUBLISH_ROLES);
        return rollbackApp(ctx, actor, request.params.app, request.body.version, { confirmDestructive: request.body.confirmDestructive ?? false, dryRun: request.body.dryRun ?? false });
      },
    );
  });
}
