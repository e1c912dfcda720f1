import { describe, expect, it } from "vitest";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { unwrapKeyMaterial } from "../../src/shared/crypto/kms-wrap.js";
import { retryable, tokenExpired } from "../../src/shared/errors.js";
import { LedgerConflictError } from "../../src/shared/ledger/index.js";
import type { MigrationRecord, PhaseName, StoredImportParameters } from "../../src/shared/migration.js";
import { runMigrationInProcess } from "../../src/workers/in-process-runner.js";
import { PHASE_FUNCTIONS, PROVENANCE_TAGS } from "../../src/workers/phases/index.js";
import { harness, phaseRejection, recordFor, runPhase } from "../helpers/phase-harness.js";

type Harness = ReturnType<typeof harness>;
const LIMITS = {
  maxAttempts: 3,
  maxTokenRefreshes: 3,
  tokenSafetyMarginMs: 15 * 60_000,
  baseBackoffMs: 1,
  maxBackoffMs: 2,
};

/** Runs one phase and applies its outcome (and checkpoints) to the record, like a worker would. */
const step = (h: Harness, record: MigrationRecord, phase: PhaseName) => runPhase(h, record, phase);

async function stepsThrough(h: Harness, record: MigrationRecord, last: PhaseName): Promise<MigrationRecord> {
  let current = record;
  for (const phase of ["preflight", "create", "params", "wrap", "import", "verify"] as const) {
    current = await step(h, current, phase);
    if (phase === last) break;
  }
  return current;
}

