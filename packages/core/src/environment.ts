/**
 * The shape of `environments/<env>/`: which environment a process runs in, and the teams that
 * environment hosts. Pure schemas only; reading the files is the caller's job.
 */
import { z } from 'zod';

export const ENVIRONMENTS = ['local', 'dev', 'qa', 'prod'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];
export const environmentNameSchema = z.enum(ENVIRONMENTS);

/** Kubernetes-style quantity such as "500m", "2", "4Gi". */
const quantity = z
  .string()
  .regex(
    /^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/,
    'must be a Kubernetes quantity like "500m" or "4Gi"',
  );

/** Team ids double as Kubernetes label values and namespace suffixes, so they follow DNS-1123. */
export const teamIdSchema = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/,
    'must be lowercase letters, digits and dashes (DNS-1123), at most 40 characters',
  );

export const teamSchema = z.strictObject({
  id: teamIdSchema,
  name: z.string().min(1),
  /** Kubernetes namespace that runs this team's pods. */
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a DNS-1123 label'),
  /** ResourceQuota for the namespace. */
  quota: z.strictObject({
    cpu: quantity,
    memory: quantity,
    pods: z.number().int().positive(),
  }),
  /** Where this team's shell and function tasks run unless a task says otherwise (default: worker). */
  taskExecutor: z.enum(['worker', 'pod']).optional(),
  /** LimitRange defaults for containers that do not set their own. */
  defaultContainerResources: z
    .strictObject({
      cpu: quantity,
      memory: quantity,
    })
    .optional(),
});
export type Team = z.infer<typeof teamSchema>;

/**
 * A pool declared for the environment (created or resized at start-up, so every environment has
 * the same pools). Pools made over the API or CLI and not declared here are left alone.
 */
export const poolSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,250}$/, 'must be 1-250 letters, digits, "_", "-" or "."'),
  slots: z.number().int().min(0),
  description: z.string().optional(),
  /** up_for_reschedule / deferred task instances occupy slots too. */
  includeDeferred: z.boolean().optional(),
});
export type PoolDeclaration = z.infer<typeof poolSchema>;

export const teamsFileSchema = z
  .strictObject({ teams: z.array(teamSchema).min(1), pools: z.array(poolSchema).default([]) })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    for (const [i, team] of file.teams.entries()) {
      if (seen.has(team.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['teams', i, 'id'],
          message: `duplicate team id "${team.id}"`,
        });
      }
      seen.add(team.id);
    }
    const pools = new Set<string>();
    for (const [i, pool] of file.pools.entries()) {
      if (pools.has(pool.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['pools', i, 'name'],
          message: `duplicate pool "${pool.name}"`,
        });
      }
      pools.add(pool.name);
    }
  });
export type TeamsFile = z.infer<typeof teamsFileSchema>;
