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
});