describe("preflight", () => {
  it("records spec, usage, fingerprint, public key and the wrap plan", async () => {
    const h = harness();
    const key = h.hsm.add("ec", "ECC_NIST_P256");
    const record = await step(h, recordFor(key), "preflight");
    expect(record.phase).toBe("create");
    expect(record.sourceKey).toMatchObject({
      keySpec: "ECC_NIST_P256",
      keyUsage: "SIGN_VERIFY",
      fingerprint: key.fingerprint,
    });
    expect(record.sourceKey?.publicKeySpkiB64).toBe(key.publicKeySpkiDer?.toString("base64"));
    expect(record.wrapPlan).toEqual({ wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_1", hsmPath: "two-step" });
  });

  const refusals: Array<[string, (h: Harness) => MigrationRecord, string]> = [
    [
      "not extractable",
      (h) => recordFor(h.hsm.add("k", "ECC_NIST_P256", { extractable: false })),
      "SOURCE_KEY_NOT_EXTRACTABLE",
    ],
    [
      "wrap with trusted",
      (h) => recordFor(h.hsm.add("k", "ECC_NIST_P384", { wrapWithTrusted: true })),
      "SOURCE_KEY_WRAP_WITH_TRUSTED",
    ],
    [
      "key_spec contradicts the HSM",
      (h) => recordFor(h.hsm.add("k", "ECC_NIST_P256"), { keySpec: "ECC_NIST_P384" }),
      "KEY_SPEC_MISMATCH",
    ],
    [
      "key_usage not valid for the spec",
      (h) => recordFor(h.hsm.add("k", "ECC_SECG_P256K1"), { keyUsage: "KEY_AGREEMENT" }),
      "KEY_USAGE_INVALID",
    ],
    [
      "HMAC asked longer than the key",
      (h) => recordFor(h.hsm.add("k", "HMAC_256"), { keySpec: "HMAC_512" }),
      "KEY_SPEC_MISMATCH",
    ],
    [
      "a type KMS cannot import",
      (h) =>
        recordFor(
          h.hsm.add("k", "SYMMETRIC_DEFAULT", {
            keySpec: undefined,
            unsupportedReason: "AES-128: KMS imports only 256-bit AES keys",
          }),
        ),
      "UNSUPPORTED_KEY_TYPE",
    ],
    ["not found", () => recordFor({ label: "missing" }), "SOURCE_KEY_NOT_FOUND"],
  ];
  it.each(refusals)("fails the key before any KMS key exists: %s", async (_name, setUp, code) => {
    const h = harness();
    const error = await phaseRejection(step(h, setUp(h), "preflight"));
    expect(error.kind).toBe("fatal");
    expect(error.code).toBe(code);
    expect(h.kms.calls).toEqual([]);
  });

  it("names the key and the fix in the message", async () => {
    const h = harness();
    const error = await phaseRejection(
      step(h, recordFor(h.hsm.add("payments-signing", "ECC_NIST_P256", { extractable: false })), "preflight"),
    );
    expect(error.message).toContain('label "payments-signing"');
    expect(error.message).toContain("CKA_EXTRACTABLE");
  });

  it("accepts a shorter HMAC spec for a longer key", async () => {
    const h = harness();
    const record = await step(
      h,
      recordFor(h.hsm.add("mac", "HMAC_512"), { keySpec: "HMAC_256" }),
      "preflight",
    );
    expect(record.sourceKey?.keySpec).toBe("HMAC_256");
  });

  it("prefers SHA-256 when the token can do it", async () => {
    const h = harness();
    h.hsm.capabilitiesValue = {
      ...h.hsm.capabilitiesValue,
      oaepHashes: ["sha256", "sha1"],
      rsaAesKeyWrapHashes: ["sha256"],
    };
    const rsa = await step(h, recordFor(h.hsm.add("rsa", "RSA_2048")), "preflight");
    expect(rsa.wrapPlan).toEqual({
      wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_256",
      hsmPath: "rsa-aes-native",
    });
    const aes = await step(h, recordFor(h.hsm.add("aes", "SYMMETRIC_DEFAULT")), "preflight");
    expect(aes.wrapPlan).toEqual({ wrappingAlgorithm: "RSAES_OAEP_SHA_256", hsmPath: "oaep-direct" });
  });
});

describe("create", () => {
  it("creates one EXTERNAL key with provenance tags and the alias", async () => {
    const h = harness();
    const key = h.hsm.add("ec", "ECC_NIST_P256");
    const record = await stepsThrough(
      h,
      recordFor(key, { alias: "alias/payments", tags: { team: "payments" } }),
      "create",
    );
    expect(record.phase).toBe("params");
    const created = h.kms.keys.get(record.kmsKeyId ?? "");
    expect(created?.info).toMatchObject({
      origin: "EXTERNAL",
      keySpec: "ECC_NIST_P256",
      keyUsage: "SIGN_VERIFY",
      keyState: "PendingImport",
    });
    expect(created?.tags).toMatchObject({
      team: "payments",
      [PROVENANCE_TAGS.migrationId]: record.id,
      [PROVENANCE_TAGS.fingerprint]: key.fingerprint,
    });
    expect(h.kms.aliases.get("alias/payments")).toBe(record.kmsKeyId);
    expect(h.checkpoints.some((patch) => patch.createStartedAt)).toBe(true);
  });

  it("stops before import when the key is in another account than the manifest's", async () => {
    const h = harness();
    // The fake KMS acts in account 111122223333, as a wrong role or endpoint would for this key.
    const preflighted = await step(
      h,
      { ...recordFor(h.hsm.add("ec", "ECC_NIST_P256")), account: "444455556666" },
      "preflight",
    );
    const error = await phaseRejection(PHASE_FUNCTIONS.create(h.ctx, preflighted));
    expect(error.code).toBe("KMS_KEY_WRONG_ACCOUNT");
    expect(error.kind).toBe("fatal");
    expect(error.message).toContain("not 444455556666");
    const same = await step(h, { ...preflighted, account: "111122223333", kmsKeyId: undefined }, "create");
    expect(same.phase).toBe("params");
  });

  it("is idempotent: a repeat finds the key by alias", async () => {
    const h = harness();
    const first = await stepsThrough(
      h,
      recordFor(h.hsm.add("ec", "ECC_NIST_P256"), { alias: "alias/x" }),
      "create",
    );
    const { kmsKeyId: _lost, ...withoutKey } = first;
    const again = await step(h, { ...withoutKey, createStartedAt: undefined, phase: "create" }, "create");
    expect(again.kmsKeyId).toBe(first.kmsKeyId);
    expect(h.kms.count("CreateKey")).toBe(1);
  });

  it("is idempotent without an alias: a CreateKey whose result was lost is found by its provenance tag", async () => {
    const h = harness();
    const preflighted = await step(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "preflight");
    const first = await step(h, preflighted, "create");
    // The crash lost everything after the createStartedAt checkpoint.
    const again = await step(h, { ...preflighted, createStartedAt: first.createStartedAt }, "create");
    expect(again.kmsKeyId).toBe(first.kmsKeyId);
    expect(h.kms.count("CreateKey")).toBe(1);
  });

  it("a key enqueued again (second campaign, lost ledger) adopts its KMS key by tag, without scanning the account", async () => {
    const h = harness();
    const source = h.hsm.add("ec", "ECC_NIST_P256");
    const first = await stepsThrough(h, recordFor(source), "create");
    // A fresh record for the same source key and Region: same migration id, no createStartedAt.
    const second = await stepsThrough(h, recordFor(source), "create");
    expect(second.kmsKeyId).toBe(first.kmsKeyId);
    expect(h.kms.count("CreateKey")).toBe(1);
    expect(h.kms.count("GetResources")).toBe(2);
    expect(h.kms.count("ListKeys")).toBe(0);
  });

  it("after a CreateKey with no answer, an empty tag index is asked again (deferred, no attempt) until it shows the key", async () => {
    const h = harness();
    h.kms.tagIndexLagMs = 30_000;
    const preflighted = await step(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "preflight");
    const first = await step(h, preflighted, "create");
    const lost = { ...preflighted, createStartedAt: first.createStartedAt };
    const waiting = await phaseRejection(step(h, lost, "create"));
    expect(waiting.kind).toBe("deferred");
    expect(waiting.code).toBe("TAG_INDEX_SETTLING");
    expect(waiting.retryAfterMs).toBeGreaterThan(0);
    h.clock.advance(31_000);
    const again = await step(h, lost, "create");
    expect(again.kmsKeyId).toBe(first.kmsKeyId);
    expect(h.kms.count("CreateKey")).toBe(1);
  });

  it("after a CreateKey with no answer that made nothing, it creates once the tag index wait is over", async () => {
    const h = harness();
    const preflighted = await step(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "preflight");
    const lost = { ...preflighted, createStartedAt: h.clock.now().toISOString() };
    expect((await phaseRejection(step(h, lost, "create"))).code).toBe("TAG_INDEX_SETTLING");
    expect(h.kms.count("CreateKey")).toBe(0);
    h.clock.advance(5 * 60_000);
    const created = await step(h, lost, "create");
    expect(created.kmsKeyId).toBeDefined();
    expect(h.kms.count("CreateKey")).toBe(1);
  });

  it("a throttled CreateKey made no key: the repeat creates without asking the tag index again", async () => {
    const h = harness();
    const preflighted = await step(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "preflight");
    h.kms.throttleNext("CreateKey");
    const before = h.checkpoints.length;
    expect((await phaseRejection(step(h, preflighted, "create"))).kind).toBe("throttled");
    const after = { ...preflighted, ...Object.assign({}, ...h.checkpoints.slice(before)) };
    expect(after.createStartedAt).toBeUndefined();
    expect(h.kms.count("GetResources")).toBe(1);
    const created = await step(h, after, "create");
    expect(created.kmsKeyId).toBeDefined();
    expect(h.kms.count("GetResources")).toBe(1);
    expect(h.kms.count("CreateKey")).toBe(2);
  });

  it("two live keys with the same migration id fail the key naming both; one pending deletion is skipped", async () => {
    const h = harness();
    const source = h.hsm.add("ec", "ECC_NIST_P256");
    const preflighted = await step(h, recordFor(source), "preflight");
    const tags = { [PROVENANCE_TAGS.migrationId]: preflighted.id };
    const spec = { keySpec: "ECC_NIST_P256", keyUsage: "SIGN_VERIFY", multiRegion: false } as const;
    const a = await h.kms.createKey({ ...spec, tags });
    const b = await h.kms.createKey({ ...spec, tags });
    const duplicate = await phaseRejection(step(h, preflighted, "create"));
    expect(duplicate.code).toBe("DUPLICATE_KMS_KEYS");
    expect(duplicate.message).toContain(a.keyId);
    expect(duplicate.message).toContain(b.keyId);
    await h.kms.scheduleKeyDeletion(b.keyId, 7);
    expect((await step(h, preflighted, "create")).kmsKeyId).toBe(a.keyId);
  });

  it("a tagged key of another spec is refused, not adopted", async () => {
    const h = harness();
    const preflighted = await step(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "preflight");
    await h.kms.createKey({
      keySpec: "ECC_NIST_P384",
      keyUsage: "SIGN_VERIFY",
      multiRegion: false,
      tags: { [PROVENANCE_TAGS.migrationId]: preflighted.id },
    });
    const error = await phaseRejection(step(h, preflighted, "create"));
    expect(error.code).toBe("KMS_KEY_MISMATCH");
    expect(error.message).toContain("ECC_NIST_P384");
  });

  it("a worker that lost the job during CreateKey schedules the orphan it made for deletion", async () => {
    const h = harness();
    const preflighted = await step(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "preflight");
    h.records.set(preflighted.id, { ...preflighted, kmsKeyId: "the-owners-key" });
    h.ctx.checkpoint = async (patch) => {
      if (patch.kmsKeyId) throw new LedgerConflictError(preflighted.id);
    };
    await expect(step(h, preflighted, "create")).rejects.toBeInstanceOf(LedgerConflictError);
    const [orphan] = [...h.kms.keys.values()];
    expect(orphan?.info.keyState).toBe("PendingDeletion");
  });

  it("refuses an alias that points to a key it did not make", async () => {
    const h = harness();
    const foreign = await h.kms.createKey({
      keySpec: "ECC_NIST_P256",
      keyUsage: "SIGN_VERIFY",
      tags: {},
      multiRegion: false,
    });
    h.kms.aliases.set("alias/taken", foreign.keyId);
    const error = await phaseRejection(
      stepsThrough(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256"), { alias: "alias/taken" }), "create"),
    );
    expect(error.code).toBe("ALIAS_TAKEN");
    expect(h.kms.count("CreateKey")).toBe(1);
  });
});

describe("params, wrap, import", () => {
  it("a wrap with a token inside the safety margin goes back to params", async () => {
    const h = harness();
    const record = await stepsThrough(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "params");
    h.clock.advance(24 * 3_600_000 - 10 * 60_000);
    const error = await phaseRejection(step(h, record, "wrap"));
    expect(error.kind).toBe("token-expired");
    expect(h.hsm.calls).not.toContain("wrapKey");
  });

  it("a wrap refuses a key that changed since preflight", async () => {
    const h = harness();
    const record = await stepsThrough(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "params");
    h.hsm.keys[0]!.description.fingerprint = "sha256:other";
    expect((await phaseRejection(step(h, record, "wrap"))).code).toBe("SOURCE_KEY_CHANGED");
  });

  it("import drops the token and ciphertext, and sends the manifest's expiry", async () => {
    const h = harness();
    const record = await stepsThrough(
      h,
      recordFor(h.hsm.add("ec", "ECC_NIST_P256"), { expiresAt: "2027-06-01T00:00:00Z" }),
      "import",
    );
    expect(record.phase).toBe("verify");
    expect(record.importParams).toBeUndefined();
    expect(record.wrappedMaterialB64).toBeUndefined();
    expect(h.kms.keys.get(record.kmsKeyId ?? "")?.info.keyState).toBe("Enabled");
  });

  it("an import whose success was lost finds the key Enabled and moves on without importing twice", async () => {
    const h = harness();
    const wrapped = await stepsThrough(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "wrap");
    const imported = await step(h, wrapped, "import");
    const repeat = await step(h, { ...wrapped, importStartedAt: imported.importStartedAt }, "import");
    expect(repeat.phase).toBe("verify");
    expect(h.kms.count("ImportKeyMaterial")).toBe(1);
  });

  it("params after a lost import goes straight to verify", async () => {
    const h = harness();
    const imported = await stepsThrough(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "import");
    const again = await step(h, { ...imported, phase: "params" }, "params");
    expect(again.phase).toBe("verify");
    expect(h.kms.count("GetParametersForImport")).toBe(1);
  });

  it("import refuses ciphertext made for other parameters", async () => {
    const h = harness();
    const wrapped = await stepsThrough(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "wrap");
    const error = await phaseRejection(
      step(h, { ...wrapped, wrappedForParams: "2020-01-01T00:00:00Z" }, "import"),
    );
    expect(error.code).toBe("WRAPPED_FOR_OTHER_TOKEN");
  });
});

describe("verify", () => {
  const cases: Array<[string, Parameters<Harness["hsm"]["add"]>[1], string | undefined, string]> = [
    ["EC signing", "ECC_NIST_P384", undefined, "true"],
    ["RSA signing", "RSA_2048", undefined, "true"],
    ["RSA encryption", "RSA_2048", "ENCRYPT_DECRYPT", "true"],
    ["HMAC", "HMAC_224", undefined, "true"],
    ["AES", "SYMMETRIC_DEFAULT", undefined, "roundtrip"],
    ["ECDH", "ECC_NIST_P256", "KEY_AGREEMENT", "true"],
  ];
  it.each(cases)("%s: proves identity", async (_name, spec, usage, verified) => {
    const h = harness();
    const record = await stepsThrough(
      h,
      recordFor(h.hsm.add("k", spec), { keyUsage: usage as never }),
      "verify",
    );
    expect(record.phase).toBe("done");
    expect(record.verified).toBe(verified);
    expect(record.checks?.every((check) => check.result === "pass")).toBe(true);
  });

  it.each(cases)(
    "%s: a wrong key imported is rolled back and fails with evidence",
    async (_name, spec, usage) => {
      const h = harness();
      const key = h.hsm.add("k", spec);
      const imported = await stepsThrough(h, recordFor(key, { keyUsage: usage as never }), "wrap");
      // The HSM now wraps other material than the public key preflight recorded: KMS gets the wrong key.
      h.hsm.replaceMaterial("k");
      const rewrapped = await step(h, { ...imported, wrappedMaterialB64: undefined }, "wrap");
      const afterImport = await step(h, rewrapped, "import");
      if (spec === "SYMMETRIC_DEFAULT") {
        // AES can only be round-tripped in KMS: a wrong AES key is not detectable, which is why it reports "roundtrip".
        expect((await step(h, afterImport, "verify")).verified).toBe("roundtrip");
        return;
      }
      const error = await phaseRejection(step(h, afterImport, "verify"));
      expect(error.code).toBe("VERIFICATION_FAILED");
      expect(h.kms.keys.get(afterImport.kmsKeyId ?? "")?.info.keyState).toBe("PendingDeletion");
      expect(h.kms.count("DeleteImportedKeyMaterial")).toBe(1);
      expect(h.checkpoints.at(-1)).toMatchObject({ verified: "false", rolledBack: true });
    },
  );
});

describe("runMigrationInProcess", () => {
  it("migrates a key through every phase", async () => {
    const h = harness();
    const result = await runMigrationInProcess(h.ctx, recordFor(h.hsm.add("ec", "ECC_SECG_P256K1")), LIMITS);
    expect(result.status).toBe("migrated");
    expect(result.verified).toBe("true");
  });

  it("an expired token at import goes back to params and succeeds", async () => {
    const h = harness();
    h.kms.failNext("ImportKeyMaterial", tokenExpired("IMPORT_TOKEN_EXPIRED", "ExpiredImportTokenException"));
    const result = await runMigrationInProcess(h.ctx, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), LIMITS);
    expect(result.status).toBe("migrated");
    expect(result.tokenRefreshes).toBe(1);
    expect(h.kms.count("GetParametersForImport")).toBe(2);
  });

  it("throttling spends no attempt; retryable errors are bounded", async () => {
    const h = harness();
    h.kms.throttleNext("CreateKey");
    h.kms.throttleNext("CreateKey");
    const ok = await runMigrationInProcess(h.ctx, recordFor(h.hsm.add("a", "ECC_NIST_P256")), LIMITS);
    expect(ok.status).toBe("migrated");
    for (let i = 0; i < 5; i++)
      h.kms.failNext("GetParametersForImport", retryable("KMS_UNAVAILABLE", "KMSInternalException"));
    const failed = await runMigrationInProcess(h.ctx, recordFor(h.hsm.add("b", "ECC_NIST_P256")), LIMITS);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatchObject({ code: "KMS_UNAVAILABLE", phase: "params" });
    expect(failed.error?.message).toContain("gave up after 3 attempts");
  });

  it("token refreshes are bounded", async () => {
    const h = harness();
    for (let i = 0; i < 10; i++)
      h.kms.failNext(
        "ImportKeyMaterial",
        tokenExpired("IMPORT_TOKEN_INVALID", "InvalidImportTokenException"),
      );
    const result = await runMigrationInProcess(h.ctx, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), LIMITS);
    expect(result.status).toBe("failed");
    expect(result.tokenRefreshes).toBe(3);
    expect(result.importParams).toBeUndefined();
  });
});

describe("multi-Region replicas", () => {
  async function migratedPrimary(h: Harness) {
    const key = h.hsm.add("mrk", "ECC_NIST_P256");
    const primary = await stepsThrough(
      h,
      recordFor(key, { multiRegion: true, alias: "alias/mrk" }),
      "verify",
    );
    h.records.set(primary.id, { ...primary, status: "migrated" });
    const replica: MigrationRecord = {
      ...recordFor(key, { multiRegion: true, alias: "alias/mrk" }),
      id: "k-mrk-eu",
      region: "eu-west-1",
      replicaOf: primary.id,
    };
    return { primary, replica };
  }

  it("replicates the primary into the replica Region and imports the same material there", async () => {
    const h = harness();
    const { primary, replica } = await migratedPrimary(h);
    const done = await stepsThrough(h, replica, "verify");
    expect(done.phase).toBe("done");
    expect(done.kmsKeyId).toBe(primary.kmsKeyId);
    expect(done.kmsKeyArn).toContain(":eu-west-1:");
    expect(done.verified).toBe("true");
    expect(h.replicaKms.count("GetParametersForImport")).toBe(1);
    expect(h.replicaKms.keys.get(done.kmsKeyId ?? "")?.tags[PROVENANCE_TAGS.migrationId]).toBe("k-mrk-eu");
    expect(h.replicaKms.aliases.get("alias/mrk")).toBe(done.kmsKeyId);
  });

  it("is idempotent: a repeat finds the replica by key id", async () => {
    const h = harness();
    const { replica } = await migratedPrimary(h);
    const preflighted = await step(h, replica, "preflight");
    const first = await step(h, preflighted, "create");
    const again = await step(h, preflighted, "create");
    expect(again.kmsKeyId).toBe(first.kmsKeyId);
    expect(h.kms.count("ReplicateKey")).toBe(1);
  });

  it("waits, spending no attempt, while the primary is not migrated; fails when it failed", async () => {
    const h = harness();
    const { primary, replica } = await migratedPrimary(h);
    const preflighted = await step(h, replica, "preflight");
    h.records.set(primary.id, { ...primary, status: "in_progress" });
    const waiting = await phaseRejection(step(h, preflighted, "create"));
    expect(waiting.kind).toBe("deferred");
    h.records.set(primary.id, {
      ...primary,
      status: "failed",
      error: { code: "X", kind: "fatal", phase: "verify", message: "", at: "" },
    });
    expect((await phaseRejection(step(h, preflighted, "create"))).code).toBe("PRIMARY_FAILED");
    expect(h.kms.count("ReplicateKey")).toBe(0);
  });
});

describe("HSM2KMS_PARAMS_ON_HSM_HOST: the wrap fetches its own import parameters", () => {
  function hostHarness(): Harness {
    const h = harness();
    h.ctx.settings = { ...h.ctx.settings, paramsOnHsmHost: true };
    return h;
  }

  /** An RSA key pair of someone who can write to Redis, and import parameters that name its public key. */
  function plantedParams(record: MigrationRecord) {
    const attacker = newKeyPairSync({ type: "rsa", modulusLength: 2048 });
    const params: StoredImportParameters = {
      wrappingAlgorithm: record.wrapPlan?.wrappingAlgorithm ?? "RSAES_OAEP_SHA_256",
      wrappingKeySpec: "RSA_2048",
      wrappingPublicKeyB64: attacker.publicKey.export({ type: "spki", format: "der" }).toString("base64"),
      importTokenB64: Buffer.from("forged").toString("base64"),
      validTo: "2099-01-01T00:00:00.000Z",
      fetchedAt: "2026-11-28T11:59:00.000Z",
    };
    return { attacker, params };
  }

  it("create hands over to wrap, which fetches the parameters and wraps; params calls nothing", async () => {
    const h = hostHarness();
    const created = await stepsThrough(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "create");
    expect(created.phase).toBe("wrap");
    expect(await PHASE_FUNCTIONS.params(h.ctx, created)).toEqual({ patch: {}, next: "wrap" });
    expect(h.kms.count("GetParametersForImport")).toBe(0);

    const wrapped = await step(h, created, "wrap");
    expect(wrapped.phase).toBe("import");
    expect(h.kms.count("GetParametersForImport")).toBe(1);
    expect(wrapped.wrappedForParams).toBe(wrapped.importParams?.fetchedAt);
    const verified = await step(h, await step(h, wrapped, "import"), "verify");
    expect(verified.phase).toBe("done");
    expect(verified.verified).toBe("true");
  });

  it("never wraps under a wrapping key found in the ledger (without the setting, it would)", async () => {
    for (const onHsmHost of [false, true]) {
      const h = onHsmHost ? hostHarness() : harness();
      const created = await stepsThrough(
        h,
        recordFor(h.hsm.add(`ec-${onHsmHost}`, "ECC_NIST_P256")),
        "create",
      );
      const { attacker, params } = plantedParams(created);
      const wrapped = await step(h, { ...created, phase: "wrap", importParams: params }, "wrap");
      const ciphertext = Buffer.from(wrapped.wrappedMaterialB64 ?? "", "base64");
      const opened = () => unwrapKeyMaterial(params.wrappingAlgorithm, attacker.privateKey, ciphertext);
      if (!onHsmHost) {
        // The threat this setting closes: the material came out under the planted key.
        expect(opened().length).toBeGreaterThan(0);
        continue;
      }
      expect(opened).toThrow();
      expect(wrapped.importParams?.wrappingPublicKeyB64).not.toBe(params.wrappingPublicKeyB64);
      expect(h.kms.count("GetParametersForImport")).toBe(1);
      expect((await step(h, wrapped, "import")).phase).toBe("verify");
    }
  });

  it("a token that expires before import sends the key back to wrap, not params", async () => {
    const h = hostHarness();
    h.kms.failNext("ImportKeyMaterial", tokenExpired("IMPORT_TOKEN_EXPIRED", "ExpiredImportTokenException"));
    const ran: string[] = [];
    const result = await runMigrationInProcess(
      h.ctx,
      recordFor(h.hsm.add("ec", "ECC_NIST_P256")),
      { ...LIMITS, paramsOnHsmHost: true },
      { onPhase: (_record, phase) => void ran.push(phase) },
    );
    expect(result.status).toBe("migrated");
    expect(result.tokenRefreshes).toBe(1);
    expect(h.kms.count("GetParametersForImport")).toBe(2);
    expect(ran).toEqual(["preflight", "create", "wrap", "import", "wrap", "import", "verify"]);
  });

  it("a key whose import succeeded unseen goes from wrap straight to verify", async () => {
    const h = hostHarness();
    const imported = await stepsThrough(h, recordFor(h.hsm.add("ec", "ECC_NIST_P256")), "import");
    const again = await step(h, { ...imported, phase: "wrap" }, "wrap");
    expect(again.phase).toBe("verify");
    expect(h.kms.count("GetParametersForImport")).toBe(1);
    expect(h.hsm.calls.filter((call) => call === "wrapKey")).toHaveLength(1);
  });
});
