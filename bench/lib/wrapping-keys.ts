import type { WrappingKeySpec } from "../../src/shared/key-specs.js";
import { WrappingKeyPool } from "../../src/testkit/kms-emulator/wrapping-key-pool.js";

type Pair = Awaited<ReturnType<WrappingKeyPool["take"]>>;

/**
 * Makes every KMS emulator in this process reuse a few RSA wrapping keys per size instead of generating one
 * per GetParametersForImport. Real KMS generates them on its own hardware; on this 2-core machine an
 * RSA-2048 generation costs ~200 ms of CPU, so at 5 GetParametersForImport/s the emulator alone would
 * take a core from the pipeline it is measuring. Import tokens stay distinct (one per call, bound to its key).
 * Start emulators with `wrappingKeyPoolSize: 0` so the pool does not refill in the background.
 * The keys of `prepare` are made now, so that no run pays for them. Returns a function that restores the
 * original behaviour.
 */
export async function reuseEmulatorWrappingKeys(
  prepare: WrappingKeySpec[] = ["RSA_2048"],
  keysPerSpec = 4,
): Promise<() => void> {
  const original = WrappingKeyPool.prototype.take;
  const kept = new Map<WrappingKeySpec, Pair[]>();
  const maker = new WrappingKeyPool(0);
  for (const spec of prepare)
    kept.set(spec, await Promise.all(Array.from({ length: keysPerSpec }, () => maker.take(spec))));
  let turn = 0;
  WrappingKeyPool.prototype.take = async function take(this: WrappingKeyPool, spec: WrappingKeySpec) {
    const pairs = kept.get(spec) ?? [];
    kept.set(spec, pairs);
    if (pairs.length < keysPerSpec) {
      const pair = await original.call(this, spec);
      pairs.push(pair);
      return pair;
    }
    turn = (turn + 1) % pairs.length;
    return pairs[turn]!;
  };
  return () => {
    WrappingKeyPool.prototype.take = original;
  };
}
