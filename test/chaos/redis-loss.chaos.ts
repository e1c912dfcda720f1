import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { chaosSeed, chaosTrials, seededRandom } from "../helpers/chaos/random.js";
import { runRedisLossTrial } from "../helpers/chaos/redis-loss-trial.js";
import { addMixedKeys } from "../helpers/fleet.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

const seed = chaosSeed("soak: redis loss");
const trials = Math.max(1, Math.ceil(chaosTrials(30) / 6));
let token: TestToken;
let keys: SampleKey[];

beforeAll(async () => {
  token = await createTestToken();
  keys = await addMixedKeys(token.env, "soakloss", 12);
});

afterAll(async () => {
  await token?.cleanup();
});

describe("soak: Redis without persistence lost mid-run", () => {
  it(`${trials} seeded trials: kill -9 and restart empty under 3 worker processes`, async () => {
    const rng = seededRandom(seed);
    const failures: string[] = [];
    let kmsKeys = 0;
    for (let trial = 0; trial < trials; trial++) {
      const report = await runRedisLossTrial({ rng, token, keys, workers: 3 });
      kmsKeys += report.kmsKeys;
      if (report.problems.length > 0) {
        failures.push(`trial ${trial}: ${report.problems.join("\n")}`);
        console.error(`[soak] trial ${trial} (seed ${seed}):\n${report.problems.join("\n")}`);
      }
    }
    console.info(
      `[soak: redis loss] ${trials} trials, ${kmsKeys} KMS keys made, every one tagged with its campaign`,
    );
    expect(failures, `seed ${seed}`).toEqual([]);
  });
});
