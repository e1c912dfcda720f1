import { createPublicKey } from "node:crypto";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { reportRow } from "../../src/assurance/report.js";
import type { KeySpec, KeyUsage } from "../../src/shared/key-specs.js";
import { mapKmsError } from "../../src/shared/kms/kms-errors.js";
import { createLogger } from "../../src/shared/logger.js";
import type { MigrationRecord, PhaseName } from "../../src/shared/migration.js";
import { harness, phaseRejection, recordFor, runPhase } from "../helpers/phase-harness.js";

type Harness = ReturnType<typeof harness>;

/** Runs one phase and applies its outcome (and checkpoints) to the record, like a worker would. */
const step = (h: Harness, record: MigrationRecord, phase: PhaseName) => runPhase(h, record, phase);

/** Runs phases from the record's own until `done`, as the scheduler hands them over; names them in `ran`. */
async function run(h: Harness, record: MigrationRecord, ran: PhaseName[] = []): Promise<MigrationRecord> {
  let current = record;
  while (current.phase !== "done") {
    ran.push(current.phase);
    current = await step(h, current, current.phase);
  }
  return current;
}

/** Log lines of the harness's phases, parsed. */
function captureLogs(h: Harness): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  h.ctx.logger = createLogger({
    level: "debug",
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    }),
  });
  return lines;
}

/** Gives the fake HSM's only key new material, public key included (what a second preflight then sees). */
function replaceHsmKey(h: Harness): void {
  h.hsm.replaceMaterial("k");
  const [key] = h.hsm.keys;
  if (key?.privateKey)
    key.description.publicKeySpkiDer = createPublicKey(key.privateKey).export({
      format: "der",
      type: "spki",
    });
}

const ROLLBACK_CALLS = ["DeleteImportedKeyMaterial", "ScheduleKeyDeletion"];
const rollbackCalls = (h: Harness) => h.kms.calls.filter((call) => ROLLBACK_CALLS.includes(call));

const TYPES: Array<[string, KeySpec, KeyUsage | undefined, string]> = [
  ["EC signing", "ECC_NIST_P256", undefined, "true"],
  ["RSA encryption", "RSA_2048", "ENCRYPT_DECRYPT", "true"],
  ["HMAC", "HMAC_256", undefined, "true"],
  ["AES", "SYMMETRIC_DEFAULT", undefined, "roundtrip"],
];

/** Campaign A migrates the key under an alias; returns a fresh record of campaign B (same migration id). */
async function migratedByEarlierCampaign(h: Harness, spec: KeySpec, usage: KeyUsage | undefined) {
  const key = h.hsm.add("k", spec);
  const request = { alias: "alias/k", keyUsage: usage };
  const first = await run(h, recordFor(key, request));
  expect(first.verified).not.toBe("false");
  return { first, second: recordFor(key, request) };
}

