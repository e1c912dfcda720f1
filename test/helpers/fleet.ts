import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { formatManifestCsv } from "../../src/manifest/read.js";
import { Ledger } from "../../src/shared/ledger/index.js";
import type { MigrationRecord } from "../../src/shared/migration.js";
import { generateKey } from "../../src/testkit/sample-key-generation.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { PROVENANCE_TAGS } from "../../src/workers/phases/index.js";
import { emulatorKms } from "./pipeline.js";
import { TEST_REDIS_URL } from "./redis.js";
import { withTokenSession } from "./softhsm.js";

const KINDS: Array<Pick<SampleKey, "keySpec" | "defaultUsage" | "kind">> = [
  {
    keySpec: "ECC_NIST_P256",
    defaultUsage: "SIGN_VERIFY",
    kind: { type: "ec", curveOidDerHex: "06082a8648ce3d030107" },
  },
  {
    keySpec: "ECC_NIST_P384",
    defaultUsage: "SIGN_VERIFY",
    kind: { type: "ec", curveOidDerHex: "06052b81040022" },
  },
  {
    keySpec: "ECC_SECG_P256K1",
    defaultUsage: "SIGN_VERIFY",
    kind: { type: "ec", curveOidDerHex: "06052b8104000a" },
  },
  { keySpec: "HMAC_256", defaultUsage: "GENERATE_VERIFY_MAC", kind: { type: "hmac", bytes: 32 } },
  { keySpec: "SYMMETRIC_DEFAULT", defaultUsage: "ENCRYPT_DECRYPT", kind: { type: "aes", bytes: 32 } },
  { keySpec: "HMAC_224", defaultUsage: "GENERATE_VERIFY_MAC", kind: { type: "hmac", bytes: 28 } },
];

/** `count` keys of mixed fast-to-make types, labelled `<prefix>-<n>`, generated in the test token. */
export async function addMixedKeys(
  env: Record<string, string>,
  prefix: string,
  count: number,
  withRsa = 0,
): Promise<SampleKey[]> {
  const keys: SampleKey[] = [];
  for (let n = 0; n < count; n++) {
    const rsa = n < withRsa;
    const kind = KINDS[n % KINDS.length]!;
    keys.push({
      label: `${prefix}-${n}`,
      idHex: `f1${n.toString(16).padStart(6, "0")}`,
      extractable: true,
      ...(rsa
        ? { keySpec: "RSA_2048", defaultUsage: "SIGN_VERIFY", kind: { type: "rsa", bits: 2048 } }
        : kind),
    } as SampleKey);
  }
  await withTokenSession(env, async (pkcs11, session) => {
    for (const key of keys) await generateKey(pkcs11, session, key);
  });
  return keys;
}

export function manifestFor(keys: SampleKey[], region = "us-east-1"): string {
  return formatManifestCsv(keys.map((key) => ({ source_label: key.label, source_id: key.idHex, region })));
}

/** A ledger on the shared test Redis; close with `redis.disconnect()`. */
export function testLedger(prefix: string) {
  const redis = new Redis(TEST_REDIS_URL);
  return { redis, ledger: new Ledger(redis, prefix) };
}

/** Every ledger record of the campaign under `prefix`, in enqueue order. */
export async function ledgerRecords(prefix: string): Promise<MigrationRecord[]> {
  const { redis, ledger } = testLedger(prefix);
  try {
    const all: MigrationRecord[] = [];
    for await (const record of ledger.records()) all.push(record);
    return all;
  } finally {
    redis.disconnect();
  }
}

/** The campaign's ledger records by their source label. */
export async function recordsByLabel(prefix: string): Promise<Map<string, MigrationRecord>> {
  return new Map((await ledgerRecords(prefix)).map((record) => [record.source.label ?? "", record]));
}

/** Polls until `done` is true or the time is up. */
export async function waitFor(done: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // A probe that hangs (a Redis client waiting out a failover) counts as "not yet".
    const answer = await Promise.race([done().catch(() => false), sleep(5000).then(() => false)]);
    if (answer) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Live KMS keys per migration id (from the provenance tag) over every key in the emulator's Region; keys
 * pending deletion (rolled back, or orphans a late request made and hsm2kms cleaned up) are only counted.
 */
export async function kmsKeysByMigration(
  url: string,
  region = "us-east-1",
): Promise<{ live: Map<string, string[]>; pendingDeletion: number }> {
  const kms = emulatorKms(url, region);
  const live = new Map<string, string[]>();
  let pendingDeletion = 0;
  try {
    for await (const keyId of kms.listKeyIds()) {
      if ((await kms.describeKey(keyId))?.keyState === "PendingDeletion") {
        pendingDeletion++;
        continue;
      }
      const id = (await kms.listResourceTags(keyId))[PROVENANCE_TAGS.migrationId] ?? "(none)";
      live.set(id, [...(live.get(id) ?? []), keyId]);
    }
  } finally {
    kms.close();
  }
  return { live, pendingDeletion };
}

/**
 * The environment of a CLI process in a test: the token, the emulator, a Redis prefix, the emulator's fake
 * credentials, a 2048-bit wrapping key (fast), quiet logs; `extra` wins.
 */
export function cliEnvironment(
  tokenEnv: Record<string, string>,
  kmsEndpoint: string,
  prefix: string | undefined,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ...tokenEnv,
    REDIS_URL: TEST_REDIS_URL,
    ...(prefix ? { HSM2KMS_QUEUE_PREFIX: prefix } : {}),
    HSM2KMS_KMS_ENDPOINT: kmsEndpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    HSM2KMS_WRAPPING_KEY_SPEC: "RSA_2048",
    HSM2KMS_LOG_LEVEL: "warn",
    // The emulator's tag index catches up within 0.5 s: no test waits the 5-minute default.
    HSM2KMS_TAG_INDEX_WAIT: "3s",
    // The test Redis keeps nothing on disk.
    HSM2KMS_ALLOW_VOLATILE_REDIS: "true",
    ...extra,
  };
}
