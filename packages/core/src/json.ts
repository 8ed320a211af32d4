/**
 * What PostgreSQL can store as JSON (jsonb): what an API body, a run's conf and a DAG version's
 * params and task options must be. One check for all of them, so a value refused in one place is
 * refused in all, naming where it is.
 */

/** Deeper JSON than any conf needs; deeper still would overflow the stack of whatever walks it. */
export const MAX_JSON_DEPTH = 64;

/**
 * The first place where a value cannot be stored as JSON, or null: a function, a BigInt, NaN, a
 * cycle, a Map or Date or other class instance; a string or key with a NUL character or a lone
 * UTF-16 surrogate (text and jsonb refuse both); nesting deeper than MAX_JSON_DEPTH. `undefined`
 * is allowed (JSON leaves it out, as if the key were absent). Paths are dotted from `path`
 * (`params.list.0.name`); a key's problem is reported at the object holding it.
 */
export function jsonProblem(value: unknown, path = ''): { path: string; message: string } | null {
  const ancestors = new Set<object>();
  const walk = (
    v: unknown,
    at: string,
    depth: number,
  ): { path: string; message: string } | null => {
    if (v === null || v === undefined || typeof v === 'boolean') return null;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      return problem ? { path: at, message: problem } : null;
    }
    if (typeof v === 'number')
      return Number.isFinite(v) ? null : { path: at, message: `${v} is not a JSON number` };
    if (typeof v !== 'object')
      return { path: at, message: `a ${typeof v} cannot be stored (only JSON values can)` };
    if (ancestors.has(v)) return { path: at, message: 'refers to itself (a cycle)' };
    const proto = Object.getPrototypeOf(v);
    if (!Array.isArray(v) && proto !== Object.prototype && proto !== null) {
      const kind = (v as { constructor?: { name?: string } }).constructor?.name ?? 'class instance';
      return {
        path: at,
        message: `a ${kind} cannot be stored (only JSON values can${kind === 'Date' ? '; use an ISO string' : ''})`,
      };
    }
    // Checked before going deeper: the walk's own recursion stays within this bound.
    if (depth >= MAX_JSON_DEPTH)
      return { path: at, message: `nested more than ${MAX_JSON_DEPTH} levels deep` };
    ancestors.add(v);
    try {
      for (const [key, child] of Object.entries(v)) {
        const keyProblem = textProblem(key);
        if (keyProblem) return { path: at, message: `a key ${keyProblem}` };
        const found = walk(child, at ? `${at}.${key}` : key, depth + 1);
        if (found) return found;
      }
      return null;
    } finally {
      ancestors.delete(v);
    }
  };
  return walk(value, path, 0);
}

function textProblem(s: string): string | null {
  if (s.includes('\u0000')) return 'contains a NUL character (\\u0000)';
  return s.isWellFormed()
    ? null
    : 'contains a lone UTF-16 surrogate (an invalid \\uD800-\\uDFFF escape)';
}
