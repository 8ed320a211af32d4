/**
 * Queueing within limits: pools (shared across DAGs), the DAG's max_active_tasks, the per-run
 * limit (Airflow 3's max_active_tasks) and per-task limits. A scheduled task instance is queued only
 * while all of them have room, decided inside the caller's transaction under locks:
 *
 *   lock order: DAG (blocking, by the DAG-first caller) → pool (blocking) → other DAGs (try only)
 *
 * so two queueing transactions can never wait on each other in a cycle. Candidates of a pool are
 * taken in one global order — priority_weight desc, logical date, id — across every DAG using the
 * pool: when slots free, the most important waiting work gets them, whichever DAG it belongs to.
 * A DAG whose lock another transaction holds is skipped here (that holder, or the scheduler's next
 * pass, queues its work): losing a race is normal.
 */
import { ConflictError, InvalidError, NotFoundError } from '@updraft/core/errors';
import { type Database, pipeline, type Queryable, rowsOf } from '@updraft/db';
import { type SQL, sql } from 'drizzle-orm';
import { CHANNELS } from './resources.ts';
import {
  intArray,
  type StateChange,
  type TaskTransitionOptions,
  transitionTasksStatement,
} from './transitions.ts';
import { type LoadedVersion, VersionCache } from './versions.ts';

export const DEFAULT_POOL = 'default_pool';

export interface QueueOptions {
  /** NOTIFY workers about queued task instances; default true. */
  notify?: boolean;
  versions?: VersionCache;
  /**
   * The pools to queue from (those the caller just scheduled into); default every pool the DAG's
   * scheduled task instances wait in.
   */
  pools?: readonly string[];
  /** Pools served in this transaction (filled in): their waiting work was already looked at. */
  served?: Set<string>;
  /** Results of queueingReadsSql(dagId, pools), run by the caller (pipelined with its own). */
  reads?: unknown[];
  /** Sent in the same round trip as the first transition to queued (see Rider). */
  rider?: Rider;
}

/**
 * A statement the caller sends after this transaction's first transition to queued, in the same
 * round trip: a worker's claim after a hand-off, which would otherwise wait for the queueing's
 * answer. Left unsent (and for the caller to run) when nothing is queued; work queued after it
 * (another run or pool) is counted in `queuedAfter`, for the caller to announce.
 */
export interface Rider {
  /** Built when it is sent (a claim stamps its start time then). */
  build(): SQL;
  sent: boolean;
  result?: unknown;
  /** Task instances queued in this transaction after it was sent: it did not see them. */
  queuedAfter?: number;
}

/**
 * The reads queueScheduledInPools starts with, in lock order: the DAG's lock and room, then for
 * each known pool its lock and first batch. A caller may pipeline them behind its own statements
 * and pass the results as `reads`.
 */
export function queueingReadsSql(dagId: string, pools: readonly string[] | undefined): SQL[] {
  return [
    lockDagSql(dagId),
    dagRoomSql(dagId),
    ...[...new Set(pools ?? [])]
      .sort()
      .flatMap((pool) => [lockPoolSql(pool), firstRoundSql(pool, null)]),
  ];
}

/**
 * The locks of queueingReadsSql without its reads, in one statement and in the same order: the
 * pool's lock is taken for the row the DAG's lock produced, so always after it. What queueAtOnce
 * needs ahead of it, when picking is likely not needed.
 */
export function queueingLocksSql(dagId: string, pool: string): SQL[] {
  return [
    sql`with dag as materialized (select pg_advisory_xact_lock(hashtext(${dagKey(dagId)})))
      select pg_advisory_xact_lock(hashtext(${poolKey(pool)})) from dag`,
  ];
}

/**
 * Queueing at once, for the task instances a decision schedules into one pool (a chain's
 * hand-off): the `instead` of their scheduling (transitions.ts), so they go straight to queued in
 * the statement that would have scheduled them, with no second round trip to pick them and no
 * second update. Only where picking could not have chosen otherwise: nothing else of a running
 * run waits in the pool, the pool has slots for all of them and their DAG has room for all of
 * them. Otherwise they are scheduled, and the caller picks as usual. To run behind
 * queueingLocksSql(dagId, pool) or queueingReadsSql(dagId, [pool]), under the DAG's and the
 * pool's locks. Null when one of them has a per-run or per-task limit, which only picking checks.
 */
