import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { Figures } from "../helpers/chaos/figures.js";
import { chaosSeed, chaosTrials, seededRandom } from "../helpers/chaos/random.js";
import { runRedisRestartTrial } from "../helpers/chaos/redis-trial.js";
import { addMixedKeys } from "../helpers/fleet.js";
import { createTestToken, listTokenObjects, type TestToken } from "../helpers/softhsm.js";

const seed = chaosSeed("soak: redis restarts");
const trials = Math.max(1, Math.ceil(chaosTrials(30) / 3));
const figures = new Figures(`soak: Redis kill -9 and restart with AOF (seed ${seed})`);
let token: TestToken;
let keys: SampleKey[];
let objectsBefore: number;

beforeAll(async () => {
  token = await createTestToken();
  keys = await addMixedKeys(token.env, "soakredis", 12);
  objectsBefore = (await listTokenObjects(token.env)).length;
});

afterAll(async () => {
  figures.print();
  await token?.cleanup();
});

describe("soak: Redis restarted mid-run", () => {
  it(`${trials} seeded trials, 3 kill -9 + restart cycles each`, async () => {
    const rng = seededRandom(seed);
    const failures: string[] = [];
    for (let trial = 0; trial < trials; trial++) {
      const report = await runRedisRestartTrial({
        rng,
        token,
        keys,
        hsmObjectsBefore: objectsBefore,
        figures,
        restarts: 3,
      });
      const hung = report.workerExits.filter((code) => code !== 0 && code !== "SIGTERM");
      if (hung.length > 0) report.problems.push(`workers exited with ${hung.join(", ")} after SIGTERM`);
      if (report.problems.length > 0) {
        failures.push(`trial ${trial}: ${report.problems.join("\n")}`);
        console.error(`[soak] trial ${trial} (seed ${seed}):\n${report.problems.join("\n")}`);
      }
    }
    expect(failures, `seed ${seed}`).toEqual([]);
  });
});
