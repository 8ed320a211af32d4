/**
 * The one place errors become HTTP responses: domain errors keep their meaning (404, 409, 400,
 * 403), validation errors name the field, and anything unexpected is logged with a request id and
 * answered with a 500 that reveals nothing internal.
 */
import { DomainError } from '@updraft/core/errors';
import { databaseError, isTransientConflict } from '@updraft/db';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { ZodError } from 'zod';

export interface ErrorBody {
  error: string;
  message: string;
  details?: unknown;
  request_id?: string;
}

const STATUS: Record<DomainError['code'], ContentfulStatusCode> = {
  not_found: 404,
  conflict: 409,
  invalid: 400,
  forbidden: 403,
  illegal_transition: 409,
};

/**
 * SQLSTATEs of a value that cannot be stored or read as its type: too long, out of range, bad
 * number, date or time zone, a character the encoding lacks (a NUL, a lone surrogate).
 */
const INPUT_DATA_ERRORS = new Set([
  '22001',
  '22003',
  '22007',
  '22008',
  '22009',
  '22021',
  '22P02',
  '22P05',
]);

export class BadRequest extends HTTPException {
  readonly details: unknown;
  constructor(message: string, details?: unknown) {
    super(400, { message });
    this.details = details;
  }
}

export function zodDetails(error: ZodError): { field: string; message: string }[] {
  return error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
}

export function errorResponse(error: unknown, c: Context, logger: Logger) {
  if (error instanceof DomainError) {
    return c.json<ErrorBody>(
      { error: error.code, message: error.message, details: error.details },
      STATUS[error.code],
    );
  }
  if (error instanceof ZodError) {
    const details = zodDetails(error);
    return c.json<ErrorBody>(
      {
        error: 'invalid',
        message: details.map((d) => `${d.field}: ${d.message}`).join('; '),
        details,
      },
      400,
    );
  }
  if (error instanceof BadRequest) {
    return c.json<ErrorBody>(
      { error: 'invalid', message: error.message, details: error.details },
      400,
    );
  }
  if (error instanceof HTTPException) {
    return c.json<ErrorBody>(
      {
        error: error.status === 404 ? 'not_found' : 'http_error',
        message: error.message || 'request failed',
      },
      error.status,
    );
  }
  const requestId = c.get('requestId' as never) as string | undefined;
  // The client went away while its body was read (a broken chunked upload, read by the body
  // limit before any handler): nobody reads the answer, and nothing failed on this side.
  if (isAbortedRequest(error)) {
    logger.info({ requestId, path: c.req.path }, 'the client closed the request mid-body');
    return c.json<ErrorBody>(
      { error: 'invalid', message: 'request body could not be read: the client aborted it' },
      400,
    );
  }
  // Lost to the engine's own transactions even after the retries (retryTransient): try again.
  if (isTransientConflict(error)) {
    logger.warn({ err: error, requestId, path: c.req.path }, 'request lost a lock conflict');
    c.header('retry-after', '1');
    return c.json<ErrorBody>(
      { error: 'busy', message: 'the request conflicted with work in progress; send it again' },
      503,
    );
  }
  // A value of the request PostgreSQL refused (out of range, bad encoding, invalid date): input
  // validation should have caught. A 400 with PostgreSQL's reason, and a warning so the gap in
  // validation shows. Other data errors (a division by zero) stay 500s.
  const fromDatabase = databaseError(error);
  if (INPUT_DATA_ERRORS.has(fromDatabase.code ?? '')) {
    logger.warn(
      { err: error, requestId, path: c.req.path },
      'the database refused a value of the request',
    );
    return c.json<ErrorBody>(
      { error: 'invalid', message: `invalid value: ${fromDatabase.message}` },
      400,
    );
  }
  logger.error({ err: error, requestId, path: c.req.path }, 'unhandled API error');
  return c.json<ErrorBody>(
    {
      error: 'internal',
      message: 'internal error; see the server log',
      ...(requestId ? { request_id: requestId } : {}),
    },
    500,
  );
}

/** Node's error for a request whose connection closed before its body was complete. */
function isAbortedRequest(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.message === 'aborted' &&
    (error as NodeJS.ErrnoException).code === 'ECONNRESET'
  );
}
