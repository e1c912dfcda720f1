import { describe, expect, it } from "vitest";
import type { Ledger } from "../../src/shared/ledger/index.js";
import type { PhaseQueues } from "../../src/shared/queues.js";
import { paramsHoldMs } from "../../src/workers/params-gate.js";

/** Phase queues whose wrap queue reports `waiting` keys, counting how often it is asked. */
function fakeQueues(waiting: number) {
  const reads = { count: 0 };
  const queues = {
    queue: () => ({
      getWaitingCount: async () => {
        reads.count++;
        return waiting;
      },
    }),
  } as unknown as PhaseQueues;
  return { queues, reads };
}

const ledger = {} as Ledger;

describe("paramsHoldMs: one reading of the wrap backlog serves a Region's params jobs for a moment", () => {
  it("reuses a reading for the same queues and Region, not for another Region or deployment", async () => {
    const { queues, reads } = fakeQueues(0);
    const now = new Date();
    expect(await paramsHoldMs(queues, ledger, "us-east-1", now, 60_000)).toBe(0);
    expect(await paramsHoldMs(queues, ledger, "us-east-1", now, 60_000)).toBe(0);
    expect(reads.count).toBe(1);
    await paramsHoldMs(queues, ledger, "eu-west-1", now, 60_000);
    expect(reads.count).toBe(2);
    const other = fakeQueues(0);
    await paramsHoldMs(other.queues, ledger, "us-east-1", now, 60_000);
    expect(other.reads.count).toBe(1);
  });

  it("does not keep a failed reading", async () => {
    let fail = true;
    const queues = {
      queue: () => ({
        getWaitingCount: async () => {
          if (fail) throw new Error("connection lost");
          return 0;
        },
      }),
    } as unknown as PhaseQueues;
    await expect(paramsHoldMs(queues, ledger, "us-east-1", new Date(), 60_000)).rejects.toThrow(
      "connection lost",
    );
    fail = false;
    expect(await paramsHoldMs(queues, ledger, "us-east-1", new Date(), 60_000)).toBe(0);
  });
});
