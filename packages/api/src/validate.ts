/** Request parsing with zod: a bad body, query or path parameter is a 400 naming the field. */
import type { Context } from 'hono';
import type { z } from 'zod';
import { BadRequest, zodDetails } from './errors.ts';

/** Deeper JSON than any conf needs; deeper still would overflow the stack of whatever walks it. */
export const MAX_JSON_DEPTH = 64;

export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let raw: unknown = {};
  let text: string;
  try {
    text = await c.req.text();
  } catch (error) {
    // The client went away mid-body (or sent a broken chunked body): nothing to answer.
    throw new BadRequest(`request body could not be read: ${(error as Error).message}`);
  }
  if (text.trim().length > 0) {
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new BadRequest(`request body is not valid JSON: ${(error as Error).message}`);
    }
    const problem = storableJsonProblem(raw);
    if (problem)
      throw new BadRequest(`invalid body: ${problem.field}: ${problem.message}`, [problem]);
  }
  return parse(schema, raw, 'body');
}

/**
 * Why PostgreSQL could not store this JSON value (text and jsonb refuse a NUL character and a lone
 * UTF-16 surrogate), or why it is unreasonable (nested deeper than MAX_JSON_DEPTH), naming the
 * field; null when it is fine. Walks without recursion.
 */
export function storableJsonProblem(value: unknown): { field: string; message: string } | null {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: '', depth: 0 }];
  const textProblem = (s: string) =>
    s.includes('\u0000')
      ? 'contains a NUL character (\\u0000)'
      : s.isWellFormed()
        ? null
        : 'contains a lone UTF-16 surrogate (an invalid \\uD800-\\uDFFF escape)';
  const at = (path: string) => path || '(body)';
  while (stack.length > 0) {
    const { value: v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) return { field: at(path), message: problem };
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH)
      return { field: at(path), message: `nested more than ${MAX_JSON_DEPTH} levels deep` };
    for (const [key, child] of Object.entries(v)) {
      const childPath = path ? `${path}.${key}` : key;
      const problem = textProblem(key);
      if (problem) return { field: at(path), message: `a key ${problem}` };
      stack.push({ value: child, path: childPath, depth: depth + 1 });
    }
  }
  return null;
}

export function query<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  return parse(schema, c.req.query(), 'query');
}

function parse<S extends z.ZodType>(schema: S, raw: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(raw);
  if (!result.success) {
    const details = zodDetails(result.error);
    throw new BadRequest(
      `invalid ${where}: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`,
      details,
    );
  }
  return result.data;
}
