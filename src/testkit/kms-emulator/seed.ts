import { randomBytes, randomUUID } from "node:crypto";
import type { AliasRecord, KeyRecord } from "./key-record.js";
import type { RegionState } from "./key-store.js";

const DAY_MS = 86_400_000;

/** The kinds of seeded keys, in turn: no RSA or EC generation, so 10,000 keys take well under a second. */
const KINDS = [
  { origin: "AWS_KMS", keySpec: "SYMMETRIC_DEFAULT", keyUsage: "ENCRYPT_DECRYPT", bytes: 32 },
  { origin: "EXTERNAL", keySpec: "SYMMETRIC_DEFAULT", keyUsage: "ENCRYPT_DECRYPT", bytes: 0 },
  { origin: "AWS_KMS", keySpec: "HMAC_256", keyUsage: "GENERATE_VERIFY_MAC", bytes: 32 },
  { origin: "EXTERNAL", keySpec: "ECC_NIST_P256", keyUsage: "SIGN_VERIFY", bytes: 0 },
] as const;

/**
 * Fills a new Region with `count` keys unrelated to any migration, as a real account holds: mixed
 * origins and specs, a third tagged (a few with an hsm2kms:migration-id of another campaign), a fifth with
 * an alias, some disabled or pending deletion, created over the past year. AWS_KMS keys get symmetric
 * material (random bytes); EXTERNAL keys wait for an import. Returns the keys, for the tag index.
 */
export function seedRegion(
  region: string,
  state: RegionState,
  count: number,
  policy: string,
  now: number,
): KeyRecord[] {
  const seeded: KeyRecord[] = [];
  for (let i = 0; i < count; i++) {
    const kind = KINDS[i % KINDS.length]!;
    const keyId = randomUUID();
    const tags =
      i % 3 === 0
        ? [
            { TagKey: "team", TagValue: `team-${i % 17}` },
            { TagKey: "env", TagValue: i % 2 ? "prod" : "dev" },
            ...(i % 99 === 0 ? [{ TagKey: "hsm2kms:migration-id", TagValue: `earlier-campaign-${i}` }] : []),
          ]
        : [];
    const material = kind.bytes ? randomBytes(kind.bytes) : undefined;
    const key: KeyRecord = {
      keyId,
      region,
      creationDate: now - ((i * 7919) % 365) * DAY_MS - 60_000,
      description: `seeded key ${i}`,
      keySpec: kind.keySpec,
      keyUsage: kind.keyUsage,
      origin: kind.origin,
      keyState: material ? (i % 23 === 0 ? "Disabled" : "Enabled") : "PendingImport",
      policy,
      tags,
      multiRegion: false,
      material,
    };
    if (i % 41 === 0) {
      key.keyState = "PendingDeletion";
      key.pendingWindowInDays = 30;
      key.deletionDate = now + 20 * DAY_MS;
    }
    state.keys.set(keyId, key);
    if (i % 5 === 0) {
      const alias: AliasRecord = {
        aliasName: `alias/seeded/key-${i}`,
        targetKeyId: keyId,
        creationDate: key.creationDate,
        lastUpdatedDate: key.creationDate,
      };
      state.aliases.set(alias.aliasName, alias);
    }
    seeded.push(key);
  }
  return seeded;
}