export function queueAtOnce(
  version: LoadedVersion,
  dagId: string,
  pool: string,
  tis: readonly { id: number; taskId: string }[],
  now: Date,
): NonNullable<TaskTransitionOptions['instead']> | null {
  if (tis.length === 0 || tis.some((t) => hasOwnLimits(version, t.taskId))) return null;
  const ids = tis.map((t) => t.id);
  return {
    to: 'queued',
    reason: 'slot available',
    set: [sql`queued_at = ${now}`, sql`next_attempt_at = null`],
    when: sql`not exists (${candidatesSql(pool, null, new Set(), ids)})
      and exists (select 1 from pools p where p.name = ${pool}
        and p.slots - (${occupiedSlotsSql}) >= (select sum(s.pool_slots) from task_instances s
          where s.id = any(${intArray(ids)})))
      and exists (select 1 from dags d where d.dag_id = ${dagId} and not d.is_paused
        and d.max_active_tasks - ${dagActiveSql} >= ${ids.length})`,
  };
}

function poolKey(pool: string): string {
  return `updraft:pool:${pool}`;
}

function dagKey(dagId: string): string {
  return `updraft:dag:${dagId}`;
}

/** The transaction-scoped lock of one DAG (the one key every DAG lock uses). */
export const lockDagSql = (dagId: string) =>
  sql`select pg_advisory_xact_lock(hashtext(${dagKey(dagId)}))`;
const lockPoolSql = (pool: string) => sql`select pg_advisory_xact_lock(hashtext(${poolKey(pool)}))`;

/** The task instances a DAG has queued or running (`d`: its row in dags). */
const dagActiveSql = sql`(select count(*)::int from task_instances t where t.dag_id = d.dag_id
      and t.state in ('queued', 'running'))`;

/** A DAG's max_active_tasks, pause and active task instances (read under its lock). */
const dagRoomSql = (dagId: string) => sql`
  select d.max_active_tasks, d.is_paused,
    ${dagActiveSql} as active
  from dags d where d.dag_id = ${dagId}`;
type DagRoomRow = { max_active_tasks: number; is_paused: boolean; active: number };

const tryLockDagSql = (dagId: string) =>
  sql`select pg_try_advisory_xact_lock(hashtext(${dagKey(dagId)})) as ok`;
const tryLockPoolSql = (pool: string) =>
  sql`select pg_try_advisory_xact_lock(hashtext(${poolKey(pool)})) as ok`;
const gotLock = (result: unknown) => rowsOf<{ ok: boolean }>(result)[0]?.ok === true;

interface Candidate {
  id: number;
  dag_id: string;
  dag_run_id: number;
  dag_version_id: number;
  task_id: string;
  pool_slots: number;
}

interface DagRoom {
  room: number;
}

/** The limits of a task instance beyond its pool and DAG: its run's, and its task's. */
function ownLimits(version: LoadedVersion, taskId: string) {
  const task = version.tasks.get(taskId);
  return {
    perRun: version.spec.maxActiveTasksPerRun ?? null,
    perTaskDag: task?.maxActiveTisPerDag ?? null,
    perTaskRun: task?.maxActiveTisPerDagrun ?? null,
  };
}

function hasOwnLimits(version: LoadedVersion, taskId: string): boolean {
  const limits = ownLimits(version, taskId);
  return limits.perRun !== null || limits.perTaskDag !== null || limits.perTaskRun !== null;
}

/** Per-call bookkeeping of limits, loaded lazily and counted down as task instances are queued. */
class Limits {
  readonly #tx: Queryable;
  readonly #versions: VersionCache;
  readonly #lockedDags: Map<string, boolean>;
  readonly #dags = new Map<string, DagRoom | null>();
  readonly #runs = new Map<number, { room: number }>();
  readonly #tasksPerDag = new Map<string, { room: number }>();
  readonly #tasksPerRun = new Map<string, { room: number }>();

  constructor(tx: Queryable, versions: VersionCache, lockedDags: Map<string, boolean>) {
    this.#tx = tx;
    this.#versions = versions;
    this.#lockedDags = lockedDags;
  }

