import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DigestTable } from "../../src/manifest/digest-table.js";

const digest = (text: string) => createHash("sha256").update(text).digest().subarray(0, 12);

describe("DigestTable (the manifest's duplicate check)", () => {
  it("keeps the first line of every digest across many growths", () => {
    const table = new DigestTable(4);
    for (let line = 1; line <= 20_000; line++) expect(table.add(digest(`row ${line}`), line)).toBe(line);
    expect(table.size).toBe(20_000);
    for (const line of [1, 2, 777, 19_999, 20_000]) expect(table.get(digest(`row ${line}`))).toBe(line);
    // A digest seen before keeps its first line; adding it again changes nothing.
    expect(table.add(digest("row 777"), 30_000)).toBe(777);
    expect(table.size).toBe(20_000);
    expect(table.get(digest("never added"))).toBeUndefined();
  });

  it("tells apart digests that share a slot (same first word)", () => {
    const table = new DigestTable(4);
    const first = Buffer.alloc(12, 0);
    const second = Buffer.from(first);
    second[11] = 1;
    const third = Buffer.from(first);
    third[4] = 1;
    table.add(first, 5);
    table.add(second, 6);
    expect(table.get(first)).toBe(5);
    expect(table.get(second)).toBe(6);
    expect(table.get(third)).toBeUndefined();
    expect(table.add(third, 7)).toBe(7);
    expect(table.size).toBe(3);
  });

  it("refuses line 0, which marks an empty slot", () => {
    expect(() => new DigestTable().add(digest("x"), 0)).toThrow(RangeError);
  });
});
