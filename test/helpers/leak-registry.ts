/**
 * What a test file opened that must be gone when it ends, noted where it is made (randomPrefix, spawnCli) and
 * checked by the leak guard (leak-guard.ts). The registry lives on globalThis: the guard (a setup file) and
 * the test file may load this module through different import graphs.
 */

interface LeakRegistry {
  redisPrefixes: Set<string>;
}

const KEY = Symbol.for("hsm2kms.test.leak-registry");

/** This test file's registry. */
export function leakRegistry(): LeakRegistry {
  const holder = globalThis as { [KEY]?: LeakRegistry };
  holder[KEY] ??= { redisPrefixes: new Set() };
  return holder[KEY];
}

/** Notes a Redis prefix this file writes under: keys left under it after the file fail the run. */
export function noteRedisPrefix(prefix: string): void {
  leakRegistry().redisPrefixes.add(prefix);
}

/**
 * The environment variable that marks every process a test file starts (inherited by its children, and
 * passed on by spawnCli, which builds a fresh environment): the guard finds a process by it even after it
 * was orphaned. Not an HSM2KMS_ variable, so the product never reads it.
 */
export const OWNER_VARIABLE = "H2K_TEST_OWNER";

/** The marker of this test file's processes (empty outside a guarded run). */
export function ownerMark(): Record<string, string> {
  const mark = process.env[OWNER_VARIABLE];
  return mark ? { [OWNER_VARIABLE]: mark } : {};
}