  /** The DAG's room (max_active_tasks), or null if it is paused or locked by someone else. */
  async dag(dagId: string): Promise<DagRoom | null> {
    if (this.#dags.has(dagId)) return this.#dags.get(dagId)!;
    let locked = this.#lockedDags.get(dagId);
    let row: DagRoomRow | undefined;
    if (locked === undefined) {
      // One round trip: the lock, then the room, read after it (a statement of its own, so it
      // sees what the lock's last holder committed). Without the lock the read is ignored.
      const [lock, room] = await pipeline(this.#tx, [tryLockDagSql(dagId), dagRoomSql(dagId)]);
      locked = gotLock(lock);
      this.#lockedDags.set(dagId, locked);
      if (locked) row = rowsOf<DagRoomRow>(room)[0];
    } else if (locked) {
      row = rowsOf<DagRoomRow>(await this.#tx.execute(dagRoomSql(dagId)))[0];
    }
    return this.prime(dagId, row);
  }

  /** Records a DAG's room from its row (read under its lock by the caller). */
  prime(dagId: string, row: DagRoomRow | undefined): DagRoom | null {
    // Pausing stops new task instances from being queued; running ones finish.
    const room = row && !row.is_paused ? { room: row.max_active_tasks - row.active } : null;
    this.#dags.set(dagId, room);
    return room;
  }

  /** Checks the run's and the task's own limits; counts the task instance if it fits. */
  async fits(c: Candidate): Promise<boolean> {
    const version = await this.#versions.get(this.#tx, Number(c.dag_version_id));
    const { perRun, perTaskDag, perTaskRun } = ownLimits(version, c.task_id);
    const checks: { room: number }[] = [];
    if (perRun !== null) {
      let r = this.#runs.get(Number(c.dag_run_id));
      if (!r) {
        r = { room: perRun - (await this.#count(sql`dag_run_id = ${c.dag_run_id}`)) };
        this.#runs.set(Number(c.dag_run_id), r);
      }
      checks.push(r);
    }
    if (perTaskDag !== null) {
      const key = `${c.dag_id}\0${c.task_id}`;
      let r = this.#tasksPerDag.get(key);
      if (!r) {
        r = {
          room:
            perTaskDag - (await this.#count(sql`dag_id = ${c.dag_id} and task_id = ${c.task_id}`)),
        };
        this.#tasksPerDag.set(key, r);
      }
      checks.push(r);
    }
    if (perTaskRun !== null) {
      const key = `${c.dag_run_id}\0${c.task_id}`;
      let r = this.#tasksPerRun.get(key);
      if (!r) {
        r = {
          room:
            perTaskRun -
            (await this.#count(sql`dag_run_id = ${c.dag_run_id} and task_id = ${c.task_id}`)),
        };
        this.#tasksPerRun.set(key, r);
      }
      checks.push(r);
    }
    if (checks.some((r) => r.room <= 0)) return false;
    for (const r of checks) r.room--;
    return true;
  }

  async #count(where: ReturnType<typeof sql>): Promise<number> {
    const [row] = rowsOf<{ n: number }>(
      await this.#tx.execute(sql`select count(*)::int as n from task_instances
        where ${where} and state in ('queued', 'running')`),
    );
    return row?.n ?? 0;
  }
}

export interface PoolRow {
  name: string;
  slots: number;
  include_deferred: boolean;
}

type CandidateRow = Candidate & { priority_weight: number; logical_date: unknown };
type FirstRoundRow = Partial<CandidateRow> & PoolRow & { occupied: number };

/** Scheduled task instances waiting in a pool, in global priority order. */
function candidatesSql(
  poolName: string,
  onlyDag: string | null,
  fullDags: ReadonlySet<string>,
  seen: readonly number[],
) {
  return sql`
    select t.id, t.dag_id, t.dag_run_id, r.dag_version_id, t.task_id, t.pool_slots,
      t.priority_weight, t.logical_date
    from task_instances t join dag_runs r on r.id = t.dag_run_id
    where t.state = 'scheduled' and t.pool = ${poolName} and r.state = 'running'
      ${onlyDag === null ? sql`` : sql`and t.dag_id = ${onlyDag}`}
      ${
        fullDags.size === 0
          ? sql``
          : sql`and t.dag_id not in (${sql.join(
              [...fullDags].map((d) => sql`${d}`),
              sql`, `,
            )})`
      }
      ${seen.length === 0 ? sql`` : sql`and t.id <> all(${intArray(seen)})`}
    order by t.priority_weight desc, t.logical_date, t.id`;
}

/** The slots a pool's task instances hold (`p`: its row in pools). */
const occupiedSlotsSql = sql`(select coalesce(sum(t.pool_slots), 0)::int from task_instances t
          where t.pool = p.name and t.state in ('queued', 'running'))
        + case when p.include_deferred then (select coalesce(sum(t.pool_slots), 0)::int
          from task_instances t where t.pool = p.name and t.state in ('up_for_reschedule', 'deferred'))
          else 0 end`;

/**
 * The pool's row and occupancy with its first batch of candidates (free slots + 50), in one
 * statement; no row when the pool does not exist. Read after the pool's lock.
 */
function firstRoundSql(poolName: string, onlyDag: string | null) {
  return sql`
    with p as (
      select p.name, p.slots, p.include_deferred,
        ${occupiedSlotsSql} as occupied
      from pools p where p.name = ${poolName}
    ), c as (${candidatesSql(poolName, onlyDag, new Set(), [])}
      limit (select case when slots > occupied then slots - occupied + 50 else 0 end from p))
    select p.name, p.slots, p.include_deferred, p.occupied, c.*
    from p left join c on true
    order by c.priority_weight desc, c.logical_date, c.id`;
}

/**
 * Queues scheduled task instances of one pool in global priority order while the pool, their
 * DAG, their run and their task have room. `lockedDags` are DAGs this transaction already holds
 * (true) or failed to lock (false); any other DAG is try-locked here. `prefetched`: the pool's
 * lock was taken and its first round read by the caller (pipelined with other reads).
 */
async function queueFromPool(
  tx: Queryable,
  poolName: string,
  actor: string,
  now: Date,
  limits: Limits,
  onlyDag: string | null,
  opts: {
    served?: Set<string> | undefined;
    prefetched?: FirstRoundRow[];
    rider?: Rider | undefined;
  } = {},
): Promise<StateChange[]> {
  let first = opts.prefetched;
  if (!first) {
    await tx.execute(lockPoolSql(poolName));
    first = rowsOf<FirstRoundRow>(await tx.execute(firstRoundSql(poolName, onlyDag)));
  }
  opts.served?.add(poolName);
  const [head] = first;
  if (!head) {
    // Like Airflow: the task instance stays scheduled; its reason says why.
    const reason = `pool "${poolName}" does not exist; create it (updraft pools set ${poolName} <slots>) or change the task's pool`;
    await tx.execute(sql`update task_instances set state_reason = ${reason}
      where state = 'scheduled' and pool = ${poolName} and state_reason is distinct from ${reason}`);
    return [];
  }
  const pool: PoolRow = {
    name: head.name,
    slots: Number(head.slots),
    include_deferred: head.include_deferred,
  };
  let free = pool.slots - Number(head.occupied);
  if (free <= 0) return [];
  const picked: number[] = [];
  const tooBig: Candidate[] = [];
  // DAGs that can take no more here, and rows already looked at: the next batch skips them, so
  // a full DAG with many waiting task instances never hides other DAGs' work behind it.
  const fullDags = new Set<string>();
  const seen: number[] = [];
  let rows = first.filter((r): r is FirstRoundRow & CandidateRow => r.id != null);
  let limit = free + 50;
  for (let round = 0; round < 4 && free > 0; round++) {
    if (round > 0) {
      limit = free + 50;
      // No row locks needed: queueing into this pool is serialised by its lock, and the
      // transition below re-checks each row's state.
      rows = rowsOf(
        await tx.execute(sql`${candidatesSql(poolName, onlyDag, fullDags, seen)} limit ${limit}`),
      );
    }
    for (const c of rows) {
      seen.push(Number(c.id));
      if (free <= 0) break;
      if (fullDags.has(c.dag_id)) continue;
      const slots = Number(c.pool_slots);
      if (slots > pool.slots) {
        tooBig.push(c);
        continue;
      }
      // A bigger task instance does not block smaller ones behind it (as in Airflow).
      if (slots > free) continue;
      const dag = await limits.dag(c.dag_id);
      if (!dag || dag.room <= 0) {
        fullDags.add(c.dag_id);
        continue;
      }
      if (!(await limits.fits(c))) continue;
      dag.room--;
      free -= slots;
      picked.push(Number(c.id));
    }
    if (rows.length < limit) break;
  }
  for (const c of tooBig) {
    const reason = `needs ${c.pool_slots} slots but pool "${poolName}" has only ${pool.slots}`;
    await tx.execute(sql`update task_instances set state_reason = ${reason}
      where id = ${c.id} and state_reason is distinct from ${reason}`);
  }
  const queueing = transitionTasksStatement(picked, 'queued', {
    actor,
    reason: 'slot available',
    from: ['scheduled'],
    set: [sql`queued_at = ${now}`],
  });
  if (!queueing) return [];
  const { rider } = opts;
  if (!rider || rider.sent) {
    const queued = queueing.parse(await tx.execute(queueing.sql));
    if (rider) rider.queuedAfter = (rider.queuedAfter ?? 0) + queued.length;
    return queued;
  }
  const [queued, riderResult] = await pipeline(tx, [queueing.sql, rider.build()]);
  rider.sent = true;
  rider.result = riderResult;
  return queueing.parse(queued);
}

/**
 * Queues a DAG's scheduled task instances within every limit (called by advanceRun through
 * queueScheduled). Each pool its waiting task instances use is served in global priority order,
 * so another DAG's more important work waiting in the same pool is queued first (if its DAG is
 * free to lock).
 */
export async function queueScheduledInPools(
  tx: Queryable,
  dagId: string,
  actor: string,
  now: Date,
  opts: QueueOptions = {},
): Promise<StateChange[]> {
  const versions = opts.versions ?? new VersionCache(100);
  const limits = new Limits(tx, versions, new Map([[dagId, true]]));
  // One round trip: the DAG's lock and room and, when the pools are known, each pool's lock and
  // first batch (in lock order: DAG, then pools by name).
  const known = opts.pools !== undefined ? [...new Set(opts.pools)].sort() : null;
  const results = opts.reads ?? (await pipeline(tx, queueingReadsSql(dagId, opts.pools)));
  // The common fast path: a paused DAG, or one at its max_active_tasks, queues nothing (its
  // waiting work is released by the slot's completion or the scheduler's pass).
  const own = limits.prime(dagId, rowsOf<DagRoomRow>(results[1])[0]);
  if (!own || own.room <= 0) return [];
  const pools =
    known ??
    rowsOf<{ pool: string }>(
      await tx.execute(sql`select distinct pool from task_instances
        where dag_id = ${dagId} and state = 'scheduled' order by pool`),
    ).map((r) => r.pool);
  const changes: StateChange[] = [];
  for (const [i, pool] of pools.entries()) {
    changes.push(
      ...(await queueFromPool(tx, pool, actor, now, limits, null, {
        served: opts.served,
        rider: opts.rider,
        ...(known && { prefetched: rowsOf<FirstRoundRow>(results[3 + 2 * i]) }),
      })),
    );
  }
  if (changes.length > 0 && (opts.notify ?? true)) {
    await tx.execute(sql`select pg_notify(${CHANNELS.taskQueued}, '')`);
  }
  return changes;
}

/**
 * After task instances left their slots (their tries ended): for each of their pools with room
 * and work of any DAG waiting, queue it now rather than at the scheduler's next pass.
 */
export async function releasePoolSlots(
  tx: Queryable,
  taskInstanceIds: readonly number[],
  actor: string,
  now: Date,
  opts: QueueOptions = {},
): Promise<StateChange[]> {
  if (taskInstanceIds.length === 0) return [];
  const pools = rowsOf<{ pool: string; waiting: boolean }>(
    // A lateral look at the head of each pool's queue, in its index order, so the index answers
    // it: as an exists(), the planner may hash a scan of every scheduled task instance instead
    // (it did, on the stale statistics of a quickly growing table: 1–2 ms a completion batch).
    await tx.execute(sql`select p.pool, w.head is not null as waiting
      from (select distinct t.pool from task_instances t
        where t.id = any(${intArray(taskInstanceIds)})) p
      left join lateral (select w.id as head from task_instances w
        where w.state = 'scheduled' and w.pool = p.pool
        order by w.pool, w.priority_weight desc, w.logical_date, w.id limit 1) w on true
      order by p.pool`),
  );
  const versions = opts.versions ?? new VersionCache(100);
  const changes: StateChange[] = [];
  for (const row of pools) {
    // Already served in this transaction (its waiting work was looked at after the lock).
    if (opts.served?.has(row.pool)) continue;
    // Whether the pool has room now is read under its lock (queueFromPool): the slots just
    // freed almost always leave some, and a queueing that lost the pool's lock to another
    // transaction may have left room behind too.
    if (!row.waiting) continue;
    // Never wait for the pool here (the caller may hold DAG locks and rows): if someone else is
    // queueing into it, wake the scheduler, whose next pass queues for the pool after our commit.
    // One round trip: the lock, then the pool's first round, read after it (ignored without it).
    const [lock, first] = await pipeline(tx, [
      tryLockPoolSql(row.pool),
      firstRoundSql(row.pool, null),
    ]);
    if (!gotLock(lock)) {
      await tx.execute(sql`select pg_notify(${CHANNELS.scheduler}, ${`pool:${row.pool}`})`);
      continue;
    }
    const limits = new Limits(tx, versions, new Map());
    changes.push(
      ...(await queueFromPool(tx, row.pool, actor, now, limits, null, {
        served: opts.served,
        rider: opts.rider,
        prefetched: rowsOf<FirstRoundRow>(first),
      })),
    );
  }
  if (changes.length > 0 && (opts.notify ?? true)) {
    await tx.execute(sql`select pg_notify(${CHANNELS.taskQueued}, '')`);
  }
  return changes;
}

/**
 * The scheduler's leftover pass: every pool with waiting task instances, one transaction each,
 * in global priority order across DAGs.
 */
export async function queueWaitingPools(
  db: Database,
  actor: string,
  now: () => Date,
  versions: VersionCache,
  onError: (error: unknown, pool: string) => void,
): Promise<StateChange[]> {
  const pools = rowsOf<{ pool: string }>(
    await db.execute(
      sql`select distinct pool from task_instances where state = 'scheduled' order by pool`,
    ),
  );
  const all: StateChange[] = [];
  for (const { pool } of pools) {
    try {
      const changes = await db.transaction(async (tx) => {
        const limits = new Limits(tx, versions, new Map());
        const out = await queueFromPool(tx, pool, actor, now(), limits, null);
        if (out.length > 0) await tx.execute(sql`select pg_notify(${CHANNELS.taskQueued}, '')`);
        return out;
      });
      all.push(...changes);
    } catch (error) {
      onError(error, pool);
    }
  }
  return all;
}

export interface PoolStats {
  name: string;
  slots: number;
  description: string | null;
  includeDeferred: boolean;
  occupied: number;
  running: number;
  queued: number;
  scheduled: number;
  deferred: number;
  open: number;
}

/** Pools with their slot usage (Airflow's occupied/running/queued/open slots). */
export async function poolStats(db: Queryable, name?: string): Promise<PoolStats[]> {
  const rows = rowsOf<{
    name: string;
    slots: number;
    description: string | null;
    include_deferred: boolean;
    running: number;
    queued: number;
    scheduled: number;
    deferred: number;
  }>(
    await db.execute(sql`
      select p.name, p.slots, p.description, p.include_deferred,
        coalesce(sum(t.pool_slots) filter (where t.state = 'running'), 0)::int as running,
        coalesce(sum(t.pool_slots) filter (where t.state = 'queued'), 0)::int as queued,
        coalesce(sum(t.pool_slots) filter (where t.state = 'scheduled'), 0)::int as scheduled,
        coalesce(sum(t.pool_slots) filter (where t.state in ('up_for_reschedule', 'deferred')), 0)::int as deferred
      from pools p
      left join task_instances t on t.pool = p.name
        and t.state in ('running', 'queued', 'scheduled', 'up_for_reschedule', 'deferred')
      ${name === undefined ? sql`` : sql`where p.name = ${name}`}
      group by p.name order by p.name`),
  );
  return rows.map((r) => {
    const occupied = r.running + r.queued + (r.include_deferred ? r.deferred : 0);
    return {
      name: r.name,
      slots: r.slots,
      description: r.description,
      includeDeferred: r.include_deferred,
      occupied,
      running: r.running,
      queued: r.queued,
      scheduled: r.scheduled,
      deferred: r.deferred,
      open: r.slots - occupied,
    };
  });
}

// Not "." or "..": a URL path segment of those is resolved away, and /pools/.. could not be read.
const POOL_NAME = /^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,250}$/;

/** Creates or updates a pool; more slots are used at once (the scheduler is woken). */
export async function setPool(
  db: Database,
  input: { name: string; slots?: number; description?: string | null; includeDeferred?: boolean },
): Promise<PoolStats> {
  if (!POOL_NAME.test(input.name))
    throw new InvalidError(
      `pool name "${input.name}" must be 1-250 letters, digits, "_", "-" or "." (and not "." or "..")`,
    );
  if (input.slots !== undefined && (!Number.isInteger(input.slots) || input.slots < 0))
    throw new InvalidError(`pool "${input.name}": slots must be a non-negative integer`);
  await db.transaction(async (tx) => {
    const [existing] = rowsOf<{ name: string }>(
      await tx.execute(sql`select name from pools where name = ${input.name} for update`),
    );
    if (!existing) {
      if (input.slots === undefined)
        throw new NotFoundError(`pool "${input.name}" does not exist (give slots to create it)`);
      await tx.execute(sql`insert into pools (name, slots, description, include_deferred)
        values (${input.name}, ${input.slots}, ${input.description ?? null}, ${input.includeDeferred ?? false})`);
    } else {
      await tx.execute(sql`update pools set
          slots = coalesce(${input.slots ?? null}::int, slots),
          description = ${input.description === undefined ? sql`description` : sql`${input.description}`},
          include_deferred = coalesce(${input.includeDeferred ?? null}::boolean, include_deferred),
          updated_at = now()
        where name = ${input.name}`);
    }
    // Work waiting for this pool may fit now, and task instances waiting for it to exist can go.
    await tx.execute(sql`select pg_notify(${CHANNELS.scheduler}, ${`pool:${input.name}`})`);
  });
  return (await poolStats(db, input.name))[0]!;
}

/**
 * Creates or resizes the pools an environment declares (teams.yaml), at start-up. One upsert per
 * pool, so the scheduler, workers and API starting at once never race each other into a conflict.
 */
export async function declarePools(
  db: Database,
  pools: readonly {
    name: string;
    slots: number;
    description?: string | undefined;
    includeDeferred?: boolean | undefined;
  }[],
): Promise<void> {
  for (const pool of pools) {
    await db.execute(sql`insert into pools (name, slots, description, include_deferred)
      values (${pool.name}, ${pool.slots}, ${pool.description ?? null}, ${pool.includeDeferred ?? false})
      on conflict (name) do update set slots = excluded.slots, description = excluded.description,
        include_deferred = excluded.include_deferred, updated_at = now()`);
  }
  if (pools.length > 0) await db.execute(sql`select pg_notify(${CHANNELS.scheduler}, 'pools')`);
}

/** Deletes a pool. default_pool cannot be deleted; nor a pool with queued or running work. */
export async function deletePool(db: Database, name: string): Promise<void> {
  if (name === DEFAULT_POOL) throw new InvalidError(`"${DEFAULT_POOL}" cannot be deleted`);
  await db.transaction(async (tx) => {
    await tx.execute(lockPoolSql(name));
    const [pool] = rowsOf<{ name: string }>(
      await tx.execute(sql`select name from pools where name = ${name} for update`),
    );
    if (!pool) throw new NotFoundError(`pool "${name}" does not exist`);
    const [busy] = rowsOf<{ n: number }>(
      await tx.execute(sql`select count(*)::int as n from task_instances
        where pool = ${name} and state in ('queued', 'running')`),
    );
    if ((busy?.n ?? 0) > 0)
      throw new ConflictError(
        `pool "${name}" has ${busy!.n} queued or running task instance(s); wait for them to finish`,
      );
    await tx.execute(sql`delete from pools where name = ${name}`);
  });
}
