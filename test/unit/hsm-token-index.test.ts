import { describe, expect, it } from "vitest";
import { TokenIndex } from "../../src/shared/hsm/token-index.js";

/** A TokenIndex over a fake token whose listings the test releases one at a time, on a clock it moves. */
function fakeIndex(options: { intervalMs?: number } = {}) {
  let clock = 0;
  let logins = 1;
  const releases: Array<() => void> = [];
  let listings = 0;
  const index = new TokenIndex({
    list: async () => {
      listings += 1;
      const listedUnder = logins;
      await new Promise<void>((release) => releases.push(release));
      return { listing: { keys: [], publicKeys: [] }, logins: listedUnder };
    },
    logins: () => logins,
    minRefreshIntervalMs: options.intervalMs ?? 0,
    now: () => clock,
  });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return {
    index,
    listings: () => listings,
    tick: (ms: number) => {
      clock += ms;
    },
    relogin: () => {
      logins += 1;
    },
    /** Lets the oldest listing under way finish. */
    finishListing: async () => {
      await settle();
      releases.shift()?.();
      await settle();
    },
    settle,
  };
}

describe("TokenIndex", () => {
  it("lists once for every caller that arrives before the listing starts", async () => {
    const fake = fakeIndex();
    const snapshots = Promise.all([fake.index.snapshot(), fake.index.snapshot(), fake.index.snapshot()]);
    await fake.finishListing();
    const [a, b, c] = await snapshots;
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(fake.listings()).toBe(1);
    expect(await fake.index.snapshot()).toBe(a);
  });

  it("does not answer a miss with a listing that began before it: a key created meanwhile would be missed", async () => {
    const fake = fakeIndex();
    const first = fake.index.snapshot();
    await fake.settle();
    fake.tick(10);
    const missAt = fake.index.now();
    const fresh = fake.index.listedSince(missAt);
    await fake.finishListing();
    expect((await first).startedAt).toBeLessThan(missAt);
    expect(fake.listings()).toBe(2);
    await fake.finishListing();
    expect((await fresh).startedAt).toBeGreaterThanOrEqual(missAt);
  });

  it("lists again after the session pool logged in again, since every handle may have changed", async () => {
    const fake = fakeIndex();
    const first = fake.index.snapshot();
    await fake.finishListing();
    await first;
    fake.relogin();
    const second = fake.index.snapshot();
    await fake.finishListing();
    expect(await second).not.toBe(await first);
    expect((await second).logins).toBe(2);
    expect(fake.listings()).toBe(2);
  });

  it("lists again after invalidate(), and no sooner than the interval after the last listing began", async () => {
    const fake = fakeIndex({ intervalMs: 40 });
    const first = fake.index.snapshot();
    await fake.finishListing();
    await first;
    fake.index.invalidate();
    const second = fake.index.snapshot();
    await fake.settle();
    expect(fake.listings()).toBe(1);
    // Real time passes for the interval's timer; the fake clock says the interval has passed too.
    fake.tick(40);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(fake.listings()).toBe(2);
    await fake.finishListing();
    expect(await second).not.toBe(await first);
  });
});
