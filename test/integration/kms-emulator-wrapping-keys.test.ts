import { Writable } from "node:stream";
import {
  CreateKeyCommand,
  DescribeKeyCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  type KMSClient,
} from "@aws-sdk/client-kms";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerKmsEmulatorCommand } from "../../src/cli/commands/kms-emulator.js";
import { createLogger } from "../../src/shared/logger.js";
import { kmsEmulatorOptionsFromFlags } from "../../src/testkit/kms-emulator/flags.js";
import { type KmsEmulator, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { wrapKeyMaterial } from "../../src/testkit/wrap-key-material.js";
import { emulatorFlagDefaults } from "../helpers/kms-emulator-flags.js";
import { ecKey, errorName, kmsClient } from "./kms-emulator-fixtures.js";

// One emulator whose wrapping keys each serve 3 answers, one ready ahead (prepared before it listens).
const REUSE = 3;
const logLines: string[] = [];
let emulator: KmsEmulator;
let client: KMSClient;

beforeAll(async () => {
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  emulator = await startKmsEmulator({
    quotas: false,
    wrappingKeyPoolSize: 1,
    wrappingKeyReuse: REUSE,
    wrappingKeyPrepare: ["RSA_2048"],
    logger: createLogger({ destination }),
  });
  client = kmsClient(emulator);
});

afterAll(async () => {
  client?.destroy();
  await emulator?.close();
});

async function externalKey(kms = client): Promise<string> {
  const created = await kms.send(
    new CreateKeyCommand({ Origin: "EXTERNAL", KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" }),
  );
  return created.KeyMetadata!.KeyId!;
}

const parameters = (keyId: string, kms = client) =>
  kms.send(
    new GetParametersForImportCommand({
      KeyId: keyId,
      WrappingAlgorithm: "RSAES_OAEP_SHA_256",
      WrappingKeySpec: "RSA_2048",
    }),
  );

const hex = (bytes: Uint8Array | undefined) => Buffer.from(bytes!).toString("hex");

describe("kms-emulator wrapping-key pool", () => {
  it("a wrapping key serves `reuse` answers; every answer has its own token", async () => {
    const keyIds = [await externalKey(), await externalKey(), await externalKey()];
    const answers = [];
    for (let call = 0; call < 7; call++) answers.push(await parameters(keyIds[call % keyIds.length]!));
    const publicKeys = answers.map((answer) => hex(answer.PublicKey));
    // Calls 1-3 share a key, 4-6 the next, 7 a third (whatever the first caller's position in a key's run).
    expect(new Set(publicKeys).size).toBe(Math.ceil(7 / REUSE));
    expect(publicKeys[0]).toBe(publicKeys[1]);
    expect(publicKeys[3]).not.toBe(publicKeys[2]);
    expect(new Set(answers.map((answer) => hex(answer.ImportToken))).size).toBe(7);
  });

  it("a token stays bound to its key when two keys share a wrapping key (AWS: InvalidImportTokenException)", async () => {
    const [keyId, otherKeyId] = [await externalKey(), await externalKey()];
    const own = await parameters(keyId);
    const other = await parameters(otherKeyId);
    // The refusal must come from the binding, not from a different wrapping key.
    expect(hex(other.PublicKey)).toBe(hex(own.PublicKey));
    const encrypted = wrapKeyMaterial(
      "RSAES_OAEP_SHA_256",
      Buffer.from(own.PublicKey!),
      ecKey("prime256v1").pkcs8,
    );
    const importWith = (ImportToken: Uint8Array) =>
      client.send(
        new ImportKeyMaterialCommand({
          KeyId: keyId,
          ImportToken,
          EncryptedKeyMaterial: encrypted,
          ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE",
        }),
      );
    expect(await errorName(importWith(other.ImportToken!))).toBe("InvalidImportTokenException");
    await importWith(own.ImportToken!);
    const described = await client.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(described.KeyMetadata?.KeyState).toBe("Enabled");
  });

  it("reuse 1 is a fresh wrapping key per call, as AWS KMS", async () => {
    const fresh = await startKmsEmulator({ quotas: false, wrappingKeyPoolSize: 0, wrappingKeyReuse: 1 });
    const freshClient = kmsClient(fresh);
    try {
      const keyId = await externalKey(freshClient);
      const publicKeys = [];
      for (let call = 0; call < 3; call++)
        publicKeys.push(hex((await parameters(keyId, freshClient)).PublicKey));
      expect(new Set(publicKeys).size).toBe(3);
    } finally {
      freshClient.destroy();
      await fresh.close();
    }
  });

  it("states its policy in its start-up log", () => {
    const line = logLines
      .map((text) => JSON.parse(text))
      .find((entry) => entry.wrappingKeys && /wrapping keys/.test(entry.msg));
    expect(line?.wrappingKeys).toEqual({ size: 1, reuse: REUSE, prepare: ["RSA_2048"] });
    expect(line?.msg).toContain(`each serving ${REUSE} GetParametersForImport`);
  });

  it("hsm2kms kms-emulator: --wrapping-key-reuse and --wrapping-key-prepare, their defaults and errors", () => {
    const flags = emulatorFlagDefaults();
    const defaults = kmsEmulatorOptionsFromFlags(flags);
    expect(defaults.wrappingKeyReuse).toBe(100);
    expect(defaults.wrappingKeyPoolSize).toBe(2);
    expect(defaults.wrappingKeyPrepare).toEqual([]);
    const set = kmsEmulatorOptionsFromFlags({
      ...flags,
      wrappingKeyReuse: "1",
      wrappingKeyPrepare: "RSA_2048,RSA_4096",
    });
    expect(set.wrappingKeyReuse).toBe(1);
    expect(set.wrappingKeyPrepare).toEqual(["RSA_2048", "RSA_4096"]);
    expect(() => kmsEmulatorOptionsFromFlags({ ...flags, wrappingKeyReuse: "0" })).toThrow(
      /--wrapping-key-reuse: "0"/,
    );
    expect(() => kmsEmulatorOptionsFromFlags({ ...flags, wrappingKeyPrepare: "SM2" })).toThrow(
      /--wrapping-key-prepare: "SM2"/,
    );
    const program = new Command();
    registerKmsEmulatorCommand(program);
    const help = program.commands.find((command) => command.name() === "kms-emulator")?.helpInformation();
    expect(help).toContain("--wrapping-key-reuse <n>");
    expect(help).toContain("--wrapping-key-prepare <specs>");
  });
});
