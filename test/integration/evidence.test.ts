import { createHash, createPublicKey, verify } from "node:crypto";
import { cp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  GetPublicKeyCommand,
  KMSClient,
} from "@aws-sdk/client-kms";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  EvidenceManifest,
  EvidenceRecord,
  ManifestSignature,
} from "../../src/assurance/evidence/index.js";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { openPkcs11Hsm } from "../../src/shared/hsm/index.js";
import { runCli } from "../helpers/cli.js";
import { cliEnvironment } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { emulatorKms, TEST_CREDENTIALS } from "../helpers/pipeline.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

const LABELS = ["sample-ec-p256", "sample-rsa-2048", "sample-hmac-256", "sample-aes-256"] as const;
const SIGNER_ALIAS = "alias/evidence-signer";

let token: TestToken;
let emulator: KmsEmulator;
let kms: KMSClient;
let env: Record<string, string>;
let work: string;
let pack: string;
let signerArn: string;
let signerPem: string;
const prefix = randomPrefix("evidence");

const readJson = async <T>(path: string) => JSON.parse(await readFile(path, "utf8")) as T;
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** A copy of the signed pack to spoil. */
async function copyOfPack(name: string): Promise<string> {
  const copy = join(work, name);
  await cp(pack, copy, { recursive: true });
  return copy;
}

async function recordOf(dir: string, label: string): Promise<{ file: string; record: EvidenceRecord }> {
  const manifest = await readJson<EvidenceManifest>(join(dir, "manifest.json"));
  const entry = manifest.records.find((candidate) => candidate.sourceLabel === label);
  if (!entry) throw new Error(`no record for ${label}`);
  return { file: entry.file, record: await readJson<EvidenceRecord>(join(dir, entry.file)) };
}

beforeAll(async () => {
  token = await createTestToken({ keys: [...LABELS] });
  emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true });
  env = cliEnvironment(token.env, emulator.url, prefix);
  work = join(token.dir, "evidence");
  await mkdir(work, { recursive: true });
  pack = join(work, "pack");
  const manifest = join(work, "keys.csv");
  await writeFile(manifest, `source_label\n${LABELS.join("\n")}\n`);
  const migrated = await runCli(["migrate", manifest], env);
  expect(migrated.code, migrated.output).toBe(0);

  kms = new KMSClient({
    region: "us-east-1",
    endpoint: emulator.url,
    credentials: TEST_CREDENTIALS,
    maxAttempts: 1,
  });
  const created = await kms.send(new CreateKeyCommand({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }));
  signerArn = created.KeyMetadata?.Arn ?? "";
  await kms.send(new CreateAliasCommand({ AliasName: SIGNER_ALIAS, TargetKeyId: signerArn }));
  const publicKey = await kms.send(new GetPublicKeyCommand({ KeyId: SIGNER_ALIAS }));
  signerPem = join(work, "signer.pem");
  await writeFile(
    signerPem,
    createPublicKey({ key: Buffer.from(publicKey.PublicKey ?? []), format: "der", type: "spki" }).export({
      format: "pem",
      type: "spki",
    }),
  );
});

afterAll(async () => {
  kms?.destroy();
  await emulator?.close();
  await wipeCampaign(prefix);
  await token?.cleanup();
});

