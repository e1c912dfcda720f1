import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { Figures } from "../helpers/chaos/figures.js";
import { runKillTrial } from "../helpers/chaos/kill-trial.js";
import { chaosSeed, chaosTrials, seededRandom } from "../helpers/chaos/random.js";
import { addMixedKeys } from "../helpers/fleet.js";
import { createTestToken, listTokenObjects, type TestToken } from "../helpers/softhsm.js";

const seed = chaosSeed("soak: worker kills");
const trials = chaosTrials(30);
const figures = new Figures(`soak: worker processes SIGKILLed at random points (seed ${seed})`);
let token: TestToken;
let keys: SampleKey[];
let objectsBefore: number;

beforeAll(async () => {
  token = await createTestToken();
  keys = await addMixedKeys(token.env, "soak", 12, 1);
  objectsBefore = (await listTokenObjects(token.env)).length;
});

afterAll(async () => {
  figures.print();
  await token?.cleanup();
});

describe("soak: worker processes SIGKILLed in every phase", () => {
  it(`${trials} seeded trials, 12 keys, up to 5 kills each, 3 workers`, async () => {
    const rng = seededRandom(seed);
    const failures: string[] = [];
    for (let trial = 0; trial < trials; trial++) {
      const report = await runKillTrial({
        rng,
        trial,
        token,
        keys,
        hsmObjectsBefore: objectsBefore,
        figures,
        kills: 5,
        workers: 3,
      });
      // Keep going: the soak reports every failing trial, not just the first.
      if (report.problems.length > 0) {
        failures.push(`trial ${trial}: ${report.problems.join("\n")}`);
        console.error(`[soak] trial ${trial} (seed ${seed}):\n${report.problems.join("\n")}`);
      }
    }
    expect(failures, `seed ${seed}`).toEqual([]);
  });
});
