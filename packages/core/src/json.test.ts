import { describe, expect, it } from 'vitest';
import { jsonProblem, MAX_JSON_DEPTH } from './json.ts';

describe('jsonProblem', () => {
  it('accepts what jsonb stores, undefined left out as JSON does', () => {
    expect(jsonProblem({ a: [1, 'x', null, true, { b: undefined }] }, 'params')).toBeNull();
  });

  it.each([
    ['a NUL in a string', { list: ['ok', 'a\u0000b'] }, 'params.list.1', /NUL character/],
    ['a NUL in a key', { inner: { 'k\u0000': 1 } }, 'params.inner', /^a key contains a NUL/],
    ['a lone surrogate', { s: '\uD800' }, 'params.s', /lone UTF-16 surrogate/],
    ['a BigInt', { n: 10n }, 'params.n', /a bigint cannot be stored/],
    ['a Map', { m: new Map() }, 'params.m', /a Map cannot be stored/],
    ['Infinity', { x: Number.POSITIVE_INFINITY }, 'params.x', /Infinity is not a JSON number/],
  ])('names %s and where it is', (_what, value, path, message) => {
    const problem = jsonProblem(value, 'params');
    expect(problem?.path).toBe(path);
    expect(problem?.message).toMatch(message);
  });

  it('reports a cycle as one, and nesting past the limit without overflowing the stack', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(jsonProblem(cyclic, 'params')).toEqual({
      path: 'params.self',
      message: 'refers to itself (a cycle)',
    });
    const deep = JSON.parse(`${'['.repeat(20_000)}${']'.repeat(20_000)}`);
    expect(jsonProblem(deep)?.message).toBe(`nested more than ${MAX_JSON_DEPTH} levels deep`);
  });
});
