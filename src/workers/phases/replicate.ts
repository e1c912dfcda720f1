import { deferred, fatal, isMigrationError, notVisible } from "../../shared/errors.js";
import { describeSource, type MigrationRecord } from "../../shared/migration.js";
import { ensureAlias } from "./alias.js";
import type { PhaseContext, PhaseOutcome } from "./context.js";
import { paramsPhase } from "./params.js";
import { keyTags } from "./provenance.js";

/** How long a replica waits before looking at its primary again: 2 s, growing to a minute. */
function primaryPollMs(deferrals: number): number {
  return Math.min(60_000, Math.round(2000 * 1.5 ** deferrals));
}

/**
 * ReplicateKey. "Already exists" while DescribeKey in the replica's Region found nothing is a replica a lost
 * attempt made that KMS does not show yet (the key id is the primary's, which this campaign made): wait for it.
 */
async function replicateOnce(
  ctx: PhaseContext,
  record: MigrationRecord,
  primaryRegion: string,
  keyId: string,
  primaryArn: string | undefined,
  who: string,
) {
  try {
    return await ctx.kms(primaryRegion, record.account).replicateKey(keyId, record.region, {
      description: record.request.description ?? `Replica of ${primaryArn}, imported by hsm2kms`,
      tags: keyTags(record, ctx.settings.toolVersion, ctx.settings.campaign),
      policy: record.request.policy,
    });
  } catch (error) {
    if (!isMigrationError(error) || error.details?.["awsError"] !== "AlreadyExistsException") throw error;
    // Its id is the primary's: record it, so the next look is a DescribeKey, not another ReplicateKey.
    await ctx.checkpoint({ kmsKeyId: keyId });
    throw notVisible(
      "REPLICA_NOT_VISIBLE",
      `${who}: ReplicateKey says ${keyId} already has a replica in ${record.region}, but DescribeKey there does not find it`,
      { details: { operation: "DescribeKey", awsError: "NotFoundException" }, cause: error },
    );
  }
}

/**
 * The create phase of a multi-Region replica: once the primary holds its material (KMS wants the primary
 * imported before replicating), ReplicateKey from the primary's Region into this one. The replica has the
 * primary's key id, so a repeat finds it by DescribeKey in this Region. Tags and aliases are not synced
 * across related keys: this replica gets its own provenance tags and alias.
 */
export async function replicate(ctx: PhaseContext, record: MigrationRecord): Promise<PhaseOutcome> {
  const who = `${describeSource(record.source)} (replica in ${record.region})`;
  const primary = record.replicaOf ? await ctx.lookup(record.replicaOf) : undefined;
  if (!primary)
    throw fatal(
      "PRIMARY_MISSING",
      `${who}: the ledger has no primary ${record.replicaOf}; re-enqueue the manifest row`,
    );
  if (primary.status === "failed")
    throw fatal(
      "PRIMARY_FAILED",
      `${who}: the primary in ${primary.region} failed (${primary.error?.code}); fix it and run hsm2kms retry --failed`,
    );
  if (primary.status !== "migrated" || !primary.kmsKeyId)
    throw deferred(
      "PRIMARY_NOT_MIGRATED",
      `${who}: waiting for the primary in ${primary.region} to be imported`,
      { retryAfterMs: primaryPollMs(record.deferrals ?? 0) },
    );
  if (primary.sourceKey?.fingerprint !== record.sourceKey?.fingerprint)
    throw fatal(
      "PRIMARY_SOURCE_DIFFERS",
      `${who}: the primary was migrated from another HSM key (fingerprint ${primary.sourceKey?.fingerprint})`,
    );

  const kms = ctx.kms(record.region, record.account);
  let replica = await kms.describeKey(primary.kmsKeyId);
  if (!replica && record.kmsKeyId)
    throw notVisible(
      "KMS_KEY_MISSING",
      `${who}: the replica ${record.kmsKeyId} recorded in the ledger is not found (DescribeKey: NotFoundException)`,
      { details: { operation: "DescribeKey", awsError: "NotFoundException" } },
    );
  const replicated = !replica;
  if (!replica) {
    const startedAt = ctx.now().toISOString();
    await ctx.checkpoint({ createStartedAt: startedAt, kmsChangedAt: startedAt });
    replica = await replicateOnce(ctx, record, primary.region, primary.kmsKeyId, primary.kmsKeyArn, who);
    await ctx.checkpoint({
      kmsKeyId: replica.keyId,
      kmsKeyArn: replica.arn,
      kmsChangedAt: ctx.now().toISOString(),
    });
  }
  // The alias's change is recorded with the replica's id when this attempt replicated it.
  await ensureAlias(ctx, kms, record, replica.keyId, who, replicated);
  return {
    patch: {
      kmsKeyId: replica.keyId,
      kmsKeyArn: replica.arn,
      aliasCreated: record.request.alias !== undefined,
    },
    next: replica.keyState === "Enabled" ? "verify" : paramsPhase(ctx.settings),
  };
}
