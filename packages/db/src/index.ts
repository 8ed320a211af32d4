/**
 * Opening Updraft's database: PostgreSQL through postgres.js, or embedded PGlite. Both give the
 * same Drizzle API and run the same committed migrations.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type SQL, sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { withPreparedStatements } from './prepared.ts';
import * as schema from './schema/index.ts';

export { schema };
export type Schema = typeof schema;
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
/** A transaction handle; has the same query API as Database. */
export type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];
export type Queryable = Database | Tx;

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../drizzle', import.meta.url));

export interface DatabaseHandle {
  db: Database;
  kind: 'postgres' | 'pglite';
  /** The PostgreSQL URL this handle was opened with (undefined for PGlite). */
  url: string | undefined;
  /** Subscribes to a NOTIFY channel. Resolves to an unsubscribe function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** postgres://… URL. When absent, an embedded PGlite database is used. */
  url?: string | undefined;
  /**
   * PGlite data directory; in memory when absent. A new one is created, with the migrations
   * applied, in a child process (see createPgliteInChild), unless `createInProcess`.
   */
  dataDir?: string | undefined;
  /** Create a new PGlite data directory in this process (the child's own option). */
  createInProcess?: boolean | undefined;
  /** Pool size for PostgreSQL. */
  maxConnections?: number | undefined;
  /** Named prepared statements on PostgreSQL (default true): see prepared.ts. */
  preparedStatements?: boolean | undefined;
  applicationName?: string | undefined;
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<DatabaseHandle> {
  if (opts.url) return openPostgres(opts.url, opts);
  // The creation child works in a side directory, under its parent's lock.
  const unlock = opts.dataDir && !opts.createInProcess ? lockDataDir(opts.dataDir) : () => {};
  try {
    if (opts.dataDir && !opts.createInProcess && isNewDataDir(opts.dataDir))
      await createPgliteInChild(opts.dataDir);
    return await openPglite(opts.dataDir, unlock);
  } catch (error) {
    unlock();
    throw error;
  }
}

/** Data-directory locks this process holds (a second open here would run two PGlites on them). */
const heldLocks = new Set<string>();

/**
 * One process at a time per embedded data directory: PGlite is PostgreSQL in this process, and a
 * second one on the same files would corrupt them. The lock is a file beside the directory naming
 * its process and host, made whole in one step (a link to a file already written, so nobody reads
 * it half-written). One left by a process of this host that no longer runs is taken over: renamed
 * away (one taker wins) and checked to be the one judged stale. Returns the release.
 */
function lockDataDir(dataDir: string): () => void {
  const lockPath = resolve(`${dataDir}.lock`);
  if (heldLocks.has(lockPath))
    throw new Error(`the embedded database in ${dataDir} is already open in this process`);
  mkdirSync(dirname(lockPath), { recursive: true });
  const me = `${process.pid} ${hostname()}`;
  for (let attempt = 0; attempt < 5; attempt++) {
    const mine = `${lockPath}.${process.pid}.${randomUUID()}`;
    writeFileSync(mine, `${me}\n`);
    try {
      linkSync(mine, lockPath);
      heldLocks.add(lockPath);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        heldLocks.delete(lockPath);
        rmSync(lockPath, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(mine, { force: true });
    }
    const holder = readHolder(lockPath);
    if (holder && !isStale(holder)) {
      throw new Error(
        `the embedded database in ${dataDir} is in use by another process (pid ${holder.pid}${holder.host === hostname() ? '' : ` on ${holder.host}`}): stop it, or use another data directory (if no such process runs, remove ${lockPath})`,
      );
    }
    // Stale (or gone meanwhile): take it away, then make sure what was taken is what was judged.
    const taken = `${lockPath}.stale.${process.pid}.${randomUUID()}`;
    try {
      renameSync(lockPath, taken);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      continue;
    }
    const was = readHolder(taken);
    if (was && !isStale(was)) {
      // Another starter's fresh lock, made after the stale one was read: give it back.
      try {
        linkSync(taken, lockPath);
      } catch {}
    }
    rmSync(taken, { force: true });
  }
  throw new Error(`could not lock the embedded database in ${dataDir}: its lock kept changing`);
}

function readHolder(lockPath: string): { pid: number; host: string } | null {
  try {
    const [pid, host] = readFileSync(lockPath, 'utf8').trim().split(' ');
    return { pid: Number.parseInt(pid ?? '', 10), host: host ?? '' };
  } catch {
    return null;
  }
}

/**
 * A lock of a process of this host that no longer runs, or of this process's pid but not held
 * here (left by an earlier process that had this pid, as a container restarted with pid 1 has).
 */
function isStale(holder: { pid: number; host: string }): boolean {
  if (holder.host !== hostname() || !Number.isInteger(holder.pid)) return false;
  return holder.pid === process.pid || !isAlive(holder.pid);
}

async function openPostgres(url: string, opts: OpenDatabaseOptions): Promise<DatabaseHandle> {
  const { default: postgres } = await import('postgres');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  const client = postgres(url, {
    max: opts.maxConnections ?? 10,
    // Off, postgres.js prepares nothing, whatever a query asks for.
    prepare: opts.preparedStatements ?? true,
    onnotice: () => {},
    connection: { application_name: opts.applicationName ?? 'updraft' },
    // Connections to a restarted database are replaced transparently.
    idle_timeout: 60,
    max_lifetime: 60 * 30,
  });
  const db = drizzle(withPreparedStatements(client), {
    schema,
    casing: 'snake_case',
  }) as unknown as Database;
  // Drizzle makes postgres.js pass timestamps through untouched (its columns send ISO strings);
  // let Date parameters in raw `sql` fragments through too, as PGlite does.
  const serializers = client.options.serializers as Record<number, (value: unknown) => unknown>;
  for (const oid of [1114, 1184]) {
    const inner = serializers[oid] ?? ((value: unknown) => value);
    serializers[oid] = (value) => (value instanceof Date ? value.toISOString() : inner(value));
  }
  return {
    db,
    kind: 'postgres',
    url,
    async listen(channel, onNotify) {
      const sub = await client.listen(channel, (payload) => onNotify(payload));
      return () => sub.unlisten();
    },
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}

/**
 * The embedded database serves one laptop's platform: PostgreSQL's server-sized buffer defaults
 * (128 MB of shared buffers, touched at start inside the WASM memory) would double its resident
 * memory for nothing (bench W6: 463 → 310 MB idle standalone).
 */
const PGLITE_MEMORY_SETTINGS = [
  '-c',
  'shared_buffers=16MB',
  '-c',
  'wal_buffers=1MB',
  '-c',
  'temp_buffers=2MB',
];

/** No data directory there yet, or an empty one: nothing to lose by creating it elsewhere. */
function isNewDataDir(dataDir: string): boolean {
  return !existsSync(dataDir) || readdirSync(dataDir).length === 0;
}

/**
 * Creates a new embedded database, with the migrations applied, in a child process, next to
 * `dataDir`, and moves it into place when it is complete. PGlite's initdb and the migrations grow
 * its WebAssembly memory, which never shrinks: done in the standalone's own process, they left it
 * idling at 250-300 MB on its first start, against 175 MB on every later one (bench W6). A
 * creation cut short leaves only the side directory, never a half-made database in `dataDir`.
 */
async function createPgliteInChild(dataDir: string): Promise<void> {
  const parent = dirname(dataDir);
  const prefix = `.${basename(dataDir)}.creating-`;
  mkdirSync(parent, { recursive: true });
  // Left by a creation whose process was killed: nobody will finish it.
  for (const entry of readdirSync(parent)) {
    const pid = entry.startsWith(prefix) ? Number(entry.slice(prefix.length)) : Number.NaN;
    if (Number.isInteger(pid) && (pid === process.pid || !isAlive(pid)))
      rmSync(join(parent, entry), { recursive: true, force: true });
  }
  const creating = join(parent, `${prefix}${process.pid}`);
  try {
    await promisify(execFile)(
      process.execPath,
      [
        // A one-off burst, run as standalone runs (apps/cli/src/memory.ts): V8's baseline
        // WebAssembly tier (the optimising one recompiles PostgreSQL's hot functions) and small
        // young-generation spaces. With Node's defaults the creation peaked at 1.26 GB, with
        // these at 580 MB.
        '--liftoff-only',
        '--max-semi-space-size=2',
        fileURLToPath(new URL('./create-pglite.ts', import.meta.url)),
        creating,
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (error) {
    rmSync(creating, { recursive: true, force: true });
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(
      `could not create the embedded database in ${dataDir}: ${stderr || (error as Error).message}`,
    );
  }
  if (existsSync(dataDir)) {
    // Another process created it meanwhile: theirs is as good as ours. An empty directory in the
    // way (made by hand) gives way.
    if (!isNewDataDir(dataDir)) {
      rmSync(creating, { recursive: true, force: true });
      return;
    }
    rmSync(dataDir, { recursive: true });
  }
  renameSync(creating, dataDir);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as another user's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function openPglite(
  dataDir: string | undefined,
  unlock: () => void = () => {},
): Promise<DatabaseHandle> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const client = new PGlite({
    dataDir,
    startParams: [...PGlite.defaultStartParams, ...PGLITE_MEMORY_SETTINGS],
  });
  await client.waitReady;
  const db = drizzle(client, { schema, casing: 'snake_case' }) as unknown as Database;
  return {
    db,
    kind: 'pglite',
    url: undefined,
    async listen(channel, onNotify) {
      return client.listen(channel, onNotify);
    },
    async close() {
      try {
        await client.close();
      } finally {
        unlock();
      }
    },
  };
}

/** Applies the committed migrations. Safe to call from several processes at once on PostgreSQL. */
export async function migrateDatabase(handle: DatabaseHandle): Promise<void> {
  if (handle.kind === 'pglite') {
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    // biome-ignore lint/suspicious/noExplicitAny: the migrator is typed per driver
    await migrate(handle.db as any, { migrationsFolder: MIGRATIONS_FOLDER });
    return;
  }
  const { migrate } = await import('drizzle-orm/postgres-js/migrator');
  const { default: postgres } = await import('postgres');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  // One dedicated connection holds an advisory lock so replicas starting at once migrate in turn.
  const client = postgres(handle.url!, { max: 1, onnotice: () => {} });
  try {
    await client`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_FOLDER });
    await client`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
  } finally {
    await client.end({ timeout: 5 });
  }
}

const MIGRATION_LOCK_KEY = 7_265_001;

/** The PostgreSQL error under a Drizzle "Failed query" wrapper: its SQLSTATE code and message. */
export function databaseError(error: unknown): { code: string | undefined; message: string } {
  let current: unknown = error;
  // Without a SQLSTATE (the connection failed), the innermost message says why.
  let innermost = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 5 && current; depth++) {
    const candidate = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof candidate.code === 'string' && /^[0-9A-Z]{5}$/.test(candidate.code)) {
      return { code: candidate.code, message: String(candidate.message) };
    }
    const message = messageOf(current);
    if (message) innermost = message;
    current = candidate.cause;
  }
  return { code: undefined, message: innermost };
}

/**
 * SQLSTATEs of a transaction that lost to another and may simply be run again: a deadlock that
 * PostgreSQL broke by aborting it, a serialization failure.
 */
const TRANSIENT_CODES = new Set(['40P01', '40001']);

export function isTransientConflict(error: unknown): boolean {
  return TRANSIENT_CODES.has(databaseError(error).code ?? '');
}

/**
 * Runs `work` (a whole transaction) again when it lost a deadlock or a serialization conflict,
 * up to `attempts` times, after a short random pause so the two do not meet again at once.
 */
export async function retryTransient<T>(work: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isTransientConflict(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
    }
  }
}

/**
 * A transaction, run again when it lost a deadlock or a serialization conflict to another
 * (retryTransient): for operations that take the engine's locks from outside it.
 */
export function retriedTransaction<T>(db: Database, work: (tx: Tx) => Promise<T>): Promise<T> {
  return retryTransient(() => db.transaction(work));
}

/**
 * SQLSTATEs that waiting will not fix: bad credentials, a database or role that does not exist.
 * Anything else at start-up (refused, unresolvable host, "starting up") may be a database still
 * coming up, or a restart.
 */
const FATAL_AT_START = new Set(['28000', '28P01', '3D000']);

/**
 * Waits until the database answers, for at most `timeoutMs`: an app started before its database
 * (a cluster coming up, a failover) waits instead of dying. `onRetry` hears each failure and the
 * pause before the next try. Fails at once on what waiting cannot fix.
 */
export async function waitForDatabase(
  handle: DatabaseHandle,
  opts: { timeoutMs: number; onRetry?: (error: unknown, retryInMs: number) => void },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await handle.db.execute(sql`select 1`);
      return;
    } catch (error) {
      const { code, message } = databaseError(error);
      const fatal = FATAL_AT_START.has(code ?? '');
      const pause = Math.min(5_000, 250 * 2 ** attempt);
      if (fatal || Date.now() + pause > deadline) {
        throw new Error(
          `the database did not answer${fatal ? '' : ` within ${Math.round(opts.timeoutMs / 1000)} s`}: ${message}`,
          { cause: error },
        );
      }
      opts.onRetry?.(error, pause);
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/**
 * An error's message; for an AggregateError (a host name that resolves to both ::1 and 127.0.0.1,
 * both refused) its message is empty: its errors' messages.
 */
function messageOf(error: unknown): string {
  const e = error as { message?: unknown; errors?: unknown; code?: unknown };
  if (typeof e.message === 'string' && e.message) return e.message;
  if (Array.isArray(e.errors) && e.errors.length > 0) return e.errors.map(messageOf).join('; ');
  return typeof e.code === 'string' ? e.code : '';
}

/** Rows of a raw `db.execute` result: PGlite returns `{ rows }`, postgres.js an array. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

/**
 * Runs statements in one round trip where the driver pipelines (postgres.js; PGlite runs them one
 * after another): each is sent without waiting for the one before, and PostgreSQL executes them in
 * the order given, each seeing what the earlier ones did (a read after a lock reads under it).
 * Resolves to each statement's raw result; if one fails, the transaction is aborted and this
 * rejects.
 */
export function pipeline(q: Queryable, statements: readonly SQL[]): Promise<unknown[]> {
  // Every statement takes the same path to the driver, so they reach it in this order.
  return Promise.all(statements.map((statement) => q.execute(statement)));
}
