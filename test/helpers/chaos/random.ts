import { randomInt } from "node:crypto";

/** A small seeded PRNG (mulberry32): the same seed gives the same fault schedule. */
export interface Random {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(probability: number): boolean;
}

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)] as (typeof items)[number],
    chance: (probability) => next() < probability,
  };
}

/**
 * The run's seed: `CHAOS_SEED` when set (to replay a failure), else a fresh one. Printed so that any run can
 * be replayed with `CHAOS_SEED=<seed>`.
 */
export function chaosSeed(suite: string): number {
  const given = process.env["CHAOS_SEED"];
  const seed = given !== undefined && given !== "" ? Number(given) >>> 0 : randomInt(1, 2 ** 31);
  console.info(`[${suite}] seed ${seed} (replay with CHAOS_SEED=${seed})`);
  return seed;
}

/** How many trials a suite runs: `CHAOS_TRIALS` (the soak) or the suite's own small default. */
export function chaosTrials(fallback: number): number {
  const given = Number(process.env["CHAOS_TRIALS"]);
  return Number.isInteger(given) && given > 0 ? given : fallback;
}
