import { describe, expect, it } from "vitest";
import type { KeyRecord } from "../../src/testkit/kms-emulator/key-record.js";
import { KeyStore } from "../../src/testkit/kms-emulator/key-store.js";

const DAY = 86_400_000;

function key(region: string, overrides: Partial<KeyRecord>): KeyRecord {
  return {
    keyId: "mrk-0123456789abcdef0123456789abcdef",
    region,
    creationDate: 0,
    description: "",
    keySpec: "SYMMETRIC_DEFAULT",
    keyUsage: "ENCRYPT_DECRYPT",
    origin: "AWS_KMS",
    keyState: "Enabled",
    policy: "{}",
    tags: [],
    multiRegion: true,
    primaryRegion: "us-east-1",
    ...overrides,
  };
}

describe("KeyStore time transitions", () => {
  it("a primary in PendingReplicaDeletion starts its own window when its last replica is deleted", () => {
    let now = 0;
    const store = new KeyStore("111122223333", () => now);
    const primary = key("us-east-1", { keyState: "PendingReplicaDeletion", pendingWindowInDays: 7 });
    store.region("us-east-1").keys.set(primary.keyId, primary);
    store
      .region("eu-west-1")
      .keys.set(primary.keyId, key("eu-west-1", { keyState: "PendingDeletion", deletionDate: 10 * DAY }));

    now = 9 * DAY;
    expect(store.resolveKey("us-east-1", primary.keyId, false).keyState).toBe("PendingReplicaDeletion");
    expect(primary.deletionDate).toBeUndefined();

    now = 11 * DAY;
    const resolved = store.resolveKey("us-east-1", primary.keyId, false);
    expect(resolved.keyState).toBe("PendingDeletion");
    expect(resolved.deletionDate).toBe(17 * DAY);
    expect(store.keys("eu-west-1")).toEqual([]);

    now = 17 * DAY;
    expect(() => store.resolveKey("us-east-1", primary.keyId, false)).toThrow(/does not exist/);
  });
});
