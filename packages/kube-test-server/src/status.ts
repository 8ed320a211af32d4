/** `Status` objects, the error body every Kubernetes API error carries. */

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: { name?: string; kind?: string; causes?: StatusCause[] };
  code: number;
}

export function failure(
  code: number,
  reason: string,
  message: string,
  details?: StatusObject['details'],
): StatusObject {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

export const notFound = (resource: string, name: string): StatusObject =>
  failure(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource });

export const alreadyExists = (resource: string, name: string): StatusObject =>
  failure(409, 'AlreadyExists', `${resource} "${name}" already exists`, { name, kind: resource });

export const invalid = (kind: string, name: string, causes: StatusCause[]): StatusObject =>
  failure(
    422,
    'Invalid',
    `${kind} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
    { name, kind, causes },
  );

export const badRequest = (message: string): StatusObject => failure(400, 'BadRequest', message);
