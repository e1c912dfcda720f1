import { createHash } from "node:crypto";
import type { RequestContext } from "../context.js";
import { invalidKeyUsage, invalidState, KmsError } from "../errors.js";
import type { KeyRecord } from "../key-record.js";
import { epochSeconds } from "../params.js";
import { emulatedSpec } from "../spec-table.js";

/** Encryption algorithms KMS lists for a key (only ENCRYPT_DECRYPT keys have any). */
export function encryptionAlgorithms(key: KeyRecord): string[] | undefined {
  if (key.keyUsage !== "ENCRYPT_DECRYPT") return undefined;
  return [...(emulatedSpec(key.keySpec).encryptionAlgorithms ?? [])];
}

export function signingAlgorithms(key: KeyRecord): string[] | undefined {
  return key.keyUsage === "SIGN_VERIFY"
    ? [...(emulatedSpec(key.keySpec).signingAlgorithms ?? [])]
    : undefined;
}

export function macAlgorithms(key: KeyRecord): string[] | undefined {
  const algorithm = emulatedSpec(key.keySpec).macAlgorithm;
  return algorithm ? [algorithm] : undefined;
}

/**
 * The identifier of one key material. The API Reference (ImportKeyMaterial, KeyMaterialId) says KMS derives it
 * from the KMS key ID and the material; hashing both keeps it stable across reimports and replicas (which share
 * the key ID) without publishing a fingerprint of the material alone.
 */
export function keyMaterialId(keyId: string, material: Buffer): string {
  return createHash("sha256").update(`${keyId}\n`).update(material).digest("hex");
}

/** KeyMaterialId in responses that name the material used: only symmetric encryption keys have one there. */
export function currentKeyMaterialId(key: KeyRecord): string | undefined {
  return key.keySpec === "SYMMETRIC_DEFAULT" && key.material
    ? keyMaterialId(key.keyId, key.material)
    : undefined;
}

export function keyAgreementAlgorithms(key: KeyRecord): string[] | undefined {
  return key.keyUsage === "KEY_AGREEMENT" ? ["ECDH"] : undefined;
}

/** Related multi-Region keys: same key ID in other Regions. */
function multiRegionConfiguration(ctx: RequestContext, key: KeyRecord) {
  if (!key.multiRegion || !key.primaryRegion) return undefined;
  const replicas: { Arn: string; Region: string }[] = [];
  for (const [region, state] of ctx.store.regions) {
    const related = state.keys.get(key.keyId);
    if (related && region !== key.primaryRegion)
      replicas.push({ Arn: ctx.store.keyArn(region, key.keyId), Region: region });
  }
  return {
    MultiRegionKeyType: key.primaryRegion === key.region ? "PRIMARY" : "REPLICA",
    PrimaryKey: { Arn: ctx.store.keyArn(key.primaryRegion, key.keyId), Region: key.primaryRegion },
    ReplicaKeys: replicas,
  };
}

/** KeyMetadata as DescribeKey, CreateKey and ReplicateKey return it. */
export function keyMetadata(ctx: RequestContext, key: KeyRecord) {
  const external = key.origin === "EXTERNAL";
  const keyState = ctx.store.apparentState(key);
  // Right after an import, callers may still see the key without material.
  const material = keyState === "PendingImport" ? undefined : key.material;
  return {
    AWSAccountId: ctx.store.accountId,
    KeyId: key.keyId,
    Arn: ctx.store.keyArn(key.region, key.keyId),
    CreationDate: epochSeconds(key.creationDate),
    Enabled: keyState === "Enabled",
    Description: key.description,
    KeyUsage: key.keyUsage,
    KeyState: keyState,
    DeletionDate: key.deletionDate === undefined ? undefined : epochSeconds(key.deletionDate),
    // API Reference, KeyMetadata: present only while a primary key waits for its replicas to be deleted
    // (PendingReplicaDeletion); a key in PendingDeletion shows its DeletionDate instead.
    PendingDeletionWindowInDays: keyState === "PendingReplicaDeletion" ? key.pendingWindowInDays : undefined,
    ValidTo: key.validTo === undefined || !material ? undefined : epochSeconds(key.validTo),
    Origin: key.origin,
    ExpirationModel: external && material ? key.expirationModel : undefined,
    KeyManager: "CUSTOMER",
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    EncryptionAlgorithms: encryptionAlgorithms(key),
    SigningAlgorithms: signingAlgorithms(key),
    KeyAgreementAlgorithms: keyAgreementAlgorithms(key),
    MacAlgorithms: macAlgorithms(key),
    MultiRegion: key.multiRegion,
    MultiRegionConfiguration: multiRegionConfiguration(ctx, key),
    // API Reference, KeyMetadata: "present for symmetric encryption keys with AWS_KMS or EXTERNAL origin".
    CurrentKeyMaterialId: material ? currentKeyMaterialId(key) : undefined,
  };
}

/** A key a cryptographic operation may use: Enabled (as the caller sees it), of the right usage. */
export function requireUsable(ctx: RequestContext, key: KeyRecord, usage?: KeyRecord["keyUsage"]): void {
  const arn = ctx.store.keyArn(key.region, key.keyId);
  const state = ctx.store.apparentState(key);
  if (state === "Disabled") throw new KmsError("DisabledException", `${arn} is disabled.`);
  if (state !== "Enabled") throw invalidState(`${arn} is ${state}.`);
  if (usage && key.keyUsage !== usage)
    throw invalidKeyUsage(`${arn} key usage is ${key.keyUsage} which is not valid for this operation.`);
}

/**
 * Management operations (tag, alias, import) refuse keys that are pending deletion, and replicas still
 * Creating (the AWS KMS Developer Guide's key state table allows them nothing but DescribeKey; stricter where
 * it is vague).
 */
export function requireNotPendingDeletion(ctx: RequestContext, key: KeyRecord): void {
  const state = ctx.store.apparentState(key);
  if (state === "PendingDeletion" || state === "PendingReplicaDeletion")
    throw invalidState(`${ctx.store.keyArn(key.region, key.keyId)} is pending deletion.`);
  if (state === "Creating")
    throw invalidState(
      `${ctx.store.keyArn(key.region, key.keyId)} is Creating: replication is not complete.`,
    );
}
