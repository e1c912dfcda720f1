import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { migrationId } from "../../src/manifest/read.js";

const key = { region: "eu-west-1", sourceLabel: "signing-key", sourceIdHex: "0a1b" };

describe("migrationId", () => {
  it("is k + the first 40 hex digits of sha256(region NUL label NUL id)", () => {
    const digest = createHash("sha256").update("eu-west-1\0signing-key\x000a1b").digest("hex");
    expect(migrationId(key)).toBe(`k${digest.slice(0, 40)}`);
  });

  it("stays byte-identical for a key without an account (ledgers written by earlier versions rely on it)", () => {
    expect(migrationId(key)).toBe("kc754d0ed2aebbec984f77a229448fdf5cecbc513");
    expect(migrationId({ ...key, account: undefined })).toBe("kc754d0ed2aebbec984f77a229448fdf5cecbc513");
  });

  it("differs per account, for the same key and Region, and from the caller's own account", () => {
    const ids = new Set([
      migrationId(key),
      migrationId({ ...key, account: "222222222222" }),
      migrationId({ ...key, account: "333333333333" }),
      migrationId({ ...key, account: "222222222222", region: "us-east-1" }),
    ]);
    expect(ids.size).toBe(4);
    expect(migrationId({ ...key, account: "222222222222" })).toBe(
      migrationId({ ...key, account: "222222222222" }),
    );
  });

  it("is deterministic and ignores other fields", () => {
    expect(migrationId({ ...key })).toBe(migrationId(key));
    expect(migrationId({ ...key, alias: "alias/x" } as typeof key)).toBe(migrationId(key));
  });

  it("differs when the region, the label or the id differs, and when label and id swap", () => {
    const ids = new Set([
      migrationId(key),
      migrationId({ ...key, region: "us-east-1" }),
      migrationId({ ...key, sourceLabel: "signing-key2" }),
      migrationId({ ...key, sourceLabel: undefined }),
      migrationId({ ...key, sourceIdHex: "0a1c" }),
      migrationId({ ...key, sourceIdHex: undefined }),
      // the same text as a label instead of an id (the id-only key above is 0a1b in eu-west-1)
      migrationId({ region: "eu-west-1", sourceLabel: "0a1b", sourceIdHex: undefined }),
    ]);
    expect(ids.size).toBe(7);
  });

  it("never holds ':' and is never all digits (BullMQ job id rules)", () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.option(fc.string(), { nil: undefined }),
        fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
        (region, sourceLabel, id) => {
          const value = migrationId({
            region,
            sourceLabel,
            sourceIdHex: id && Buffer.from(id).toString("hex"),
          });
          expect(value).toMatch(/^k[0-9a-f]{40}$/);
        },
      ),
      { numRuns: 500 },
    );
  });
});
