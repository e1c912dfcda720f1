import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SampleKey } from "../../src/sandbox/sample-keys.js";
import { Figures } from "../helpers/chaos/figures.js";
import { runKillTrial } from "../helpers/chaos/kill-trial.js";
import { chaosSeed, chaosTrials, seededRandom } from "../helpers/chaos/random.js";
import { addMixedKeys } from "../helpers/fleet.js";
import { createTestToken, listTokenObjects, type TestToken } from "../helpers/softhsm.js";

const seed = chaosSeed("worker kills");
const trials = chaosTrials(5);
const figures = new Figures(`worker processes SIGKILLed at random points (seed ${seed})`);
let token: TestToken;
let keys: SampleKey[];
let objectsBefore: number;

beforeAll(async () => {
  token = await createTestToken();
  keys = await addMixedKeys(token.env, "kill", 6);
  objectsBefore = (await listTokenObjects(token.env)).length;
});

afterAll(async () => {
  figures.print();
  await token?.cleanup();
});

describe("worker processes SIGKILLed in every phase", () => {
  it(`${trials} seeded trials: no key lost, none duplicated, no orphan, nothing left in the HSM`, async () => {
    const rng = seededRandom(seed);
    for (let trial = 0; trial < trials; trial++) {
      const report = await runKillTrial({
        rng,
        trial,
        token,
        keys,
        hsmObjectsBefore: objectsBefore,
        figures,
      });
      expect(report.problems, `trial ${trial} (seed ${seed})`).toEqual([]);
      expect(report.migrated).toBe(keys.length);
    }
  }, 600_000);
});
