// The HTTP backbone: Fastify with zod schemas, OpenAPI, problem+json errors, health,
// readiness, Prometheus metrics, request ids, HTTPS/mTLS, and the built web app at `/`.
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyStatic from '@fastify/static';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import client from 'prom-client';
import type { AppContext } from '../platform/context.ts';
import { installErrorHandling, sendProblem } from './problem.ts';

export type Api = FastifyInstance<any, any, any, any, ZodTypeProvider>;

/** An engine's routes, registered under `/api/v1`. */
export type RoutePlugin = (api: Api, ctx: AppContext) => Promise<void> | void;

export interface BuildOptions {
  routes: RoutePlugin[];
  /** Called by /readyz; throws or returns a reason when not ready. */
  readiness: () => Promise<string | null>;
  /** Folder of the built web app (index.html); not served when missing. */
  webRoot?: string;
  loggerInstance?: FastifyServerOptions['loggerInstance'];
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export const metricsRegistry = new client.Registry();
client.collectDefaultMetrics({ register: metricsRegistry });
const httpDuration = new client.Histogram({
  name: 'trellis_http_request_duration_seconds',
  help: 'HTTP request duration by route and status class',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [metricsRegistry],
});

export async function buildApp(ctx: AppContext, opts: BuildOptions): Promise<Api> {
  const { config } = ctx;
  const https = config.tls
    ? {
        cert: fs.readFileSync(config.tls.cert),
        key: fs.readFileSync(config.tls.key),
        ...(config.tls.ca ? { ca: fs.readFileSync(config.tls.ca) } : {}),
        requestCert: config.tls.clientCert !== 'off',
        rejectUnauthorized: config.tls.clientCert === 'require',
      }
    : null;
  const app = Fastify({
    ...(https ? { https } : {}),
    ...(opts.loggerInstance ? { loggerInstance: opts.loggerInstance } : { logger: { level: config.logLevel } }),
    bodyLimit: config.bodyLimit,
    trustProxy: false,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const serveWeb = Boolean(opts.webRoot && fs.existsSync(path.join(opts.webRoot, 'index.html')));
  installErrorHandling(app, serveWeb);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    httpDuration.observe(
      { method: request.method, route, status: `${Math.floor(reply.statusCode / 100)}xx` },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(fastifyCookie);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Trellis API',
        description: 'Low-code platform around the ERP. Errors are RFC 9457 problem+json. Authenticate with the session cookie (plus the X-CSRF-Token header on writes) or `Authorization: Bearer <api key>`.',
        version: '1',
      },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: 'trellis_session' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ session: [] }, { bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/api/v1/docs' });

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (request, reply) => {
    let reason: string | null;
    try {
      reason = await opts.readiness();
    } catch (err) {
      reason = `database unreachable: ${(err as Error).message}`;
    }
    if (reason) return sendProblem(reply, request, 503, 'not-ready', 'Not ready', reason);
    return { status: 'ready' };
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(metricsRegistry.contentType);
    return metricsRegistry.metrics();
  });

  await app.register(
    async (api) => {
      for (const plugin of opts.routes) await plugin(api as Api, ctx);
    },
    { prefix: '/api/v1' },
  );

  if (serveWeb && opts.webRoot) {
    // Hashed build assets never change under their name: cached for a year. index.html (and the
    // SPA fallback) is revalidated on each load so a new build is picked up. The build writes .br
    // and .gz beside each asset; the variant the browser accepts is sent as is.
    const assetsDir = path.join(opts.webRoot, 'assets') + path.sep;
    await app.register(fastifyStatic, {
      root: opts.webRoot,
      prefix: '/',
      wildcard: false,
      index: ['index.html'],
      preCompressed: true,
      setHeaders: (res, file) => {
        res.header('cache-control', file.startsWith(assetsDir) ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    });
  }
  return app as unknown as Api;
}
