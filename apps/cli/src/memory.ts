/**
 * Standalone runs everything in one long-lived Node process, so it re-executes itself once with
 * V8 flags chosen for memory — `process.execve` replaces the process image (same pid, no second
 * process) before anything heavy is loaded:
 *
 * - `--max-semi-space-size`: V8 sizes the young generation from the machine's memory (up to 64 MB
 *   per semi-space on a 24 GB machine), grows it while the ~500 modules load and does not give it
 *   back: about 100 MB of idle RSS for ~20 MB of live objects. 2 MB semi-spaces mean more
 *   frequent (each shorter) scavenges, a few per cent of CPU under load, for ~6 MB less RSS
 *   than 4 MB (bench W6).
 * - `--liftoff-only`, on embedded PGlite only: V8's optimising tier recompiles PostgreSQL's WASM
 *   functions once they are hot, which took up to 500 MB for half a second on each start (bench
 *   W6) and more CPU than it saved in a laptop's short bursts of queries.
 *
 * - `MALLOC_ARENA_MAX=1` (glibc reads it when the process starts): glibc gives each thread that
 *   allocates an arena of its own, up to eight per core, and V8's and libuv's helper threads each
 *   kept a few MB of them resident: about 25 MB of idle RSS (bench W6). Their allocations are
 *   few; most of the process's memory is V8's heap and the WASM memory, which do not use malloc.
 *
 * A flag or MALLOC_ARENA_MAX already given (command line, NODE_OPTIONS, environment) is kept as
 * given; UPDRAFT_NO_REEXEC skips the re-execution altogether.
 */
export const SEMI_SPACE_MB = 2;
export const MALLOC_ARENAS = 1;

export function standaloneV8Flags(embeddedDatabase: boolean): string[] {
  return [
    `--max-semi-space-size=${SEMI_SPACE_MB}`,
    ...(embeddedDatabase ? ['--liftoff-only'] : []),
  ];
}

export function reexecWithStandaloneFlags(embeddedDatabase: boolean): void {
  if (process.env.UPDRAFT_NO_REEXEC) return;
  if (typeof process.execve !== 'function') return;
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const missing = standaloneV8Flags(embeddedDatabase).filter((flag) => {
    const name = flag.split('=')[0]!;
    return !given.some((g) => g === name || g.startsWith(`${name}=`));
  });
  const arenas = process.env.MALLOC_ARENA_MAX ?? String(MALLOC_ARENAS);
  if (missing.length === 0 && process.env.MALLOC_ARENA_MAX !== undefined) return;
  process.execve(
    process.execPath,
    [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)],
    // The guard makes a second re-execution impossible even if a flag were dropped.
    { ...process.env, MALLOC_ARENA_MAX: arenas, UPDRAFT_NO_REEXEC: '1' } as Record<string, string>,
  );
}
