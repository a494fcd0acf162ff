// One error handler for the whole API: everything leaves as RFC 9457 problem+json.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError, type ProblemField } from '../platform/errors.ts';

const PROBLEM_BASE = 'https://trellis.local/problems/';

export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  status: number,
  slug: string,
  title: string,
  detail: string,
  errors?: ProblemField[],
  extra?: Record<string, unknown>,
): FastifyReply {
  return reply
    .code(status)
    .type('application/problem+json; charset=utf-8')
    .send(
      JSON.stringify({
        type: PROBLEM_BASE + slug,
        title,
        status,
        detail,
        instance: request.url,
        requestId: request.id,
        ...(errors ? { errors } : {}),
        ...(extra ?? {}),
      }),
    );
}

function pathOf(ctx: string | undefined, instancePath: string | undefined, params: unknown): string {
  const segs = (instancePath ?? '').split('/').filter(Boolean);
  const p = params as { missingProperty?: string; additionalProperty?: string } | undefined;
  if (p?.missingProperty) segs.push(p.missingProperty);
  if (p?.additionalProperty) segs.push(p.additionalProperty);
  return [ctx ?? 'body', ...segs].join('.');
}

/** Fastify's own error codes, translated into something a person can act on. */
const FASTIFY_CODES: Record<string, { status: number; slug: string; title: string; detail: (e: FastifyError) => string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    slug: 'malformed-json',
    title: 'Malformed JSON',
    detail: (e) => `The request body is not valid JSON (${e.message}). Check quotes, commas and brackets.`,
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    slug: 'malformed-json',
    title: 'Empty JSON body',
    detail: () => 'The request says it carries JSON but the body is empty. Send a JSON object.',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    slug: 'payload-too-large',
    title: 'Payload too large',
    detail: () => 'The request body is larger than this endpoint accepts. Send less data or split it.',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    slug: 'unsupported-media-type',
    title: 'Unsupported media type',
    detail: (e) => `${e.message}. Send application/json unless the endpoint documents another type.`,
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    slug: 'bad-request',
    title: 'Bad request',
    detail: () => 'The Content-Length header does not match the body.',
  },
};

/** `spaFallback`: serve the web app's index.html for client-side routes (GET, no extension, not /api). */
export function installErrorHandling(app: FastifyInstance, spaFallback = false): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof AppError) {
      if (err.headers) reply.headers(err.headers);
      if (err.status >= 500) request.log.error({ err }, 'application error');
      return sendProblem(reply, request, err.status, err.slug, err.title, err.message, err.errors, err.extra);
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const ctx = (err as { validationContext?: string }).validationContext;
      const errors = err.validation.map((v) => ({ path: pathOf(ctx, v.instancePath, v.params), message: v.message ?? 'invalid' }));
      return sendProblem(
        reply,
        request,
        400,
        'validation-failed',
        'Validation failed',
        `The request ${ctx ?? 'body'} is not valid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
        errors,
      );
    }
    if (err.validation) {
      const ctx = err.validationContext;
      const errors = err.validation.map((v) => ({ path: pathOf(ctx, v.instancePath, v.params), message: v.message ?? 'invalid' }));
      return sendProblem(reply, request, 400, 'validation-failed', 'Validation failed', `The request ${ctx ?? 'body'} is not valid.`, errors);
    }
    const known = err.code ? FASTIFY_CODES[err.code] : undefined;
    if (known) return sendProblem(reply, request, known.status, known.slug, known.title, known.detail(err));
    if (isResponseSerializationError(err)) {
      request.log.error({ err, issues: err.cause.issues }, 'response did not match its schema');
    } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return sendProblem(reply, request, err.statusCode, 'bad-request', 'Bad request', err.message);
    } else {
      request.log.error({ err }, 'unhandled error');
    }
    return sendProblem(
      reply,
      request,
      500,
      'internal',
      'Internal error',
      `Something went wrong on the server. Nothing was saved. Quote request id ${request.id} when reporting this.`,
    );
  });
  app.setNotFoundHandler((request, reply) => {
    const url = request.url.split('?')[0] ?? '/';
    if (spaFallback && request.method === 'GET' && !url.startsWith('/api/') && !/\.[a-z0-9]+$/i.test(url)) {
      return reply.type('text/html; charset=utf-8').sendFile('index.html');
    }
    return sendProblem(reply, request, 404, 'not-found', 'Not found', `There is no ${request.method} ${url}. See /api/v1/docs for the API.`);
  });
}
