import { fatal, isMigrationError } from "../../shared/errors.js";
import type { KmsKeyInfo, KmsPort } from "../../shared/kms/types.js";
import { LedgerConflictError } from "../../shared/ledger/index.js";
import { describeSource, type MigrationRecord } from "../../shared/migration.js";
import type { Phase, PhaseContext } from "./context.js";
import { paramsPhase } from "./params.js";
import { keyTags, PROVENANCE_TAGS } from "./provenance.js";
import { replicate } from "./replicate.js";

/** A key made by an attempt we lost can be a little older than our checkpoint (clock skew). */
const CLOCK_SKEW_MS = 5 * 60_000;

async function isOurs(kms: KmsPort, keyId: string, record: MigrationRecord): Promise<boolean> {
  const tags = await kms.listResourceTags(keyId);
  return tags[PROVENANCE_TAGS.migrationId] === record.id;
}

/**
 * Looks for the KMS key an earlier, interrupted attempt of this migration created: first by the alias,
 * then (only when a CreateKey may have happened, per the checkpoint) by scanning for the provenance tag.
 */
async function findEarlierKey(
  ctx: PhaseContext,
  kms: KmsPort,
  record: MigrationRecord,
): Promise<KmsKeyInfo | undefined> {
  const alias = record.request.alias;
  if (alias) {
    const target = await kms.describeKey(alias);
    if (target) {
      if (await isOurs(kms, target.keyId, record)) return target;
      throw fatal(
        "ALIAS_TAKEN",
        `${describeSource(record.source)}: ${alias} already points to KMS key ${target.keyId}, which hsm2kms did not create for this key; choose another alias or delete that one`,
      );
    }
  }
  if (!record.createStartedAt) return undefined;
  const since = Date.parse(record.createStartedAt) - CLOCK_SKEW_MS;
  ctx.logger.warn(
    { migrationId: record.id },
    "an earlier create attempt was interrupted: scanning KMS for the key it may have made",
  );
  for await (const keyId of kms.listKeyIds()) {
    const key = await kms.describeKey(keyId);
    if (key?.origin !== "EXTERNAL" || key.keyState === "PendingDeletion") continue;
    if ((key.creationDate?.getTime() ?? 0) < since) continue;
    if (await isOurs(kms, keyId, record)) return key;
  }
  return undefined;
}

async function ensureAlias(kms: KmsPort, record: MigrationRecord, keyId: string): Promise<void> {
  const alias = record.request.alias;
  if (!alias) return;
  try {
    await kms.createAlias(alias, keyId);
  } catch (error) {
    if (!isMigrationError(error) || error.details?.["awsError"] !== "AlreadyExistsException") throw error;
    const target = await kms.describeKey(alias);
    if (target?.keyId !== keyId)
      throw fatal(
        "ALIAS_TAKEN",
        `${describeSource(record.source)}: ${alias} already exists and points to another KMS key (${target?.keyId ?? "unknown"})`,
      );
  }
}

/**
 * Saves the new key's id. If the save conflicts, this worker lost the job (its lock expired while CreateKey
 * was in flight, e.g. a host cut off the network) and another worker owns the key now: unless the owner
 * adopted this very key, it is an orphan made by a late request, so it is scheduled for deletion (it holds
 * no material yet) before the conflict is passed on.
 */
async function recordCreatedKey(
  ctx: PhaseContext,
  kms: KmsPort,
  record: MigrationRecord,
  key: KmsKeyInfo,
): Promise<void> {
  try {
    await ctx.checkpoint({ kmsKeyId: key.keyId, kmsKeyArn: key.arn });
  } catch (error) {
    if (!(error instanceof LedgerConflictError)) throw error;
    const owner = await ctx.lookup(record.id);
    if (owner?.kmsKeyId !== key.keyId) {
      ctx.logger.warn(
        { migrationId: record.id, kmsKeyId: key.keyId },
        "lost the job while creating: scheduling deletion of the key this late CreateKey made",
      );
      await kms.scheduleKeyDeletion(key.keyId, ctx.settings.deletionWindowDays);
    }
    throw error;
  }
}

/**
 * create (any host): CreateKey with Origin=EXTERNAL, the key's spec and usage, tags (the manifest's plus
 * provenance) and description; then CreateAlias. Idempotent: a repeat finds the key it made instead of
 * creating a second one.
 */
export const create: Phase = async (ctx, record) => {
  if (record.replicaOf) return replicate(ctx, record);
  const source = record.sourceKey;
  if (!source) throw fatal("PHASE_ORDER", `${describeSource(record.source)}: create ran before preflight`);
  const kms = ctx.kms(record.region);

  let key = record.kmsKeyId ? await kms.describeKey(record.kmsKeyId) : undefined;
  if (record.kmsKeyId && !key)
    throw fatal(
      "KMS_KEY_MISSING",
      `${describeSource(record.source)}: KMS key ${record.kmsKeyId} recorded in the ledger no longer exists`,
    );
  key ??= await findEarlierKey(ctx, kms, record);
  if (!key) {
    await ctx.checkpoint({ createStartedAt: ctx.now().toISOString() });
    key = await kms.createKey({
      keySpec: source.keySpec,
      keyUsage: source.keyUsage,
      description:
        record.request.description ??
        `Imported by hsm2kms from HSM key "${source.label}" (id ${source.idHex || "none"})`,
      tags: keyTags(record, ctx.settings.toolVersion, ctx.settings.campaign),
      multiRegion: record.request.multiRegion,
      policy: record.request.policy,
    });
    // The key id must reach the ledger before anything else can fail.
    await recordCreatedKey(ctx, kms, record, key);
  }
  if (key.keyState === "PendingDeletion")
    throw fatal(
      "KMS_KEY_PENDING_DELETION",
      `${describeSource(record.source)}: KMS key ${key.keyId} is pending deletion; cancel the deletion or re-enqueue the key`,
    );
  await ensureAlias(kms, record, key.keyId);
  return {
    patch: { kmsKeyId: key.keyId, kmsKeyArn: key.arn, aliasCreated: record.request.alias !== undefined },
    next: key.keyState === "Enabled" ? "verify" : paramsPhase(ctx.settings),
  };
};
