import {
  createHash,
  createHmac,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { fatal } from "../../src/shared/errors.js";
import type {
  HsmPort,
  SourceKeyDescription,
  SourceKeyRef,
  WrapCapabilities,
  WrapRequest,
} from "../../src/shared/hsm/types.js";
import { type KeySpec, keySpecInfo } from "../../src/shared/key-specs.js";
import { wrapKeyMaterial } from "../../src/testkit/wrap-key-material.js";

interface FakeHsmKey {
  description: SourceKeyDescription;
  privateKey?: KeyObject;
  secret?: Buffer;
}

/** SoftHSM2 2.6.1's capabilities, as measured (docs/reference/pkcs11-softhsm.md). */
export const SOFTHSM_CAPABILITIES: WrapCapabilities = {
  oaepHashes: ["sha1"],
  rsaAesKeyWrapHashes: [],
  aesKeyWrapPad: true,
  kwpZeroPads: false,
  ecdh: true,
  manufacturer: "fake",
  model: "fake",
};

/** An in-memory HSM port for unit tests: real keys in node:crypto, wrapped the way KMS expects. */
export class FakeHsm implements HsmPort {
  readonly keys: FakeHsmKey[] = [];
  readonly calls: string[] = [];
  capabilitiesValue: WrapCapabilities = SOFTHSM_CAPABILITIES;

  /** Adds a key; returns its description (tests may edit it, e.g. extractable=false). */
  add(label: string, spec: KeySpec, overrides: Partial<SourceKeyDescription> = {}): SourceKeyDescription {
    const info = keySpecInfo(spec);
    const idHex = randomBytes(4).toString("hex");
    let privateKey: KeyObject | undefined;
    let secret: Buffer | undefined;
    if (info.family === "RSA")
      privateKey = newKeyPairSync({ type: "rsa", modulusLength: info.bits }).privateKey;
    else if (info.family === "EC")
      privateKey = newKeyPairSync({ type: "ec", namedCurve: info.curve?.nodeName ?? "" }).privateKey;
    else secret = randomBytes(info.family === "AES" ? 32 : info.bits / 8);
    const spki = privateKey ? createPublicKey(privateKey).export({ format: "der", type: "spki" }) : undefined;
    const description: SourceKeyDescription = {
      label,
      idHex,
      objectClass: privateKey ? "private" : "secret",
      keyType: info.family,
      keySpec: spec,
      extractable: true,
      wrapWithTrusted: false,
      secretBytes: secret?.length,
      publicKeySpkiDer: spki,
      fingerprint: spki
        ? `sha256:${createHash("sha256").update(spki).digest("hex")}`
        : `kcv:${randomBytes(3).toString("hex")}`,
      ...overrides,
    };
    this.keys.push({ description, privateKey, secret });
    return description;
  }

  private find(ref: SourceKeyRef): FakeHsmKey {
    const matches = this.keys.filter(
      (key) =>
        (ref.label === undefined || key.description.label === ref.label) &&
        (ref.idHex === undefined || key.description.idHex === ref.idHex),
    );
    if (matches.length === 0) throw fatal("SOURCE_KEY_NOT_FOUND", `no key ${ref.label ?? ref.idHex}`);
    if (matches.length > 1) throw fatal("SOURCE_KEY_AMBIGUOUS", `${matches.length} keys match ${ref.label}`);
    return matches[0]!;
  }

  async listKeys() {
    return this.keys.map((key) => key.description);
  }

  async describeKey(ref: SourceKeyRef) {
    this.calls.push("describeKey");
    return { ...this.find(ref).description };
  }

  async capabilities() {
    return this.capabilitiesValue;
  }

  async wrapKey(ref: SourceKeyRef, request: WrapRequest): Promise<Buffer> {
    this.calls.push("wrapKey");
    const key = this.find(ref);
    if (
      request.expectedFingerprint !== undefined &&
      request.expectedFingerprint !== key.description.fingerprint
    )
      throw fatal(
        "SOURCE_KEY_CHANGED",
        `key "${key.description.label}": the HSM key changed since preflight`,
      );
    if (!key.description.extractable) throw fatal("SOURCE_KEY_NOT_EXTRACTABLE", "not extractable");
    const material = key.privateKey
      ? key.privateKey.export({ format: "der", type: "pkcs8" })
      : (key.secret as Buffer);
    return wrapKeyMaterial(request.plan.wrappingAlgorithm, request.wrappingPublicKeyDer, material);
  }

  async hmac(ref: SourceKeyRef, message: Buffer, keySpec?: KeySpec): Promise<Buffer> {
    const key = this.find(ref);
    return createHmac(
      keySpecInfo(keySpec ?? (key.description.keySpec as KeySpec)).hash ?? "sha256",
      key.secret as Buffer,
    )
      .update(message)
      .digest();
  }

  async deriveSharedSecret(ref: SourceKeyRef, peerPublicKeyDer: Buffer): Promise<Buffer> {
    const key = this.find(ref);
    return diffieHellman({
      privateKey: key.privateKey as KeyObject,
      publicKey: createPublicKey({ key: peerPublicKeyDer, format: "der", type: "spki" }),
    });
  }

  sessionStats() {
    return { open: 1, inUse: 0 };
  }

  async close() {}

  /** Swaps a key's material for another of the same spec (to simulate a wrong key imported). */
  replaceMaterial(label: string): void {
    const key = this.find({ label });
    const spec = key.description.keySpec as KeySpec;
    const info = keySpecInfo(spec);
    if (info.family === "RSA")
      key.privateKey = newKeyPairSync({ type: "rsa", modulusLength: info.bits }).privateKey;
    else if (info.family === "EC")
      key.privateKey = newKeyPairSync({ type: "ec", namedCurve: info.curve?.nodeName ?? "" }).privateKey;
    else key.secret = randomBytes(key.secret?.length ?? 32);
  }
}