describe("a KMS key adopted without a wrap (second campaign, or a lost ledger)", () => {
  it.each(TYPES)("%s: is proven without the HSM wrapping it again", async (_name, spec, usage, verified) => {
    const h = harness();
    const { first, second } = await migratedByEarlierCampaign(h, spec, usage);
    const wrapsBefore = h.hsm.calls.filter((call) => call === "wrapKey").length;
    const ran: PhaseName[] = [];
    const done = await run(h, second, ran);
    expect(ran).toEqual(["preflight", "create", "verify"]);
    expect(done.kmsKeyId).toBe(first.kmsKeyId);
    expect(done.importStartedAt).toBeUndefined();
    expect(done.verified).toBe(verified);
    expect(done.checks?.every((check) => check.result === "pass")).toBe(true);
    expect(h.hsm.calls.filter((call) => call === "wrapKey").length).toBe(wrapsBefore);
    expect(h.kms.count("CreateKey")).toBe(1);
    expect(h.kms.count("ImportKeyMaterial")).toBe(1);
    expect(rollbackCalls(h)).toEqual([]);
  });

  it.each(TYPES.filter(([, spec]) => spec !== "SYMMETRIC_DEFAULT"))(
    "%s: whose material differs fails ADOPTED_KEY_MISMATCH with the evidence, and nothing in KMS is touched",
    async (_name, spec, usage) => {
      const h = harness();
      const { first, second } = await migratedByEarlierCampaign(h, spec, usage);
      // The HSM key under that label is now another one: the adopted KMS key holds the old material.
      replaceHsmKey(h);
      const logs = captureLogs(h);
      const adopted = await step(h, await step(h, second, "preflight"), "create");
      expect(adopted.phase).toBe("verify");
      const error = await phaseRejection(step(h, adopted, "verify"));
      expect(error.code).toBe("ADOPTED_KEY_MISMATCH");
      expect(error.kind).toBe("fatal");
      expect(error.message).toContain(first.kmsKeyId);
      expect(error.message).toContain("nothing was changed in KMS");
      expect(rollbackCalls(h)).toEqual([]);
      expect(h.kms.keys.get(first.kmsKeyId ?? "")?.info.keyState).toBe("Enabled");
      const saved = h.checkpoints.at(-1);
      expect(saved).toMatchObject({ verified: "false", rolledBack: false });
      const failed = saved?.checks?.filter((check) => check.result === "fail") ?? [];
      expect(failed.length).toBeGreaterThan(0);
      for (const check of failed) expect(error.message).toContain(`${check.name}: ${check.detail}`);
      const logged = logs.find((line) => String(line["msg"]).includes("nothing changed in KMS"));
      expect(logged).toMatchObject({ level: 50, kmsKeyId: first.kmsKeyId });
    },
  );

  it("an HMAC key without a recorded HSM MAC ends verified=unproven with the reason, untouched", async () => {
    const h = harness();
    const { second } = await migratedByEarlierCampaign(h, "HMAC_256", undefined);
    // A record preflighted by an hsm2kms that asked the HSM for its MAC only at wrap.
    const adopted = await step(
      h,
      { ...(await step(h, second, "preflight")), hsmChallenge: undefined },
      "create",
    );
    const done = await step(h, adopted, "verify");
    expect(done.phase).toBe("done");
    expect(done.verified).toBe("unproven");
    expect(done.checks).toEqual([
      expect.objectContaining({ name: "kms-mac-equals-hsm-mac", result: "unproven" }),
    ]);
    expect(rollbackCalls(h)).toEqual([]);
    expect(h.kms.count("GenerateMac")).toBe(1); // campaign A's verify only
    const row = reportRow({ ...done, status: "migrated" });
    expect(row.verified).toBe("unproven");
    expect(row.error).toMatch(/^VERIFICATION_UNPROVEN: kms-mac-equals-hsm-mac: no HSM MAC was recorded/);
  });

  it("an asymmetric key whose HSM public key is unknown ends verified=unproven, even one this migration imported", async () => {
    const h = harness();
    const key = h.hsm.add("k", "ECC_NIST_P384");
    const imported = await run(h, recordFor(key));
    expect(imported.verified).toBe("true");
    const withoutPublicKey = {
      ...imported,
      phase: "verify" as const,
      sourceKey: imported.sourceKey && { ...imported.sourceKey, publicKeySpkiB64: undefined },
    };
    const done = await step(h, withoutPublicKey, "verify");
    expect(done.verified).toBe("unproven");
    expect(done.checks?.map((check) => check.result)).toEqual(["unproven", "unproven"]);
    expect(rollbackCalls(h)).toEqual([]);
  });
});

