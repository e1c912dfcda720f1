import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { unwrapKeyMaterial } from "../../src/shared/crypto/kms-wrap.js";
import type { MigrationRecord } from "../../src/shared/migration.js";
import { runCli } from "../helpers/cli.js";
import { addMixedKeys, cliEnvironment, manifestFor, testLedger } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

/**
 * HSM2KMS_PARAMS_ON_HSM_HOST: whoever can write to Redis plants their own wrapping public key in every
 * record waiting for wrap; the HSM host fetches its own import parameters from KMS and wraps under KMS's key
 * only, so every key still imports and verifies and nothing came out under the planted key.
 */
let token: TestToken;
let emulator: KmsEmulator;
const prefix = randomPrefix("hsmparams");
const expiryPrefix = randomPrefix("hsmparams-expiry");
const emulators: KmsEmulator[] = [];

beforeAll(async () => {
  token = await createTestToken();
  emulator = await startKmsEmulator({ acceptKwpZeroPadding: true });
});

afterAll(async () => {
  await emulator?.close();
  await Promise.all(emulators.map((started) => started.close()));
  for (const name of [prefix, expiryPrefix]) {
    await wipeCampaign(name);
  }
  await token?.cleanup();
});

async function allRecords(from = prefix): Promise<MigrationRecord[]> {
  const { redis, ledger } = testLedger(from);
  try {
    const all: MigrationRecord[] = [];
    for await (const record of ledger.records()) all.push(record);
    return all.sort((a, b) => a.source.label?.localeCompare(b.source.label ?? "") ?? 0);
  } finally {
    redis.disconnect();
  }
}

/** GetParametersForImport calls KMS answered (a throttled call, paced again, is not counted). */
const paramsCalls = (of = emulator) => {
  const stats = of.stats().regions["us-east-1"]?.["GetParametersForImport"];
  return (stats?.calls ?? 0) - (stats?.throttled ?? 0);
};

