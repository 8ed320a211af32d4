/**
 * HTTP requests of sensors and HTTP jobs: templated url/headers/body, header values that take
 * secrets from the worker's environment ("Bearer ${API_TOKEN}"), and logs and errors with every
 * secret masked. The worker's own configuration (DATABASE_URL, UPDRAFT_*, PG*, KUBECONFIG) is not
 * readable this way.
 */
import type { TemplateContext } from '@updraft/core/template';
import { maskSecrets, sensitiveValues } from '../secrets.ts';
import { TaskFailure } from './types.ts';
import { renderOrFail } from './xcom-template.ts';

export type Env = Readonly<Record<string, string | undefined>>;

const ENV_REFERENCE = /(\$\{[A-Za-z_][A-Za-z0-9_]*\})/;
const WORKER_OWN = /^(DATABASE_URL|UPDRAFT_.*|PG[A-Z]*|KUBECONFIG)$/;

/** Reads a variable a task names; refuses the worker's own configuration. */
export function readEnv(env: Env, name: string, what: string): string {
  if (WORKER_OWN.test(name)) {
    throw new TaskFailure(
      `${what}: environment variable ${name} belongs to the worker's own configuration and cannot be read by tasks`,
      { retryable: false },
    );
  }
  const value = env[name];
  if (value === undefined || value === '') {
    throw new TaskFailure(`${what}: environment variable ${name} is not set on this worker`, {
      retryable: false,
    });
  }
  return value;
}

/**
 * Renders a header value: "{{ … }}" templates in the text, "${NAME}" from the environment. The
 * environment values are inserted after rendering, so they are never read as templates.
 */
function renderHeader(
  name: string,
  raw: string,
  context: TemplateContext,
  env: Env,
  secrets: string[],
): string {
  return raw
    .split(ENV_REFERENCE)
    .map((part, i) => {
      if (i % 2 === 0) return renderOrFail(part, context);
      const value = readEnv(env, part.slice(2, -1), `header "${name}"`);
      secrets.push(value);
      return value;
    })
    .join('');
}

export interface RequestSpec {
  method: string;
  url: string;
  headers?: Record<string, string> | undefined;
  body?: unknown;
}

export interface PreparedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
  /** Values to mask in logs and messages. */
  secrets: string[];
}

export function prepareRequest(
  spec: RequestSpec,
  context: TemplateContext,
  env: Env,
  extraHeaders: Record<string, string> = {},
): PreparedRequest {
  const secrets: string[] = [];
  const headers: Record<string, string> = {};
  for (const [name, raw] of Object.entries(spec.headers ?? {})) {
    headers[name] = renderHeader(name, raw, context, env, secrets);
  }
  secrets.push(...sensitiveValues(headers));
  // Header values named like secrets are masked whole (Authorization: Bearer …).
  for (const [name, value] of Object.entries(headers)) {
    if (/^(authorization|proxy-authorization|cookie)$/i.test(name) && value.length >= 4)
      secrets.push(value);
  }
  Object.assign(headers, extraHeaders);
  let body: string | null = null;
  if (spec.body !== undefined) {
    const rendered = renderOrFail(spec.body, context);
    body = typeof rendered === 'string' ? rendered : JSON.stringify(rendered);
    if (
      typeof rendered !== 'string' &&
      !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')
    ) {
      headers['content-type'] = 'application/json';
    }
  }
  return {
    method: spec.method,
    url: renderOrFail(spec.url, context),
    headers,
    body,
    secrets,
  };
}

export interface HttpAnswer {
  status: number;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** One request never waits longer than this (a hung endpoint must not hold an attempt forever). */
export const REQUEST_TIMEOUT_MS = 60_000;

/**
 * Sends the request; a network error or a request slower than `timeoutMs` throws a (retryable)
 * TaskFailure with secrets masked. An abort of `signal` (timeout, clear, shutdown) is rethrown.
 */
export async function send(
  req: PreparedRequest,
  signal: AbortSignal,
  log: (text: string) => void,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<HttpAnswer> {
  const started = Date.now();
  const target = `${req.method} ${maskSecrets(req.url, req.secrets)}`;
  let response: Response;
  let text: string;
  try {
    response = await fetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
    text = await response.text();
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    // fetch's own message is "fetch failed"; what failed (refused, not found, TLS) is its cause.
    const cause = (error as Error & { cause?: Error }).cause?.message;
    const reason =
      (error as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : `${(error as Error).message}${cause ? ` (${cause})` : ''}`;
    throw new TaskFailure(`${target} failed: ${maskSecrets(reason, req.secrets)}`);
  }
  log(`${target} → ${response.status} (${Date.now() - started} ms)\n`);
  // A service that echoes the request (its Authorization header, say) must not put the secret
  // into the task's result, and so into XCom and other tasks' templates and logs.
  text = maskSecrets(text, req.secrets);
  let json: unknown;
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json };
}

export function describeTarget(req: PreparedRequest): string {
  return `${req.method} ${maskSecrets(req.url, req.secrets)}`;
}

export { maskSecrets };