describe("material this migration imported", () => {
  it.each([
    ["EC signing", "ECC_NIST_P256", undefined],
    ["RSA encryption", "RSA_2048", "ENCRYPT_DECRYPT"],
    ["HMAC", "HMAC_384", undefined],
  ] as Array<[string, KeySpec, KeyUsage | undefined]>)(
    "%s: a proven mismatch rolls back and logs and reports the evidence",
    async (_name, spec, usage) => {
      const h = harness();
      const key = h.hsm.add("k", spec);
      let record = recordFor(key, { keyUsage: usage });
      for (const phase of ["preflight", "create", "params"] as const) record = await step(h, record, phase);
      // The HSM wraps other material than preflight described: KMS accepts it, only verify can tell.
      h.hsm.replaceMaterial("k");
      record = await step(h, await step(h, record, "wrap"), "import");
      expect(record.importStartedAt).toBeDefined();
      const logs = captureLogs(h);
      const error = await phaseRejection(step(h, record, "verify"));
      expect(error.code).toBe("VERIFICATION_FAILED");
      expect(error.message).toContain("its material was deleted and the key is scheduled for deletion");
      expect(rollbackCalls(h)).toEqual(["DeleteImportedKeyMaterial", "ScheduleKeyDeletion"]);
      expect(h.kms.keys.get(record.kmsKeyId ?? "")?.info.keyState).toBe("PendingDeletion");
      const saved = h.checkpoints.at(-1);
      expect(saved).toMatchObject({ verified: "false", rolledBack: true });
      const failed = saved?.checks?.filter((check) => check.result === "fail") ?? [];
      expect(failed.length).toBeGreaterThan(0);
      for (const check of failed) {
        expect(check.detail).toBeTruthy();
        expect(error.message).toContain(`${check.name}: ${check.detail}`);
      }
      const logged = logs.find((line) => String(line["msg"]).includes("rolling back"));
      expect(logged).toMatchObject({ level: 50, kmsKeyId: record.kmsKeyId });
      expect(logged?.["checks"]).toEqual(saved?.checks);
      // The HSM's MAC is never part of the evidence.
      expect(JSON.stringify(logs)).not.toContain(record.hsmChallenge?.expectedB64 ?? "none");
    },
  );
});

describe("a KMS error in verify is not a proof", () => {
  const awsError = (name: string, status: number, operation: string) =>
    mapKmsError(
      Object.assign(new Error(`${name} from KMS`), { name, $metadata: { httpStatusCode: status } }),
      operation,
      `${operation} for key k`,
    );
  const ERRORS: Array<[string, number]> = [
    ["KMSInvalidStateException", 400],
    ["NotFoundException", 400],
    ["AccessDeniedException", 400],
    ["ThrottlingException", 400],
    ["KMSInternalException", 500],
  ];
  const FIRST_CALL: Array<[string, KeySpec, KeyUsage | undefined, string]> = [
    ["EC signing", "ECC_NIST_P256", undefined, "GetPublicKey"],
    ["HMAC", "HMAC_256", undefined, "GenerateMac"],
    ["AES", "SYMMETRIC_DEFAULT", undefined, "Encrypt"],
  ];

  it.each(FIRST_CALL)(
    "%s: KMSInvalidStateException, NotFound, AccessDenied, throttling, 5xx propagate; nothing is rolled back or marked",
    async (_name, spec, usage, operation) => {
      const h = harness();
      let record = recordFor(h.hsm.add("k", spec), { keyUsage: usage });
      for (const phase of ["preflight", "create", "params", "wrap", "import"] as const)
        record = await step(h, record, phase);
      const checkpointsBefore = h.checkpoints.length;
      for (const [name, status] of ERRORS) {
        const injected = awsError(name, status, operation);
        h.kms.failNext(operation, injected);
        expect(await phaseRejection(step(h, record, "verify"))).toBe(injected);
      }
      expect(rollbackCalls(h)).toEqual([]);
      expect(h.checkpoints.length).toBe(checkpointsBefore);
      expect(h.kms.keys.get(record.kmsKeyId ?? "")?.info.keyState).toBe("Enabled");
      // Once KMS answers, the same record is proven.
      expect((await step(h, record, "verify")).verified).toBe(
        spec === "SYMMETRIC_DEFAULT" ? "roundtrip" : "true",
      );
    },
  );

  it("InvalidCiphertextException on an AES round trip proves nothing about the HSM key: it propagates", async () => {
    const h = harness();
    let record = recordFor(h.hsm.add("k", "SYMMETRIC_DEFAULT"));
    for (const phase of ["preflight", "create", "params", "wrap", "import"] as const)
      record = await step(h, record, phase);
    h.kms.failNext("Decrypt", awsError("InvalidCiphertextException", 400, "Decrypt"));
    const error = await phaseRejection(step(h, record, "verify"));
    expect(error.code).toBe("KMS_INVALID_CIPHERTEXT");
    expect(rollbackCalls(h)).toEqual([]);
  });
});
