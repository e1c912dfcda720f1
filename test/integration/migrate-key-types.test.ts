import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPkcs11Hsm } from "../../src/shared/hsm/index.js";
import type { HsmPort } from "../../src/shared/hsm/types.js";
import { newMigrationRecord } from "../../src/shared/migration.js";
import { SAMPLE_KEY_NAMES, SAMPLE_KEYS, type SampleKeyName } from "../../src/testkit/sample-keys.js";
import { runMigrationInProcess } from "../../src/workers/in-process-runner.js";
import { kmsKeysByMigration } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { emulatorKms, realContext } from "../helpers/pipeline.js";
import { createTestToken, listTokenObjects, type TestToken } from "../helpers/softhsm.js";

const LIMITS = {
  maxAttempts: 3,
  maxTokenRefreshes: 3,
  tokenSafetyMarginMs: 15 * 60_000,
  baseBackoffMs: 10,
  maxBackoffMs: 50,
};

let token: TestToken;
let hsm: HsmPort;
let emulator: KmsEmulator;
let objectsBefore: number;

beforeAll(async () => {
  token = await createTestToken({ keys: SAMPLE_KEY_NAMES });
  objectsBefore = (await listTokenObjects(token.env)).length;
  // Eventual consistency on: every new key, alias and import is unseen for up to 2 s, and must be waited out.
  emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true, consistencyDelayMs: 2000 });
  hsm = await openPkcs11Hsm(token.hsmConfig, { sessions: 4 });
});

afterAll(async () => {
  await hsm?.close();
  await emulator?.close();
  await token?.cleanup();
});

function recordFor(name: SampleKeyName, id: string = name) {
  const key = SAMPLE_KEYS[name];
  return newMigrationRecord(
    id,
    "us-east-1",
    { label: key.label, idHex: key.idHex },
    { keyUsage: key.defaultUsage, tags: {}, multiRegion: false },
    new Date(),
  );
}

async function kmsKeyCount(): Promise<number> {
  const kms = emulatorKms(emulator.url);
  let count = 0;
  for await (const _ of kms.listKeyIds()) count++;
  kms.close();
  return count;
}

describe("every sandbox key type, SoftHSM2 -> KMS emulator, all phases", () => {
  const migratable = SAMPLE_KEY_NAMES.filter((name) => SAMPLE_KEYS[name].extractable);
  const waits = new Map<string, number>();

  // Concurrent: the consistency delays overlap instead of adding up.
  it.concurrent.each(migratable)("%s migrates and is proven", async (name) => {
    const { context, close } = realContext(hsm, emulator.url);
    try {
      const result = await runMigrationInProcess(context, recordFor(name), LIMITS, {
        onPhase: (_record, _phase, outcome) => {
          if (outcome === "wait") waits.set(name, (waits.get(name) ?? 0) + 1);
        },
      });
      expect(result.error).toBeUndefined();
      expect(result.status).toBe("migrated");
      expect(result.verified).toBe(SAMPLE_KEYS[name].keySpec === "SYMMETRIC_DEFAULT" ? "roundtrip" : "true");
      expect(result.checks?.length).toBeGreaterThan(0);
      expect(result.checks?.every((check) => check.result === "pass")).toBe(true);
      expect(result.sourceKey?.keySpec).toBe(SAMPLE_KEYS[name].keySpec);
      // SoftHSM2 2.6.1 forces SHA-1: private keys two-step RSA_AES_KEY_WRAP, secret keys direct OAEP.
      expect(result.wrapPlan?.wrappingAlgorithm).toBe(
        result.sourceKey?.objectClass === "private" ? "RSA_AES_KEY_WRAP_SHA_1" : "RSAES_OAEP_SHA_1",
      );
      expect(result.importParams).toBeUndefined();
      expect(result.wrappedMaterialB64).toBeUndefined();
    } finally {
      close();
    }
  });

  it("made exactly one KMS key per key type, waiting for KMS rather than failing or duplicating", async () => {
    const { live } = await kmsKeysByMigration(emulator.url);
    for (const name of migratable) expect(live.get(name)).toHaveLength(1);
    // Not every key meets a delay (each is uniform in 0..2 s), but over 13 keys some must have waited.
    expect([...waits.values()].reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0);
  });

  it("the non-extractable key fails at preflight and no KMS key is created", async () => {
    const before = await kmsKeyCount();
    const { context, close } = realContext(hsm, emulator.url);
    try {
      const result = await runMigrationInProcess(context, recordFor("sample-ec-p256-nonextractable"), LIMITS);
      expect(result.status).toBe("failed");
      expect(result.error).toMatchObject({ code: "SOURCE_KEY_NOT_EXTRACTABLE", phase: "preflight" });
      expect(result.kmsKeyId).toBeUndefined();
      expect(await kmsKeyCount()).toBe(before);
    } finally {
      close();
    }
  });

  it("a token that expires between wrap and import (KMS says ExpiredImportTokenException) goes back to params and succeeds", async () => {
    const shortLived = await startKmsEmulator({
      quotas: false,
      acceptKwpZeroPadding: true,
      tokenTtlMs: 1500,
    });
    // No safety margin: the token must really reach KMS expired, to exercise KMS's own answer.
    const { context, close } = realContext(hsm, shortLived.url, { tokenSafetyMarginMs: 0 });
    let slept = false;
    try {
      const result = await runMigrationInProcess(
        context,
        recordFor("sample-ec-p384", "expiry-test"),
        LIMITS,
        {
          onPhase: async (_record, phase, outcome) => {
            if (phase === "wrap" && outcome === "success" && !slept) {
              slept = true;
              await sleep(1700);
            }
          },
        },
      );
      expect(result.status).toBe("migrated");
      expect(result.tokenRefreshes).toBe(1);
      expect(shortLived.stats().regions["us-east-1"]?.["GetParametersForImport"]?.calls).toBe(2);
    } finally {
      close();
      await shortLived.close();
    }
  });

  it("leaves no temporary object in the token", async () => {
    expect((await listTokenObjects(token.env)).length).toBe(objectsBefore);
  });
});
