import { describe, expect, it } from "vitest";
import { kmsPortCache } from "../../src/shared/kms/index.js";
import { FakeKms } from "../helpers/fake-kms.js";

describe("kmsPortCache", () => {
  it("makes one port per Region on first use and closes each once", () => {
    const made: string[] = [];
    const closed: string[] = [];
    const cache = kmsPortCache((region) => {
      made.push(region);
      const port = new FakeKms(region);
      port.close = () => closed.push(region);
      return port;
    });
    const first = cache.portFor("us-east-1");
    expect(cache.portFor("us-east-1")).toBe(first);
    expect(cache.portFor("eu-west-1")).not.toBe(first);
    expect(made).toEqual(["us-east-1", "eu-west-1"]);
    cache.close();
    expect(closed.sort()).toEqual(["eu-west-1", "us-east-1"]);
    cache.close();
    expect(closed).toHaveLength(2);
  });

  it("keys ports by account and Region: one per target, the caller's own apart from every other account", () => {
    const made: Array<[string, string | undefined]> = [];
    const cache = kmsPortCache((region, account) => {
      made.push([region, account]);
      return new FakeKms(region);
    });
    const own = cache.portFor("us-east-1");
    const app = cache.portFor("us-east-1", "222222222222");
    expect(app).not.toBe(own);
    expect(cache.portFor("us-east-1", "222222222222")).toBe(app);
    expect(cache.portFor("us-east-1", undefined)).toBe(own);
    expect(cache.portFor("us-east-1", "333333333333")).not.toBe(app);
    expect(made).toEqual([
      ["us-east-1", undefined],
      ["us-east-1", "222222222222"],
      ["us-east-1", "333333333333"],
    ]);
    cache.close();
  });
});
