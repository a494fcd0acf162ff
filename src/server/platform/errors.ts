// Errors that reach a person. Every one becomes an RFC 9457 problem+json answer with a
// message that says what to do; anything else is a 500 whose details stay in the log.

export interface ProblemField {
  /** Where the problem is, as a dotted path: `body.entities.ecn.fields.qty.type`. */
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly status: number;
  readonly slug: string;
  readonly title: string;
  readonly errors: ProblemField[] | undefined;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;
  constructor(
    status: number,
    slug: string,
    title: string,
    detail: string,
    opts: { errors?: ProblemField[]; extra?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.status = status;
    this.slug = slug;
    this.title = title;
    this.errors = opts.errors;
    this.extra = opts.extra;
    this.headers = opts.headers;
  }
}

export const badRequest = (detail: string, errors?: ProblemField[], extra?: Record<string, unknown>) =>
  new AppError(400, 'bad-request', 'Bad request', detail, { errors, extra });
export const validationFailed = (detail: string, errors: ProblemField[]) =>
  new AppError(400, 'validation-failed', 'Validation failed', detail, { errors });
export const unauthorized = (detail: string) => new AppError(401, 'unauthorized', 'Not signed in', detail);
export const forbidden = (detail: string) => new AppError(403, 'forbidden', 'Not allowed', detail);
export const notFound = (detail: string) => new AppError(404, 'not-found', 'Not found', detail);
export const conflict = (detail: string, extra?: Record<string, unknown>) =>
  new AppError(409, 'conflict', 'Conflict', detail, { extra });
export const payloadTooLarge = (detail: string) => new AppError(413, 'payload-too-large', 'Payload too large', detail);
export const unprocessable = (detail: string, errors?: ProblemField[], extra?: Record<string, unknown>) =>
  new AppError(422, 'unprocessable', 'Cannot be processed', detail, { errors, extra });
export const tooManyRequests = (detail: string, retryAfterSeconds: number) =>
  new AppError(429, 'too-many-requests', 'Too many requests', detail, {
    headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
  });

/** Turns zod issues into problem fields with dotted paths. */
export function zodIssuesToFields(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>, prefix = ''): ProblemField[] {
  return issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)',
    message: i.message,
  }));
}
