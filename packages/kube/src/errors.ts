/** Reading client-node's `ApiException` without importing client-node. */

export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    kind?: string;
    causes?: Array<{ reason?: string; message?: string; field?: string }>;
  };
}

/** The HTTP status code of an `ApiException` (or an error with `.code`/`.statusCode`). */
export function apiErrorCode(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** The `Status` object carried by an `ApiException` (its body is the raw JSON string). */
export function apiErrorStatus(err: unknown): KubeStatus | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const parsed: unknown = JSON.parse(body);
      return parsed !== null && typeof parsed === 'object' ? (parsed as KubeStatus) : undefined;
    } catch {
      return undefined;
    }
  }
  return body !== null && typeof body === 'object' ? (body as KubeStatus) : undefined;
}

/** A short human message for an API error. */
export function apiErrorMessage(err: unknown): string {
  const status = apiErrorStatus(err);
  if (status?.message) return status.message;
  const code = apiErrorCode(err);
  if (err instanceof Error) {
    const first = err.message.split('\n')[0] ?? err.message;
    return code !== undefined ? `HTTP ${code}: ${first}` : first;
  }
  return String(err);
}
