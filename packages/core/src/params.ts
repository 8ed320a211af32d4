/**
 * Run parameters: a DAG declares defaults and, optionally, a rule per parameter (a small subset of
 * JSON Schema, the way Airflow's Param does). A manual run's conf is merged over the defaults and
 * checked against the rules when the run is triggered, so a bad conf is refused with the field
 * named, instead of failing a task later.
 */
import { z } from 'zod';

export const paramRuleSchema = z.strictObject({
  type: z.enum(['string', 'number', 'integer', 'boolean', 'object', 'array']).optional(),
  enum: z.array(z.unknown()).min(1).optional(),
  minimum: z.number().optional(),
  maximum: z.number().optional(),
  minLength: z.number().int().min(0).optional(),
  maxLength: z.number().int().min(0).optional(),
  pattern: z.string().optional(),
  /** The value must be present (no default, so every manual run must give it). */
  required: z.boolean().optional(),
  description: z.string().optional(),
});
export type ParamRule = z.infer<typeof paramRuleSchema>;

export interface ParamIssue {
  field: string;
  message: string;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (Number.isInteger(value)) return 'integer';
  return typeof value;
}

/** Checks `values` (defaults merged with conf) against the rules; returns every problem. */
export function paramIssues(
  rules: Record<string, ParamRule>,
  values: Record<string, unknown>,
): ParamIssue[] {
  const issues: ParamIssue[] = [];
  // Sorted by name: stored specs (jsonb) do not keep key order.
  for (const [name, rule] of Object.entries(rules).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  )) {
    const field = `conf.${name}`;
    const value = values[name];
    if (value === undefined) {
      if (rule.required) issues.push({ field, message: 'is required' });
      continue;
    }
    const actual = typeOf(value);
    if (rule.type) {
      const ok =
        rule.type === 'number' ? actual === 'number' || actual === 'integer' : actual === rule.type;
      if (!ok) {
        issues.push({ field, message: `must be of type ${rule.type}, got ${actual}` });
        continue;
      }
    }
    if (
      rule.enum &&
      !rule.enum.some((allowed) => JSON.stringify(allowed) === JSON.stringify(value))
    ) {
      issues.push({
        field,
        message: `must be one of ${rule.enum.map((e) => JSON.stringify(e)).join(', ')}`,
      });
    }
    if (typeof value === 'number') {
      if (rule.minimum !== undefined && value < rule.minimum)
        issues.push({ field, message: `must be at least ${rule.minimum}` });
      if (rule.maximum !== undefined && value > rule.maximum)
        issues.push({ field, message: `must be at most ${rule.maximum}` });
    }
    if (typeof value === 'string') {
      if (rule.minLength !== undefined && value.length < rule.minLength) {
        issues.push({ field, message: `must be at least ${rule.minLength} characters` });
      }
      if (rule.maxLength !== undefined && value.length > rule.maxLength) {
        issues.push({ field, message: `must be at most ${rule.maxLength} characters` });
      }
      if (rule.pattern !== undefined && !new RegExp(rule.pattern).test(value)) {
        issues.push({ field, message: `must match ${rule.pattern}` });
      }
    }
  }
  return issues;
}
