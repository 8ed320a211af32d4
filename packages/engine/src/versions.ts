/**
 * DAG versions are immutable, so their parsed forms (spec, priorities) are cached by id forever
 * (bounded). Every process reads the version a run records, never "the latest" DAG.
 */
import { type DagSpec, effectivePriorities, type TaskSpec } from '@updraft/core/dag';
import { type Queryable, schema } from '@updraft/db';
import { eq } from 'drizzle-orm';

export interface LoadedVersion {
  id: number;
  dagId: string;
  fileloc: string;
  sourceHash: string;
  spec: DagSpec;
  tasks: Map<string, TaskSpec>;
  /**
   * Each task's effective priority (weight rules), computed on first use: only creating task
   * instances needs it, and on a DAG of thousands of tasks it costs a good part of a second.
   */
  readonly priorities: Map<string, number>;
}

export class VersionCache {
  readonly #entries = new Map<number, LoadedVersion>();
  readonly #loading = new Map<number, Promise<LoadedVersion>>();
  readonly #max: number;

  constructor(max = 2000) {
    this.#max = max;
  }

  async get(db: Queryable, versionId: number): Promise<LoadedVersion> {
    const hit = this.#entries.get(versionId);
    if (hit) return hit;
    // Many tasks of a new version start at once: one read serves them all.
    let loading = this.#loading.get(versionId);
    if (!loading) {
      loading = this.#load(db, versionId).finally(() => this.#loading.delete(versionId));
      this.#loading.set(versionId, loading);
    }
    return loading;
  }

  async #load(db: Queryable, versionId: number): Promise<LoadedVersion> {
    const [row] = await db
      .select()
      .from(schema.dagVersions)
      .where(eq(schema.dagVersions.id, versionId));
    if (!row) throw new Error(`DAG version ${versionId} does not exist`);
    let priorities: Map<string, number> | undefined;
    const loaded: LoadedVersion = {
      id: row.id,
      dagId: row.dagId,
      fileloc: row.fileloc,
      sourceHash: row.sourceHash,
      spec: row.spec,
      tasks: new Map(row.spec.tasks.map((t) => [t.taskId, t])),
      get priorities() {
        priorities ??= effectivePriorities(row.spec.tasks);
        return priorities;
      },
    };
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(versionId, loaded);
    return loaded;
  }
}
