import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { OperationDefinition, RequestContext } from "../context.js";
import { invalidState, KmsError, unsupported, validation } from "../errors.js";
import { generateMaterial } from "../key-crypto.js";
import { defaultKeyPolicy } from "../key-policy.js";
import type { KeyRecord } from "../key-record.js";
import { requireRoomForKey } from "../limits.js";
import { page } from "../paging.js";
import {
  epochSeconds,
  type Input,
  optionalBoolean,
  optionalEnum,
  optionalInteger,
  optionalString,
  requiredString,
} from "../params.js";
import { EMULATED_KEY_SPECS, EMULATED_KEY_USAGES, emulatedSpec } from "../spec-table.js";
import { keyMetadata, requireNotPendingDeletion } from "./key-metadata.js";
import { parseTags } from "./tags.js";

const ORIGINS = ["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"] as const;
const DAY_MS = 86_400_000;

const defaultPolicy = (ctx: RequestContext) => defaultKeyPolicy(ctx.store.accountId);

function newKeyId(multiRegion: boolean): string {
  return multiRegion ? `mrk-${randomBytes(16).toString("hex")}` : randomUUID();
}

export const sha256Hex = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

function readKeySpec(input: Input) {
  const keySpec = optionalEnum(input, "KeySpec", EMULATED_KEY_SPECS);
  const legacy = optionalEnum(input, "CustomerMasterKeySpec", EMULATED_KEY_SPECS);
  if (keySpec && legacy && keySpec !== legacy)
    throw validation("KeySpec and CustomerMasterKeySpec disagree; use KeySpec only.");
  return keySpec ?? legacy ?? "SYMMETRIC_DEFAULT";
}

async function createKey(ctx: RequestContext, input: Input) {
  const keySpec = readKeySpec(input);
  // KMS defaults KeyUsage to ENCRYPT_DECRYPT for every spec, so asymmetric keys must name theirs.
  const keyUsage = optionalEnum(input, "KeyUsage", EMULATED_KEY_USAGES) ?? "ENCRYPT_DECRYPT";
  if (!emulatedSpec(keySpec).usages.includes(keyUsage))
    throw validation(`KeyUsage ${keyUsage} is not compatible with KeySpec ${keySpec}`);
  const origin = optionalEnum(input, "Origin", ORIGINS) ?? "AWS_KMS";
  if (origin !== "AWS_KMS" && origin !== "EXTERNAL")
    throw unsupported(`Origin ${origin} needs a custom key store, which this emulator does not have.`);
  const multiRegion = optionalBoolean(input, "MultiRegion") ?? false;
  const key: KeyRecord = {
    keyId: newKeyId(multiRegion),
    region: ctx.region,
    creationDate: ctx.now(),
    description: optionalString(input, "Description", { max: 8192 }) ?? "",
    keySpec,
    keyUsage,
    origin,
    keyState: origin === "EXTERNAL" ? "PendingImport" : "Enabled",
    policy: optionalString(input, "Policy", { min: 1, max: 32768 }) ?? defaultPolicy(ctx),
    tags: parseTags(input),
    multiRegion,
    primaryRegion: multiRegion ? ctx.region : undefined,
    // AWS KMS Developer Guide, "AWS KMS eventual consistency": a new key may be NotFound for a while.
    pendingChange: ctx.store.pendingChange("absent"),
  };
  if (key.tags.length > 50) throw new KmsError("TagException", "A KMS key can have at most 50 tags.");
  requireRoomForKey(ctx, ctx.region);
  if (origin === "AWS_KMS") {
    key.material = await generateMaterial(keySpec);
    key.materialSha256 = sha256Hex(key.material);
  }
  ctx.store.region(ctx.region).keys.set(key.keyId, key);
  ctx.tagIndex.changed(key);
  ctx.logger.info({ region: ctx.region, keyId: key.keyId, keySpec, origin }, "kms-emulator: key created");
  return { KeyMetadata: keyMetadata(ctx, key) };
}

/** The live replicas of a multi-Region primary key (none for any other key). */
function replicasOf(ctx: RequestContext, key: KeyRecord): KeyRecord[] {
  if (!key.multiRegion || key.primaryRegion !== key.region) return [];
  return [...ctx.store.regions.keys()]
    .filter((region) => region !== key.region)
    .flatMap((region) => ctx.store.keys(region).filter((replica) => replica.keyId === key.keyId));
}

function scheduleKeyDeletion(ctx: RequestContext, input: Input) {
  const key = ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), false);
  const window = optionalInteger(input, "PendingWindowInDays", 7, 30) ?? 30;
  requireNotPendingDeletion(ctx, key);
  // API Reference, ScheduleKeyDeletion: a primary key with replicas waits in PendingReplicaDeletion, and its
  // waiting period starts only when its last replica is deleted, so there is no DeletionDate yet.
  if (replicasOf(ctx, key).length > 0) {
    key.keyState = "PendingReplicaDeletion";
    key.pendingWindowInDays = window;
    key.deletionDate = undefined;
    return {
      KeyId: ctx.store.keyArn(key.region, key.keyId),
      KeyState: key.keyState,
      PendingWindowInDays: window,
    };
  }
  key.keyState = "PendingDeletion";
  key.pendingChange = undefined;
  key.pendingWindowInDays = window;
  key.deletionDate = ctx.now() + window * DAY_MS;
  return {
    KeyId: ctx.store.keyArn(key.region, key.keyId),
    DeletionDate: epochSeconds(key.deletionDate),
    KeyState: key.keyState,
    PendingWindowInDays: window,
  };
}

