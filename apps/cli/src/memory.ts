/**
 * Standalone runs everything in one long-lived Node process. V8 sizes the young generation from the
 * machine's memory (up to 64 MB per semi-space on a 24 GB machine), grows it while the modules load
 * and does not give it back: about 100 MB of idle RSS for ~20 MB of live objects. Standalone
 * therefore re-executes itself once with the semi-space capped at 16 MB — `process.execve`
 * replaces the process image (same pid, no second process), before anything heavy is loaded.
 * Skipped when the flag is already given (command line or NODE_OPTIONS) or UPDRAFT_NO_REEXEC is set.
 */
export const SEMI_SPACE_MB = 16;

export function capYoungGeneration(semiSpaceMb = SEMI_SPACE_MB): void {
  const flag = '--max-semi-space-size';
  if (process.env.UPDRAFT_NO_REEXEC) return;
  if (process.execArgv.some((a) => a.startsWith(flag))) return;
  if (process.env.NODE_OPTIONS?.includes(flag)) return;
  if (typeof process.execve !== 'function') return;
  process.execve(
    process.execPath,
    [process.execPath, `${flag}=${semiSpaceMb}`, ...process.execArgv, ...process.argv.slice(1)],
    // The guard makes a second re-execution impossible even if the flag were dropped.
    { ...process.env, UPDRAFT_NO_REEXEC: '1' } as Record<string, string>,
  );
}
