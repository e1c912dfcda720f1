import { describe, expect, it } from "vitest";
import { HsmSlots, hsmLane } from "../../src/shared/hsm/hsm-share.js";
import { FakeHsm } from "../helpers/fake-hsm.js";

type Lane = "preflight" | "wrap";

/** Calls that hold their slot until the test finishes them, in the order they were granted. */
function harness(slots: number) {
  const share = new HsmSlots<Lane>(slots);
  const running: Array<{ lane: Lane; n: number; finish: () => void }> = [];
  const started: string[] = [];
  const call = (lane: Lane, n: number) =>
    share.acquire(lane).then((release) => {
      started.push(`${lane}${n}`);
      running.push({ lane, n, finish: release });
    });
  /** Finishes the oldest running call of `lane` and lets the granted calls start. */
  const finish = async (lane: Lane) => {
    const index = running.findIndex((entry) => entry.lane === lane);
    const [entry] = running.splice(index, 1);
    entry?.finish();
    await settle();
  };
  const held = (lane: Lane) => running.filter((entry) => entry.lane === lane).length;
  return { share, call, finish, held, started };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("HsmSlots: the HSM's sessions shared by preflight and wrap", () => {
  it("lets a lane alone use every slot, and queues the rest in order", async () => {
    const { call, held, finish, started, share } = harness(4);
    for (let n = 0; n < 6; n++) void call("preflight", n);
    await settle();
    expect(held("preflight")).toBe(4);
    expect(share.stats()).toMatchObject({ inUse: { preflight: 4 }, waiting: { preflight: 2 } });
    await finish("preflight");
    expect(started).toEqual(["preflight0", "preflight1", "preflight2", "preflight3", "preflight4"]);
  });

  it("gives a lane that starts waiting the next slot freed, up to an equal share, whichever lane floods", async () => {
    for (const [flood, other] of [
      ["preflight", "wrap"],
      ["wrap", "preflight"],
    ] as const) {
      const { call, held, finish } = harness(4);
      for (let n = 0; n < 20; n++) void call(flood, n);
      await settle();
      for (let n = 0; n < 5; n++) void call(other, n);
      await settle();
      expect([held(flood), held(other)]).toEqual([4, 0]);
      await finish(flood);
      expect([held(flood), held(other)]).toEqual([3, 1]);
      await finish(flood);
      expect([held(flood), held(other)]).toEqual([2, 2]);
      // From here on each lane keeps its half while both have work: neither takes the other's share.
      for (let round = 0; round < 6; round++) {
        await finish(round % 2 === 0 ? flood : other);
        expect([held(flood), held(other)]).toEqual([2, 2]);
      }
      // Every call of `other` has started; as they finish, `flood` takes the slots back.
      while (held(other) > 0) await finish(other);
      expect(held(flood)).toBe(4);
    }
  });

  it("alternates the lanes on a single slot", async () => {
    const { call, finish, started } = harness(1);
    for (let n = 0; n < 3; n++) void call("preflight", n);
    for (let n = 0; n < 3; n++) void call("wrap", n);
    await settle();
    for (let n = 0; n < 5; n++) await finish(n % 2 === 0 ? "preflight" : "wrap");
    expect(started).toEqual(["preflight0", "wrap0", "preflight1", "wrap1", "preflight2", "wrap2"]);
  });

  it("refuses a slot count that is not a whole number of at least 1", () => {
    expect(() => new HsmSlots(0)).toThrow(/HSM slots/);
  });
});

describe("hsmLane", () => {
  it("holds a slot for each call of the port and gives it back when the call fails", async () => {
    const share = new HsmSlots<Lane>(1);
    const fake = new FakeHsm();
    const preflight = hsmLane(fake, share, "preflight");
    await expect(preflight.describeKey({ label: "no-such-key" })).rejects.toMatchObject({
      code: "SOURCE_KEY_NOT_FOUND",
    });
    expect(share.stats()).toMatchObject({ inUse: { preflight: 0 }, waiting: {} });
    await preflight.close();
    expect(await hsmLane(fake, share, "wrap").capabilities()).toEqual(await fake.capabilities());
  });
});
