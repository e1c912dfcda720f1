import type { KmsPort } from "../shared/kms/types.js";
import type { Ledger } from "../shared/ledger/index.js";
import type { MigrationRecord } from "../shared/migration.js";
import type { KmsTarget } from "../shared/targets.js";
import { PROVENANCE_TAGS, tagValue } from "../workers/phases/provenance.js";

/**
 * A KMS key whose `hsm2kms:campaign` tag names this campaign but whose migration id the ledger does not know,
 * or knows with another KMS key: a late CreateKey from a host that lost its job (or a key made for a campaign
 * whose ledger was replaced). `abandon --orphans` removes them; `audit` lists them.
 */
export interface OrphanKey {
  region: string;
  /** The account it is in (undefined: the caller's own). */
  account: string | undefined;
  keyId: string;
  /** The key's `hsm2kms:migration-id` tag, if any. */
  migrationId: string | undefined;
  /** The ledger's record of that migration id, when it has one (with another KMS key). */
  record: MigrationRecord | undefined;
  /** The key's tags, as the tag index gave them. */
  tags: Record<string, string>;
}

/** The HSM key behind a record, or behind a KMS key's provenance tags: label and CKA_ID as far as known. */
export function sourceKeyOf(
  record: MigrationRecord | undefined,
  tags?: Record<string, string>,
): { label: string; idHex: string } {
  return {
    label: record?.sourceKey?.label ?? record?.source.label ?? tags?.[PROVENANCE_TAGS.sourceLabel] ?? "",
    idHex: record?.sourceKey?.idHex ?? record?.source.idHex ?? tags?.[PROVENANCE_TAGS.sourceId] ?? "",
  };
}

/** `label (CKA_ID id)` of the HSM key behind a record, or behind a KMS key's provenance tags. */
export function sourceOf(record: MigrationRecord | undefined, tags?: Record<string, string>): string {
  const { label, idHex } = sourceKeyOf(record, tags);
  return `${label || "(no label)"} (CKA_ID ${idHex || "unknown"})`;
}

/** Why a key is an orphan, in words (for abandon's and audit's lines). */
export function orphanReason(orphan: OrphanKey): string {
  if (!orphan.migrationId)
    return `tagged ${PROVENANCE_TAGS.campaign} with this campaign but without a migration id`;
  return orphan.record
    ? `migration ${orphan.migrationId} holds KMS key ${orphan.record.kmsKeyId ?? "(none)"}, not this one`
    : `the ledger does not know migration ${orphan.migrationId}`;
}

/**
 * The campaign's orphans in one target (account and Region), found through the Resource Groups Tagging API by the campaign tag
 * (eventually consistent: a key tagged moments ago may show only later). Keys in any state, pending deletion
 * included: the caller decides what a deleted one means.
 */
export async function findOrphans(
  ledger: Ledger,
  kms: Pick<KmsPort, "findKeysByTag">,
  target: KmsTarget,
  prefix: string,
): Promise<OrphanKey[]> {
  const { region, account } = target;
  const orphans: OrphanKey[] = [];
  for (const key of await kms.findKeysByTag(PROVENANCE_TAGS.campaign, tagValue(prefix))) {
    const migrationId = key.tags[PROVENANCE_TAGS.migrationId];
    const record = migrationId ? (await ledger.get(migrationId))?.record : undefined;
    if (record?.kmsKeyId === key.keyId) continue;
    orphans.push({ region, account, keyId: key.keyId, migrationId, record, tags: key.tags });
  }
  return orphans;
}
