/** Request parsing with zod: a bad body, query or path parameter is a 400 naming the field. */
import { jsonProblem } from '@updraft/core/json';
import type { Context } from 'hono';
import type { z } from 'zod';
import { BadRequest, zodDetails } from './errors.ts';

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
    const problem = jsonProblem(raw);
    if (problem) {
      const field = problem.path || '(body)';
      throw new BadRequest(`invalid body: ${field}: ${problem.message}`, [
        { field, message: problem.message },
      ]);
    }
  }
  return parse(schema, raw, 'body');
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
