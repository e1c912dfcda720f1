import { describe, expect, it } from "vitest";
import { type MigrationRecord, newMigrationRecord } from "../../src/shared/migration.js";
import { HandoverCache } from "../../src/workers/handover-cache.js";

function record(label: string, patch: Partial<MigrationRecord> = {}): MigrationRecord {
  const fresh = newMigrationRecord(
    `k-${label}`,
    "us-east-1",
    { label },
    { tags: {}, multiRegion: false },
    new Date(0),
  );
  return { ...fresh, status: "in_progress", phase: "params", ...patch };
}

describe("HandoverCache", () => {
  it("hands a record, with its revision, once to the job of its phase and generation", () => {
    const cache = new HandoverCache(() => 0);
    const key = record("a");
    cache.remember(key, 7);
    expect(cache.take(key.id, "params", key.generation)).toEqual({ record: key, rev: 7 });
    // Used once: a retried job reads the ledger.
    expect(cache.take(key.id, "params", key.generation)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("gives nothing to another phase's or generation's job, and forgets the record then", () => {
    const cache = new HandoverCache(() => 0);
    const key = record("b");
    cache.remember(key, 3);
    expect(cache.take(key.id, "wrap", key.generation)).toBeUndefined();
    cache.remember(key, 3);
    expect(cache.take(key.id, "params", key.generation + 1)).toBeUndefined();
    cache.remember({ ...key, status: "failed" }, 3);
    expect(cache.take(key.id, "params", key.generation)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("keeps the newest record of a key, and none older than its age limit or beyond its size", () => {
    let now = 0;
    const cache = new HandoverCache(() => now, 2, 1000);
    const [a, b, c] = [record("a"), record("b"), record("c")];
    cache.remember(a, 1);
    cache.remember({ ...a, phase: "wrap" }, 2);
    expect(cache.take(a.id, "wrap", a.generation)?.rev).toBe(2);
    cache.remember(a, 1);
    cache.remember(b, 1);
    cache.remember(c, 1);
    expect(cache.size).toBe(2);
    expect(cache.take(a.id, "params", a.generation)).toBeUndefined();
    now = 1500;
    expect(cache.take(b.id, "params", b.generation)).toBeUndefined();
    cache.remember(a, 4);
    expect(cache.size).toBe(1);
    expect(cache.take(a.id, "params", a.generation)?.rev).toBe(4);
  });
});