describe("HSM2KMS_PARAMS_ON_HSM_HOST", () => {
  it("the HSM host fetches the wrapping key itself: a wrapping key planted in Redis is never used", async () => {
    const keys = await addMixedKeys(token.env, "hsmparams", 6, 1);
    const manifest = join(token.dir, "hsmparams.csv");
    await writeFile(manifest, manifestFor(keys));
    const env = cliEnvironment(token.env, emulator.url, prefix, { HSM2KMS_PARAMS_ON_HSM_HOST: "true" });
    expect((await runCli(["enqueue", manifest], env)).code).toBe(0);

    // KMS host: create hands every key to wrap; no params job, no GetParametersForImport.
    const kmsHost = ["worker", "--phases", "create,params,import,verify", "--until-idle"];
    const hsmHost = ["worker", "--phases", "preflight,wrap", "--until-idle"];
    expect((await runCli(hsmHost, env)).code).toBe(0);
    const created = await runCli(kmsHost, env);
    expect(created.code, created.output).toBe(0);
    const waiting = await allRecords();
    expect(waiting.map((record) => record.phase)).toEqual(Array(6).fill("wrap"));
    expect(paramsCalls()).toBe(0);

    // Someone with write access to Redis plants their wrapping key in every record.
    const attacker = newKeyPairSync({ type: "rsa", modulusLength: 2048 });
    const plantedKeyB64 = attacker.publicKey.export({ type: "spki", format: "der" }).toString("base64");
    const { redis, ledger } = testLedger(prefix);
    try {
      for (const record of waiting) {
        const stored = await ledger.get(record.id);
        if (!stored) throw new Error(`no record for ${record.id}`);
        await ledger.save(
          {
            ...stored.record,
            importParams: {
              wrappingAlgorithm: stored.record.wrapPlan?.wrappingAlgorithm ?? "RSAES_OAEP_SHA_256",
              wrappingKeySpec: "RSA_2048",
              wrappingPublicKeyB64: plantedKeyB64,
              importTokenB64: Buffer.from("planted").toString("base64"),
              validTo: new Date(Date.now() + 3_600_000).toISOString(),
              fetchedAt: new Date().toISOString(),
            },
          },
          stored.rev,
        );
      }
    } finally {
      redis.disconnect();
    }

    const wrapped = await runCli(hsmHost, { ...env, HSM2KMS_LOG_LEVEL: "info" });
    expect(wrapped.code, wrapped.output).toBe(0);
    // Each key's planted parameters are reported (a throttled fetch repeats the warning, not the key).
    const warned = new Set(
      wrapped.output
        .split("\n")
        .filter((line) => line.includes("import parameters that this host did not fetch"))
        .map((line) => (JSON.parse(line) as { migrationId: string }).migrationId),
    );
    expect(warned).toEqual(new Set(waiting.map((record) => record.id)));
    expect(paramsCalls()).toBe(6);
    for (const record of await allRecords()) {
      expect(record.phase, record.source.label).toBe("import");
      expect(record.importParams?.wrappingPublicKeyB64).not.toBe(plantedKeyB64);
      const ciphertext = Buffer.from(record.wrappedMaterialB64 ?? "", "base64");
      const algorithm = record.importParams?.wrappingAlgorithm ?? "RSAES_OAEP_SHA_256";
      expect(
        () => unwrapKeyMaterial(algorithm, attacker.privateKey, ciphertext),
        record.source.label,
      ).toThrow();
    }

    const finished = await runCli(kmsHost, env);
    expect(finished.code, finished.output).toBe(0);
    const done = await allRecords();
    expect(done.filter((record) => record.status !== "migrated").map((record) => record.error)).toEqual([]);
    expect(done.every((record) => record.verified === "true" || record.verified === "roundtrip")).toBe(true);
    expect(done.every((record) => record.tokenRefreshes === 0)).toBe(true);
    expect(paramsCalls()).toBe(6);
  }, 120_000);

  it("a token that dies between wrap and import sends the key back to the HSM host's wrap, which fetches anew", async () => {
    const shortTokens = await startKmsEmulator({
      acceptKwpZeroPadding: true,
      quotas: false,
      tokenTtlMs: 6000,
    });
    emulators.push(shortTokens);
    const keys = await addMixedKeys(token.env, "hsmparams-expiry", 4);
    const manifest = join(token.dir, "hsmparams-expiry.csv");
    await writeFile(manifest, manifestFor(keys));
    const env = cliEnvironment(token.env, shortTokens.url, expiryPrefix, {
      HSM2KMS_PARAMS_ON_HSM_HOST: "true",
    });
    expect((await runCli(["enqueue", manifest], env)).code).toBe(0);
    const kmsHost = ["worker", "--phases", "create,params,import,verify", "--until-idle"];
    const hsmHost = ["worker", "--phases", "preflight,wrap", "--until-idle"];
    expect((await runCli(hsmHost, env)).code).toBe(0);
    expect((await runCli(kmsHost, env)).code).toBe(0);
    expect((await runCli(hsmHost, env)).code).toBe(0);
    expect((await allRecords(expiryPrefix)).map((record) => record.phase)).toEqual(Array(4).fill("import"));
    await sleep(6500);

    // The KMS host finds every token dead and hands the keys back to wrap, not to params.
    expect((await runCli(kmsHost, env)).code).toBe(0);
    const refreshed = await allRecords(expiryPrefix);
    expect(refreshed.map((record) => `${record.phase} ${record.tokenRefreshes}`)).toEqual(
      Array(4).fill("wrap 1"),
    );
    expect(refreshed.every((record) => record.importParams === undefined)).toBe(true);

    // One worker with every phase now, so that the new 6 s tokens do not die again between two processes' start-up.
    const rest = await runCli(["worker", "--until-idle"], env);
    expect(rest.code, rest.output).toBe(0);
    const done = await allRecords(expiryPrefix);
    expect(done.map((record) => `${record.status} ${record.phase} ${record.tokenRefreshes}`)).toEqual(
      Array(4).fill("migrated done 1"),
    );
    expect(paramsCalls(shortTokens)).toBe(8);
  }, 120_000);
});