describe("evidence pack", () => {
  it("writes one record per migrated key and a manifest signed with a KMS key, operator from STS", async () => {
    const stsCallsBefore = emulator.stats().regions["us-east-1"]?.["GetCallerIdentity"]?.calls ?? 0;
    const made = await runCli(["evidence", "--out", pack, "--sign-with", SIGNER_ALIAS], env);
    expect(made.code, made.output).toBe(0);
    expect(made.output).toContain(
      `evidence pack ${pack}: 4 records, 0 keys without a record, signed with ${signerArn}`,
    );
    expect(emulator.stats().regions["us-east-1"]?.["GetCallerIdentity"]?.calls).toBe(stsCallsBefore + 1);

    const manifest = await readJson<EvidenceManifest>(join(pack, "manifest.json"));
    expect(manifest.counts).toEqual({ keys: 4, records: 4, notMigrated: 0 });
    expect(manifest.tool).toEqual({ name: "hsm2kms", version: "0.1.0" });
    expect(manifest.operator).toMatchObject({
      source: "sts",
      arn: "arn:aws:iam::111122223333:user/test",
      account: "111122223333",
    });
    expect(manifest.records.map((entry) => entry.sourceLabel).sort()).toEqual([...LABELS].sort());
    for (const entry of manifest.records) {
      expect(entry.file).toMatch(/^records\/k[0-9a-f]{40}\.json$/);
      expect(entry.sha256).toBe(sha256(await readFile(join(pack, entry.file))));
    }

    const hsm = await openPkcs11Hsm(token.hsmConfig, { sessions: 1 });
    try {
      for (const label of LABELS) {
        const { record } = await recordOf(pack, label);
        const described = await kms.send(new DescribeKeyCommand({ KeyId: record.kms.keyId }));
        expect(record.kms).toMatchObject({ keyArn: described.KeyMetadata?.Arn, region: "us-east-1" });
        expect(record.verification.checks.length).toBeGreaterThan(0);
        expect(record.verification.checks.every((check) => check.result === "pass")).toBe(true);
        expect(record.operator.source).toBe("sts");
        expect(record.timestamps.imported).toBeDefined();
        expect(record.timestamps.verified).toBeDefined();
        const spki = (await hsm.describeKey({ label })).publicKeySpkiDer;
        if (spki) expect(record.source.spkiSha256).toBe(sha256(spki));
        else expect(record.source.spkiSha256).toBeUndefined();
      }
    } finally {
      await hsm.close();
    }
    const ec = (await recordOf(pack, "sample-ec-p256")).record;
    expect(ec.kms).toMatchObject({ keySpec: "ECC_NIST_P256", keyUsage: "SIGN_VERIFY" });
    expect(ec.wrapping.algorithm).toMatch(/^RSA_AES_KEY_WRAP_SHA_/);
    expect(
      ec.verification.checks.find((check) => check.name === "kms-signature-verifies-with-hsm-public-key"),
    ).toMatchObject({
      algorithm: "ECDSA_SHA_256",
      messageB64: expect.any(String),
      signatureB64: expect.any(String),
    });
    expect((await recordOf(pack, "sample-aes-256")).record.verification.verified).toBe("roundtrip");

    const signature = await readJson<ManifestSignature>(join(pack, "manifest.sig.json"));
    expect(signature).toMatchObject({ algorithm: "ECDSA_SHA_256", messageType: "DIGEST", keyArn: signerArn });
    const signerKey = createPublicKey(await readFile(signerPem, "utf8"));
    expect(signature.publicKeySpkiB64).toBe(
      signerKey.export({ format: "der", type: "spki" }).toString("base64"),
    );
    expect(
      verify(
        "sha256",
        await readFile(join(pack, "manifest.json")),
        signerKey,
        Buffer.from(signature.signatureB64, "base64"),
      ),
    ).toBe(true);
  });

  it("holds no secret: not the token's PIN, no import token, no wrapped material", async () => {
    const pin = (await readFile(token.env["HSM2KMS_PKCS11_PIN_FILE"] ?? "", "utf8")).trim();
    expect(pin.length).toBeGreaterThan(8);
    const files = [
      "manifest.json",
      "manifest.sig.json",
      ...(await readdir(join(pack, "records"))).map((name) => `records/${name}`),
    ];
    for (const file of files) {
      const text = await readFile(join(pack, file), "utf8");
      expect(text).not.toContain(pin);
      expect(text).not.toContain(Buffer.from(pin).toString("base64"));
      expect(text).not.toMatch(/importToken|wrappedMaterial|ImportToken|expectedB64/);
    }
  });

  it("evidence verify: exit 0 with the pinned public key; without it, the embedded key's fingerprint and a warning", async () => {
    const pinned = await runCli(["evidence", "verify", pack, "--public-key", signerPem], env);
    expect(pinned.code, pinned.output).toBe(0);
    expect(pinned.output).toMatch(
      /4 records, 0 keys without a record, signature verified .*pinned\), 2 record signatures verified again offline: OK/,
    );

    // Offline: no Redis, no KMS in this environment.
    const unpinned = await runCli(["evidence", "verify", pack], { REDIS_URL: "redis://127.0.0.1:1" });
    expect(unpinned.code, unpinned.output).toBe(0);
    const { publicKeySha256 } = await readJson<ManifestSignature>(join(pack, "manifest.sig.json"));
    expect(unpinned.output).toContain(
      `embedded in manifest.sig.json (SHA-256 ${publicKeySha256}); an auditor should pin`,
    );
  });

  it("a changed byte in a record, a deleted record, an extra record: exit 1 naming the file", async () => {
    const changed = await copyOfPack("changed");
    const { file } = await recordOf(changed, "sample-hmac-256");
    const text = await readFile(join(changed, file), "utf8");
    await writeFile(join(changed, file), text.replace('"attempts": ', '"attempts": 1'));
    const changedRun = await runCli(["evidence", "verify", changed, "--public-key", signerPem], {});
    expect(changedRun.code).toBe(1);
    expect(changedRun.output).toContain(
      `${file} ("sample-hmac-256", us-east-1): SHA-256 differs from manifest.json`,
    );

    const deleted = await copyOfPack("deleted");
    const gone = (await recordOf(deleted, "sample-rsa-2048")).file;
    await rm(join(deleted, gone));
    const deletedRun = await runCli(["evidence", "verify", deleted, "--public-key", signerPem], {});
    expect(deletedRun.code).toBe(1);
    expect(deletedRun.output).toContain(
      `${gone} ("sample-rsa-2048", us-east-1): listed in manifest.json but missing`,
    );

    const extra = await copyOfPack("extra");
    await cp(join(extra, file), join(extra, "records/k0000000000000000000000000000000000000000.json"));
    const extraRun = await runCli(["evidence", "verify", extra, "--public-key", signerPem], {});
    expect(extraRun.code).toBe(1);
    expect(extraRun.output).toContain(
      "records/k0000000000000000000000000000000000000000.json: not listed in manifest.json",
    );
  });

  it("a changed manifest fails the signature; so does a --public-key that is not the signer's", async () => {
    const changed = await copyOfPack("manifest-changed");
    const manifestPath = join(changed, "manifest.json");
    const manifest = await readJson<EvidenceManifest>(manifestPath);
    await writeFile(
      manifestPath,
      `${JSON.stringify({ ...manifest, createdAt: "2020-01-01T00:00:00.000Z" }, null, 2)}\n`,
    );
    const changedRun = await runCli(["evidence", "verify", changed, "--public-key", signerPem], {});
    expect(changedRun.code).toBe(1);
    expect(changedRun.output).toContain(
      "manifest.sig.json: the signature does not verify over manifest.json",
    );

    const other = join(work, "other.pem");
    const { publicKey } = newKeyPairSync({ type: "ec", namedCurve: "prime256v1" });
    await writeFile(other, publicKey.export({ format: "pem", type: "spki" }));
    const wrongKey = await runCli(["evidence", "verify", pack, "--public-key", other], {});
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.output).toMatch(
      /manifest\.sig\.json: signed with public key [0-9a-f]{64}, not the --public-key given/,
    );
    expect(wrongKey.output).toContain("manifest.sig.json: the signature does not verify");
  });

  it("a record whose KMS signature was altered (hashes made to match, unsigned pack) fails the offline re-check", async () => {
    const unsigned = join(work, "unsigned");
    const made = await runCli(["evidence", "--out", unsigned], env);
    expect(made.code, made.output).toBe(0);
    expect(made.output).toContain("not signed (no --sign-with)");
    const { file, record } = await recordOf(unsigned, "sample-ec-p256");
    const check = record.verification.checks.find(
      (c) => c.name === "kms-signature-verifies-with-hsm-public-key",
    );
    const signature = Buffer.from(check?.signatureB64 ?? "", "base64");
    signature[signature.length - 3] = (signature[signature.length - 3] ?? 0) ^ 0x01;
    if (check) check.signatureB64 = signature.toString("base64");
    const bytes = Buffer.from(`${JSON.stringify(record, null, 2)}\n`);
    await writeFile(join(unsigned, file), bytes);
    const manifestPath = join(unsigned, "manifest.json");
    const manifest = await readJson<EvidenceManifest>(manifestPath);
    for (const entry of manifest.records) if (entry.file === file) entry.sha256 = sha256(bytes);
    await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

    const run = await runCli(["evidence", "verify", unsigned], {});
    expect(run.code).toBe(1);
    expect(run.output).toContain(
      `${file} ("sample-ec-p256", us-east-1): check kms-signature-verifies-with-hsm-public-key: the KMS signature does not verify with the source (HSM) public key`,
    );
    expect(run.output).toContain("1 problem\n");
    expect(run.output).toContain("the pack is not signed");
    // Pinning a key makes a missing signature a problem.
    expect((await runCli(["evidence", "verify", unsigned, "--public-key", signerPem], {})).output).toContain(
      "manifest.sig.json: missing, but --public-key was given",
    );
  });

  it("an RSA signing key signs with RSASSA_PSS_SHA_256; a DER --public-key pins it", async () => {
    const created = await kms.send(new CreateKeyCommand({ KeySpec: "RSA_2048", KeyUsage: "SIGN_VERIFY" }));
    const rsaPack = join(work, "rsa-pack");
    const made = await runCli(
      ["evidence", "--out", rsaPack, "--sign-with", created.KeyMetadata?.Arn ?? ""],
      env,
    );
    expect(made.code, made.output).toBe(0);
    const signature = await readJson<ManifestSignature>(join(rsaPack, "manifest.sig.json"));
    expect(signature.algorithm).toBe("RSASSA_PSS_SHA_256");
    const der = join(work, "rsa-signer.der");
    const publicKey = await kms.send(new GetPublicKeyCommand({ KeyId: created.KeyMetadata?.KeyId }));
    await writeFile(der, Buffer.from(publicKey.PublicKey ?? []));
    const run = await runCli(["evidence", "verify", rsaPack, "--public-key", der], {});
    expect(run.code, run.output).toBe(0);
  });

  it("refuses a non-empty --out without --force, a signing key that cannot sign, and unusable input (exit 2)", async () => {
    const refused = await runCli(["evidence", "--out", pack], env);
    expect(refused.code).toBe(2);
    expect(refused.output).toContain("the folder is not empty; choose another or add --force");

    const fresh = join(work, "never-written");
    const hmacKey = (await recordOf(pack, "sample-hmac-256")).record.kms.keyArn;
    const wrongKey = await runCli(["evidence", "--out", fresh, "--sign-with", hmacKey], env);
    expect(wrongKey.code).toBe(2);
    expect(wrongKey.output).toContain("key usage is GENERATE_VERIFY_MAC; expected SIGN_VERIFY");
    const missing = await runCli(["evidence", "--out", fresh, "--sign-with", "alias/none"], env);
    expect(missing.code).toBe(2);
    expect(missing.output).toContain("--sign-with alias/none: no such KMS key in us-east-1");
    expect(await readdir(work)).not.toContain("never-written");
    expect((await readdir(work)).filter((name) => name.includes(".tmp-"))).toEqual([]);

    expect((await runCli(["evidence", "verify", work], {})).code).toBe(2);
    expect(
      (await runCli(["evidence", "verify", pack, "--public-key", join(work, "none.pem")], {})).code,
    ).toBe(2);
    expect(
      (await runCli(["evidence", "verify", pack, "--public-key", join(work, "keys.csv")], {})).code,
    ).toBe(2);
  });

  it("--force replaces a pack; with STS unreachable the operator is recorded as unavailable, the pack still made", async () => {
    const replaced = await copyOfPack("replaced");
    const made = await runCli(["evidence", "--out", replaced, "--force"], {
      ...env,
      HSM2KMS_KMS_ENDPOINT: "http://127.0.0.1:1",
    });
    expect(made.code, made.output).toBe(0);
    expect(made.output).toContain("no AWS caller identity");
    const manifest = await readJson<EvidenceManifest>(join(replaced, "manifest.json"));
    expect(manifest.operator).toMatchObject({ source: "unavailable", reason: expect.any(String) });
    expect(manifest.operator.localUser).toEqual(expect.any(String));
    expect(await readdir(replaced)).toEqual(["manifest.json", "records"]);
    expect((await runCli(["evidence", "verify", replaced], {})).code).toBe(0);
  });

  it("keys that are not migrated are listed in the manifest with their error, get no record, and are counted on stderr", async () => {
    const manifestCsv = join(work, "missing.csv");
    await writeFile(manifestCsv, "source_label\nno-such-key\n");
    expect((await runCli(["migrate", manifestCsv], env)).code).toBe(1);
    const partial = join(work, "partial");
    const made = await runCli(["evidence", "--out", partial], env);
    expect(made.code).toBe(1);
    expect(made.output).toContain("1 of 5 keys are not migrated and have no record");
    expect(made.output).toMatch(/no-such-key \(us-east-1\): failed, SOURCE_KEY_NOT_FOUND/);
    const manifest = await readJson<EvidenceManifest>(join(partial, "manifest.json"));
    expect(manifest.counts).toEqual({ keys: 5, records: 4, notMigrated: 1 });
    expect(manifest.notMigrated[0]).toMatchObject({
      sourceLabel: "no-such-key",
      status: "failed",
      error: { code: "SOURCE_KEY_NOT_FOUND" },
    });
    expect((await readdir(join(partial, "records"))).length).toBe(4);
    expect((await runCli(["evidence", "verify", partial], {})).code).toBe(0);
  });
});

