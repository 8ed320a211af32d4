/** Teams are declared in environments/<env>/teams.yaml; this mirrors them into the database. */
import type { Team } from '@updraft/core/environment';
import { schema } from '@updraft/db';
import { sql } from 'drizzle-orm';
import type { EngineResources } from './resources.ts';

export async function syncTeams(
  r: EngineResources,
  teams: readonly Pick<Team, 'id' | 'name' | 'namespace'>[],
): Promise<void> {
  if (teams.length === 0) return;
  await r.database.db
    .insert(schema.teams)
    .values(teams.map((t) => ({ id: t.id, name: t.name, namespace: t.namespace })))
    .onConflictDoUpdate({
      target: schema.teams.id,
      set: { name: sql`excluded.name`, namespace: sql`excluded.namespace`, updatedAt: new Date() },
    });
}
