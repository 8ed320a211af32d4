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
 * A flag already given (command line or NODE_OPTIONS) is kept as given; UPDRAFT_NO_REEXEC skips
 * the re-execution altogether.
 */
export const SEMI_SPACE_MB = 2;

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
  if (missing.length === 0) return;
  process.execve(
    process.execPath,
    [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)],
    // The guard makes a second re-execution impossible even if a flag were dropped.
    { ...process.env, UPDRAFT_NO_REEXEC: '1' } as Record<string, string>,
  );
}
