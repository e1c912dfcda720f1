import { readFileSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerSandboxCommand } from "../../src/cli/commands/sandbox.js";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { openPkcs11Hsm } from "../../src/shared/hsm/index.js";
import type { HsmPort } from "../../src/shared/hsm/types.js";
import { keySpecInfo } from "../../src/shared/key-specs.js";
import { Secret } from "../../src/shared/secret.js";
import {
  initSandboxToken,
  SAMPLE_KEY_NAMES,
  SAMPLE_KEYS,
  type SandboxToken,
} from "../../src/testkit/softhsm.js";
import { listTokenObjects } from "../helpers/softhsm.js";

let dir: string;
let sandbox: SandboxToken;
let hsm: HsmPort;
const pin = () => readFileSync(sandbox.pinFile, "utf8").trim();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hsm2kms-sandbox-"));
  sandbox = await initSandboxToken({ dir });
  hsm = await openPkcs11Hsm({
    library: sandbox.library,
    tokenLabel: sandbox.label,
    slot: undefined,
    pin: new Secret(pin()),
  });
});

afterAll(async () => {
  await hsm?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("sandbox init", () => {
  it("creates the config, the token and a private PIN file, and returns the environment without the PIN", () => {
    expect(sandbox).toMatchObject({ label: "hsm2kms-sandbox", reused: false });
    expect([...sandbox.created].sort()).toEqual([...SAMPLE_KEY_NAMES].sort());
    expect(sandbox.env).toEqual({
      SOFTHSM2_CONF: join(dir, "softhsm2.conf"),
      HSM2KMS_PKCS11_LIB: "/usr/lib/softhsm/libsofthsm2.so",
      HSM2KMS_TOKEN_LABEL: "hsm2kms-sandbox",
      HSM2KMS_PKCS11_PIN_FILE: join(dir, "user.pin"),
    });
    expect(readFileSync(join(dir, "softhsm2.conf"), "utf8")).toBe(
      `directories.tokendir = ${join(dir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    expect(statSync(sandbox.pinFile).mode & 0o777).toBe(0o600);
    expect(pin()).toMatch(/^[0-9a-f]{24}$/);
    expect(JSON.stringify(sandbox)).not.toContain(pin());
  });

  it.each(SAMPLE_KEY_NAMES)(
    "%s is in the HSM with the class, type, size and KeySpec it promises",
    async (name) => {
      const sample = SAMPLE_KEYS[name];
      const key = await hsm.describeKey({ label: sample.label });
      const info = keySpecInfo(sample.keySpec);
      expect(key).toMatchObject({
        label: sample.label,
        idHex: sample.idHex,
        keySpec: sample.keySpec,
        extractable: sample.extractable,
      });
      expect(info.usages).toContain(sample.defaultUsage);
      if (sample.kind.type === "ec") {
        expect(key).toMatchObject({ objectClass: "private", keyType: "EC", curveOid: info.curve?.oid });
        expect(key.publicKeySpkiDer).toBeInstanceOf(Buffer);
      } else if (sample.kind.type === "rsa") {
        expect(key).toMatchObject({ objectClass: "private", keyType: "RSA", modulusBits: sample.kind.bits });
      } else {
        expect(key).toMatchObject({
          objectClass: "secret",
          keyType: sample.kind.type === "aes" ? "AES" : "GENERIC_SECRET",
          secretBytes: sample.kind.bytes,
        });
      }
    },
  );

  it("makes the non-extractable key unwrappable, with SOURCE_KEY_NOT_EXTRACTABLE", async () => {
    const { publicKey } = newKeyPairSync({ type: "rsa", modulusLength: 2048 });
    await expect(
      hsm.wrapKey(
        { label: "sample-ec-p256-nonextractable" },
        {
          wrappingPublicKeyDer: publicKey.export({ format: "der", type: "spki" }),
          plan: { wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_1", hsmPath: "two-step" },
        },
      ),
    ).rejects.toMatchObject({ kind: "fatal", code: "SOURCE_KEY_NOT_EXTRACTABLE" });
  });

  it("is idempotent: `hsm2kms sandbox init` again reuses the token, adds nothing, prints export lines", async () => {
    const before = await listTokenObjects(sandbox.env);
    // 14 keys, and a public key object for each of the 5 EC and 4 RSA key pairs.
    expect(before).toHaveLength(23);
    const stdout: string[] = [];
    const stderr: string[] = [];
    const out = vi
      .spyOn(process.stdout, "write")
      .mockImplementation((chunk) => stdout.push(String(chunk)) > 0);
    const err = vi
      .spyOn(process.stderr, "write")
      .mockImplementation((chunk) => stderr.push(String(chunk)) > 0);
    try {
      const program = new Command().exitOverride();
      registerSandboxCommand(program);
      await program.parseAsync(["node", "hsm2kms", "sandbox", "init", "--dir", dir]);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    expect(stdout.join("")).toBe(
      Object.entries(sandbox.env)
        .map(([name, value]) => `export ${name}=${value}\n`)
        .join(""),
    );
    expect(stderr.join("")).toMatch(
      /reused token "hsm2kms-sandbox".*0 sample keys generated, 14 already there/,
    );
    expect(stdout.join("") + stderr.join("")).not.toContain(pin());
    expect(await listTokenObjects(sandbox.env)).toHaveLength(before.length);
  });

  it("tells how to install SoftHSM2 when softhsm2-util is missing", async () => {
    const path = process.env["PATH"];
    process.env["PATH"] = "/nonexistent";
    try {
      await expect(initSandboxToken({ dir, keys: [] })).rejects.toThrow(
        /softhsm2-util is not installed: install it as root with "apt-get install --no-install-recommends softhsm2"/,
      );
    } finally {
      process.env["PATH"] = path;
    }
  });

  it("recreates the token with force", async () => {
    await hsm.close();
    const oldPin = pin();
    const again = await initSandboxToken({ dir, force: true, keys: ["sample-aes-256"] });
    expect(again).toMatchObject({ reused: false, created: ["sample-aes-256"] });
    expect(pin()).not.toBe(oldPin);
    expect(await listTokenObjects(again.env)).toHaveLength(1);
  });
});
