import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  privateDecrypt,
  randomBytes,
  randomUUID,
  sign,
} from "node:crypto";
import { type KeyPairObjects, newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { unwrapKeyMaterial } from "../../src/shared/crypto/kms-wrap.js";
import { MigrationError } from "../../src/shared/errors.js";
import { keySpecInfo } from "../../src/shared/key-specs.js";
import { kmsErrorCode, mapKmsError } from "../../src/shared/kms/kms-errors.js";
import type {
  CreateImportedKeyInput,
  KmsKeyInfo,
  KmsPort,
  TaggedKmsKey,
} from "../../src/shared/kms/types.js";

interface FakeKey {
  info: KmsKeyInfo;
  tags: Record<string, string>;
  /** When the tag index (findKeysByTag) starts seeing this key, epoch ms. */
  indexedAt?: number;
  privateKey?: KeyObject;
  secret?: Buffer;
  /** A change not seen yet: the next `looks` lookups see the state before it (`absent`: no such key). */
  unseen?: { looks: number; before: string };
}

const wrappingKeys = new Map<string, KeyPairObjects>();

/**
 * One RSA-2048 wrapping key pair per Region per test process, made on first use. An RSA key generation costs
 * ~0.1-0.5 s and every harness makes two FakeKms, most of which never import: a fresh pair per instance cost
 * the unit suites tens of seconds. Sharing loses nothing the tests prove: an import token is only honoured by
 * the FakeKms that issued it, and each Region still has its own key.
 */
function wrappingKeyOf(region: string): KeyPairObjects {
  let pair = wrappingKeys.get(region);
  if (!pair) {
    pair = newKeyPairSync({ type: "rsa", modulusLength: 2048 });
    wrappingKeys.set(region, pair);
  }
  return pair;
}

/** An in-memory KMS port for unit tests: real crypto (it unwraps and uses what is imported), no I/O. */
export class FakeKms implements KmsPort {
  readonly keys = new Map<string, FakeKey>();
  readonly aliases = new Map<string, string>();
  readonly calls: string[] = [];
  readonly tokens = new Map<string, { keyId: string; validTo: Date }>();
  /** Errors to throw, by operation, in order. */
  readonly failures = new Map<string, MigrationError[]>();
  /** This Region's wrapping key pair, made on first use (see wrappingKeyOf). */
  private get wrappingKey(): KeyPairObjects {
    return wrappingKeyOf(this.region);
  }
  tokenTtlMs = 24 * 3_600_000;
  /** The fake KMS of every Region, for ReplicateKey. */
  peers = new Map<string, FakeKms>();
  /** How long a new key stays invisible to findKeysByTag (the tag index is eventually consistent). */
  tagIndexLagMs = 0;
  /**
   * Eventual consistency, counted in lookups rather than time: a new key, alias, import or replica is unseen
   * by this many later lookups (NotFound, PendingImport, Creating). @defaultValue 0
   */
  unseenLooks = 0;
  private readonly unseenAliases = new Map<string, number>();

  constructor(
    readonly region = "us-east-1",
    private readonly now: () => Date = () => new Date(),
  ) {
    this.peers.set(region, this);
  }

  failNext(operation: string, error: MigrationError): void {
    this.failures.set(operation, [...(this.failures.get(operation) ?? []), error]);
  }

  count(operation: string): number {
    return this.calls.filter((call) => call === operation).length;
  }

  private enter(operation: string): void {
    this.calls.push(operation);
    const queued = this.failures.get(operation);
    const next = queued?.shift();
    if (next) throw next;
  }

  private resolve(keyIdOrAlias: string): FakeKey | undefined {
    const aliasLooks = this.unseenAliases.get(keyIdOrAlias) ?? 0;
    if (aliasLooks > 0) {
      this.unseenAliases.set(keyIdOrAlias, aliasLooks - 1);
      return undefined;
    }
    const key = this.keys.get(this.aliases.get(keyIdOrAlias) ?? keyIdOrAlias);
    if (key?.unseen?.before === "absent" && key.unseen.looks > 0) {
      key.unseen.looks--;
      return undefined;
    }
    return key;
  }

  /** The key state a lookup sees: the one before an unseen change, if any. */
  private seenState(key: FakeKey): string {
    if (!key.unseen || key.unseen.before === "absent" || key.unseen.looks <= 0) return key.info.keyState;
    key.unseen.looks--;
    return key.unseen.before;
  }

  private unseen(before: string): FakeKey["unseen"] {
    return this.unseenLooks > 0 ? { looks: this.unseenLooks, before } : undefined;
  }

  private key(keyId: string): FakeKey {
    const key = this.resolve(keyId);
    if (!key) throw this.awsError("NotFoundException", `key ${keyId} not found`);
    return key;
  }

  /** A key in a state `allowed` for the operation, as the lookup sees it; else KMSInvalidStateException. */
  private inState(keyId: string, allowed: string[]): FakeKey {
    const key = this.key(keyId);
    const state = this.seenState(key);
    if (!allowed.includes(state)) throw this.awsError("KMSInvalidStateException", `key ${keyId} is ${state}`);
    return key;
  }

  async createKey(input: CreateImportedKeyInput): Promise<KmsKeyInfo> {
    this.enter("CreateKey");
    const keyId = randomUUID();
    const info: KmsKeyInfo = {
      keyId,
      arn: `arn:aws:kms:${this.region}:111122223333:key/${keyId}`,
      keyState: "PendingImport",
      keySpec: input.keySpec,
      keyUsage: input.keyUsage,
      origin: "EXTERNAL",
      creationDate: this.now(),
      multiRegion: input.multiRegion,
      description: input.description,
    };
    this.keys.set(keyId, {
      info,
      tags: { ...input.tags },
      indexedAt: this.now().getTime() + this.tagIndexLagMs,
      unseen: this.unseen("absent"),
    });
    return { ...info };
  }

  async findKeysByTag(tagKey: string, tagValue: string): Promise<TaggedKmsKey[]> {
    this.enter("GetResources");
    const now = this.now().getTime();
    return [...this.keys.values()]
      .filter((key) => (key.indexedAt ?? 0) <= now && key.tags[tagKey] === tagValue)
      .map((key) => ({ keyId: key.info.keyId, arn: key.info.arn, tags: { ...key.tags } }));
  }

  async describeKey(keyIdOrAlias: string): Promise<KmsKeyInfo | undefined> {
    this.enter("DescribeKey");
    const key = this.resolve(keyIdOrAlias);
    return key ? { ...key.info, keyState: this.seenState(key) } : undefined;
  }

  async listResourceTags(keyId: string): Promise<Record<string, string>> {
    this.enter("ListResourceTags");
    return { ...this.key(keyId).tags };
  }

  async createAlias(aliasName: string, keyId: string): Promise<void> {
    this.enter("CreateAlias");
    if (this.aliases.has(aliasName)) throw this.awsError("AlreadyExistsException", `${aliasName} exists`);
    this.aliases.set(aliasName, this.inState(keyId, ["Enabled", "Disabled", "PendingImport"]).info.keyId);
    if (this.unseenLooks > 0) this.unseenAliases.set(aliasName, this.unseenLooks);
  }

  async getParametersForImport(
    keyId: string,
    algorithm: Parameters<KmsPort["getParametersForImport"]>[1],
    wrappingKeySpec: Parameters<KmsPort["getParametersForImport"]>[2],
  ) {
    this.enter("GetParametersForImport");
    this.inState(keyId, ["Enabled", "Disabled", "PendingImport"]);
    const importToken = randomBytes(64);
    const validTo = new Date(this.now().getTime() + this.tokenTtlMs);
    this.tokens.set(importToken.toString("hex"), { keyId, validTo });
    return {
      keyId,
      wrappingAlgorithm: algorithm,
      wrappingKeySpec,
      wrappingPublicKeyDer: this.wrappingKey.publicKey.export({ format: "der", type: "spki" }),
      importToken,
      validTo,
    };
  }

  async importKeyMaterial(input: Parameters<KmsPort["importKeyMaterial"]>[0]): Promise<void> {
    this.enter("ImportKeyMaterial");
    const key = this.inState(input.keyId, ["Enabled", "Disabled", "PendingImport"]);
    const before = key.info.keyState;
    const token = this.tokens.get(input.importToken.toString("hex"));
    if (!token || token.keyId !== input.keyId)
      throw this.awsError("InvalidImportTokenException", "the import token was not issued for this key");
    if (token.validTo < this.now())
      throw this.awsError("ExpiredImportTokenException", "the import token has expired");
    const family = keySpecInfo(key.info.keySpec as never).family;
    const algorithm = family === "RSA" || family === "EC" ? "RSA_AES_KEY_WRAP_SHA_1" : "RSAES_OAEP_SHA_1";
    const material = unwrapKeyMaterial(algorithm, this.wrappingKey.privateKey, input.encryptedKeyMaterial);
    if (family === "RSA" || family === "EC")
      key.privateKey = createPrivateKey({ key: material, format: "der", type: "pkcs8" });
    else key.secret = material;
    key.info.keyState = "Enabled";
    if (before === "PendingImport") key.unseen = this.unseen("PendingImport");
  }

  async deleteImportedKeyMaterial(keyId: string): Promise<void> {
    this.enter("DeleteImportedKeyMaterial");
    const key = this.key(keyId);
    key.privateKey = undefined;
    key.secret = undefined;
    key.info.keyState = "PendingImport";
  }

  async scheduleKeyDeletion(keyId: string, days: number): Promise<Date | undefined> {
    this.enter("ScheduleKeyDeletion");
    this.key(keyId).info.keyState = "PendingDeletion";
    return new Date(this.now().getTime() + days * 86_400_000);
  }

  async replicateKey(
    keyId: string,
    replicaRegion: string,
    input: { description?: string | undefined; tags: Record<string, string> },
  ): Promise<KmsKeyInfo> {
    this.enter("ReplicateKey");
    const primary = this.key(keyId);
    if (!primary.info.multiRegion)
      throw this.awsError("UnsupportedOperationException", "not a multi-Region key");
    const peer = this.peers.get(replicaRegion);
    if (!peer) throw this.awsError("ValidationException", `no Region ${replicaRegion}`);
    if (peer.keys.has(keyId)) throw this.awsError("AlreadyExistsException", "replica exists");
    const info: KmsKeyInfo = {
      ...primary.info,
      arn: primary.info.arn.replace(`:${this.region}:`, `:${replicaRegion}:`),
      keyState: "PendingImport",
      description: input.description,
    };
    const unseen = this.unseen("Creating");
    peer.keys.set(keyId, { info, tags: { ...input.tags }, unseen });
    return { ...info, keyState: unseen ? "Creating" : info.keyState };
  }

  async getPublicKey(keyId: string): Promise<Buffer> {
    this.enter("GetPublicKey");
    const key = this.inState(keyId, ["Enabled"]);
    if (!key.privateKey) throw this.awsError("KMSInvalidStateException", "no material");
    return createPublicKey(key.privateKey).export({ format: "der", type: "spki" });
  }

  async sign(keyId: string, message: Buffer, algorithm: string): Promise<Buffer> {
    this.enter("Sign");
    const key = this.inState(keyId, ["Enabled"]);
    const hash = `sha${algorithm.match(/SHA_(\d+)/)?.[1] ?? "256"}`;
    if (!key.privateKey) throw this.awsError("KMSInvalidStateException", "no material");
    return sign(hash, message, key.privateKey);
  }

  async encrypt(keyId: string, plaintext: Buffer): Promise<Buffer> {
    this.enter("Encrypt");
    const secret = this.inState(keyId, ["Enabled"]).secret;
    if (!secret) throw this.awsError("KMSInvalidStateException", "no material");
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", secret, iv);
    return Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  }

  async decrypt(keyId: string, ciphertext: Buffer, algorithm?: string): Promise<Buffer> {
    this.enter("Decrypt");
    const key = this.inState(keyId, ["Enabled"]);
    if (key.privateKey && algorithm) {
      try {
        const padding = constants.RSA_PKCS1_OAEP_PADDING;
        return privateDecrypt({ key: key.privateKey, padding, oaepHash: "sha256" }, ciphertext);
      } catch {
        throw this.awsError("InvalidCiphertextException", "InvalidCiphertextException");
      }
    }
    if (!key.secret) throw this.awsError("KMSInvalidStateException", "no material");
    const decipher = createDecipheriv("aes-256-gcm", key.secret, ciphertext.subarray(0, 12));
    decipher.setAuthTag(ciphertext.subarray(-16));
    return Buffer.concat([decipher.update(ciphertext.subarray(12, -16)), decipher.final()]);
  }

  async generateMac(keyId: string, message: Buffer, algorithm: string): Promise<Buffer> {
    this.enter("GenerateMac");
    const secret = this.inState(keyId, ["Enabled"]).secret;
    if (!secret) throw this.awsError("KMSInvalidStateException", "no material");
    return createHmac(`sha${algorithm.slice(-3)}`, secret)
      .update(message)
      .digest();
  }

  async deriveSharedSecret(keyId: string, peerPublicKeyDer: Buffer): Promise<Buffer> {
    this.enter("DeriveSharedSecret");
    const key = this.inState(keyId, ["Enabled"]);
    if (!key.privateKey) throw this.awsError("KMSInvalidStateException", "no material");
    return diffieHellman({
      privateKey: key.privateKey,
      publicKey: createPublicKey({ key: peerPublicKeyDer, format: "der", type: "spki" }),
    });
  }

  /**
   * The error the real adapter raises when AWS answers `name` (src/shared/kms/kms-errors.ts): the same code,
   * kind and details, so that the phases meet the same vocabulary here as against KMS.
   */
  private awsError(name: string, awsMessage: string): MigrationError {
    const operation = this.calls.at(-1) ?? "unknown";
    return mapKmsError(
      Object.assign(new Error(awsMessage), { name }),
      operation,
      `${operation} (fake KMS)`,
      this.region,
    );
  }

  close(): void {}

  throttleNext(operation: string): void {
    this.failNext(
      operation,
      // The adapter's code for AWS's name, with a short pause so that tests stay fast.
      new MigrationError(
        "throttled",
        kmsErrorCode("ThrottlingException"),
        "ThrottlingException: Rate exceeded",
        {
          retryAfterMs: 5,
        },
      ),
    );
  }
}