function cancelKeyDeletion(ctx: RequestContext, input: Input) {
  const key = ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), false);
  if (key.keyState !== "PendingDeletion" && key.keyState !== "PendingReplicaDeletion")
    throw invalidState(`${ctx.store.keyArn(key.region, key.keyId)} is not pending deletion.`);
  // KMS leaves a key whose deletion was cancelled disabled (or waiting for material).
  key.keyState = key.material ? "Disabled" : "PendingImport";
  key.pendingChange = undefined;
  key.deletionDate = undefined;
  key.pendingWindowInDays = undefined;
  return { KeyId: ctx.store.keyArn(key.region, key.keyId) };
}

function setEnabled(ctx: RequestContext, input: Input, enabled: boolean) {
  const key = ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), false);
  const state = ctx.store.apparentState(key);
  if (state !== "Enabled" && state !== "Disabled")
    throw invalidState(`${ctx.store.keyArn(key.region, key.keyId)} is ${state}.`);
  key.keyState = enabled ? "Enabled" : "Disabled";
  key.pendingChange = undefined;
  return {};
}

function replicateKey(ctx: RequestContext, input: Input) {
  const primary = ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), false);
  const replicaRegion = requiredString(input, "ReplicaRegion", { max: 32 });
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(replicaRegion))
    throw validation(`Invalid ReplicaRegion ${replicaRegion}`);
  if (!primary.multiRegion) throw unsupported(`${primary.keyId} is not a multi-Region key.`);
  if (primary.primaryRegion !== ctx.region) throw unsupported(`${primary.keyId} is not a primary key.`);
  if (replicaRegion === ctx.region)
    throw validation("ReplicaRegion must differ from the primary key's Region.");
  requireNotPendingDeletion(ctx, primary);
  const target = ctx.store.region(replicaRegion);
  requireRoomForKey(ctx, replicaRegion);
  if (target.keys.has(primary.keyId))
    throw new KmsError(
      "AlreadyExistsException",
      `${primary.keyId} already has a replica in ${replicaRegion}.`,
    );
  const replica: KeyRecord = {
    ...primary,
    region: replicaRegion,
    creationDate: ctx.now(),
    description: optionalString(input, "Description", { max: 8192 }) ?? "",
    policy: optionalString(input, "Policy", { min: 1, max: 32768 }) ?? defaultPolicy(ctx),
    tags: parseTags(input),
    // Imported material is never copied: each replica gets its own import, of the same bytes.
    material: primary.origin === "AWS_KMS" ? primary.material : undefined,
    keyState: primary.origin === "AWS_KMS" ? "Enabled" : "PendingImport",
    validTo: undefined,
    expirationModel: undefined,
    // AWS KMS API Reference, ReplicateKey: the replica is Creating until replication completes.
    pendingChange: ctx.store.pendingChange("Creating"),
  };
  target.keys.set(replica.keyId, replica);
  ctx.tagIndex.changed(replica);
  return {
    ReplicaKeyMetadata: keyMetadata({ ...ctx, region: replicaRegion }, replica),
    ReplicaPolicy: replica.policy,
    ReplicaTags: replica.tags,
  };
}

export const keyOperations: Record<string, OperationDefinition> = {
  CreateKey: { mutates: true, run: createKey },
  DescribeKey: {
    mutates: false,
    run: (ctx, input) => ({
      KeyMetadata: keyMetadata(ctx, ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), true)),
    }),
  },
  ListKeys: {
    mutates: false,
    run(ctx, input) {
      const keys = ctx.store.keys(ctx.region);
      const { items, ...paging } = page(input, keys, 100, 1000, `ListKeys\n${ctx.region}`);
      return {
        Keys: items.map((key) => ({ KeyId: key.keyId, KeyArn: ctx.store.keyArn(key.region, key.keyId) })),
        ...paging,
      };
    },
  },
  EnableKey: { mutates: true, run: (ctx, input) => setEnabled(ctx, input, true) },
  DisableKey: { mutates: true, run: (ctx, input) => setEnabled(ctx, input, false) },
  ScheduleKeyDeletion: { mutates: true, run: scheduleKeyDeletion },
  CancelKeyDeletion: { mutates: true, run: cancelKeyDeletion },
  ReplicateKey: { mutates: true, run: replicateKey },
  GetKeyPolicy: {
    mutates: false,
    run: (ctx, input) => ({
      Policy: ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), false).policy,
      PolicyName: "default",
    }),
  },
};