describe("KMS emulator: what the evidence pack needs", () => {
  it("Sign with MessageType DIGEST signs the digest as AWS does; a digest of the wrong length is a ValidationException", async () => {
    const port = emulatorKms(emulator.url);
    try {
      const message = Buffer.from("a manifest longer than it looks".repeat(200));
      const digest = createHash("sha256").update(message).digest();
      const signature = await port.sign(SIGNER_ALIAS, digest, "ECDSA_SHA_256", "DIGEST");
      expect(verify("sha256", message, createPublicKey(await readFile(signerPem, "utf8")), signature)).toBe(
        true,
      );
      await expect(
        port.sign(SIGNER_ALIAS, digest.subarray(1), "ECDSA_SHA_256", "DIGEST"),
      ).rejects.toMatchObject({
        kind: "fatal",
        details: { awsError: "ValidationException" },
      });
      // RAW stays the default for existing callers.
      const raw = await port.sign(SIGNER_ALIAS, Buffer.from("short"), "ECDSA_SHA_256");
      expect(
        verify("sha256", Buffer.from("short"), createPublicKey(await readFile(signerPem, "utf8")), raw),
      ).toBe(true);
    } finally {
      port.close();
    }
  });

  it("answers STS GetCallerIdentity through the real STS client, with the emulator's account", async () => {
    const other = await startKmsEmulator({
      accountId: "444455556666",
      wrappingKeyPoolSize: 0,
      credentials: [{ accessKeyId: "AKIDAUDITOR", secretAccessKey: "x" }],
    });
    const sts = new STSClient({
      region: "eu-west-1",
      endpoint: other.url,
      credentials: { accessKeyId: "AKIDAUDITOR", secretAccessKey: "x" },
      maxAttempts: 1,
    });
    try {
      const identity = await sts.send(new GetCallerIdentityCommand({}));
      expect(identity).toMatchObject({
        Account: "444455556666",
        Arn: "arn:aws:iam::444455556666:user/AKIDAUDITOR",
        UserId: expect.stringMatching(/^AIDA[0-9A-F]{17}$/),
      });
      expect((await sts.send(new GetCallerIdentityCommand({}))).UserId).toBe(identity.UserId);
    } finally {
      sts.destroy();
      await other.close();
    }
  });
});
