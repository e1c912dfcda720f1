import { fatal, isMigrationError, notVisible } from "../../shared/errors.js";
import type { KmsPort } from "../../shared/kms/types.js";
import type { MigrationRecord } from "../../shared/migration.js";
import type { PhaseContext } from "./context.js";

/**
 * CreateAlias for the manifest's alias, if any. An alias that exists already is fine when it points to this key;
 * when KMS says it exists but DescribeKey cannot find it, it is most likely ours, made by a lost attempt and
 * not propagated yet (AWS KMS Developer Guide, "AWS KMS eventual consistency"): look again later.
 * `changeRecorded`: the caller's last checkpoint, with nothing awaited since, already recorded `kmsChangedAt`
 * (the key was created a moment ago), so the alias's own checkpoint would record the same instant again.
 */
export async function ensureAlias(
  ctx: PhaseContext,
  kms: KmsPort,
  record: MigrationRecord,
  keyId: string,
  who: string,
  changeRecorded = false,
): Promise<void> {
  const alias = record.request.alias;
  if (!alias) return;
  if (!changeRecorded) await ctx.checkpoint({ kmsChangedAt: ctx.now().toISOString() });
  try {
    await kms.createAlias(alias, keyId);
  } catch (error) {
    if (!isMigrationError(error) || error.details?.["awsError"] !== "AlreadyExistsException") throw error;
    const target = await kms.describeKey(alias);
    if (!target)
      throw notVisible(
        "ALIAS_NOT_VISIBLE",
        `${who}: CreateAlias says ${alias} exists in ${kms.region}, but DescribeKey does not find it (NotFoundException)`,
        { details: { operation: "DescribeKey", awsError: "NotFoundException" } },
      );
    if (target.keyId !== keyId)
      throw fatal(
        "ALIAS_TAKEN",
        `${who}: ${alias} already exists in ${kms.region} and points to another KMS key (${target.keyId}); choose another alias or delete that one`,
      );
  }
}
