import type { KmsPort } from "../shared/kms/types.js";
import type { Ledger } from "../shared/ledger/index.js";
import type { MigrationRecord } from "../shared/migration.js";
import type { KmsTarget } from "../shared/targets.js";
import { PROVENANCE_TAGS, tagValue } from "../workers/phases/provenance.js";

/**
 * A KMS key whose `hsm2kms:campaign` tag names this campaign but whose migration id the ledger does not know,
 * or knows with another KMS key, and that no other record of the ledger holds either: a late CreateKey from a host that lost its job (or a key made for a campaign
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

/**
 * An orphan that holds key material (Enabled or Disabled) was imported into, and hsm2kms imports only into the
 * key its ledger records: its ledger entry was lost or changed since, and applications may use it. It is never
 * removed by `abandon --orphans`; someone decides. An orphan without material (a late CreateKey) is removed.
 */
export function holdsMaterial(keyState: string): boolean {
  return keyState === "Enabled" || keyState === "Disabled";
}

/** What an orphan holding material needs, in words (abandon's and audit's lines). */
export const ORPHAN_WITH_MATERIAL =
  "it holds imported key material, so it was migrated into and its ledger entry was lost or changed since: applications may use it, so abandon --orphans leaves it; compare it with the HSM key named in its hsm2kms tags (hsm2kms audit) and re-enqueue that key or schedule this one's deletion by hand";

/** Why a key is an orphan, in words (for abandon's and audit's lines). */
export function orphanReason(orphan: OrphanKey): string {
  if (!orphan.migrationId)
    return `tagged ${PROVENANCE_TAGS.campaign} with this campaign but without a migration id`;
  return orphan.record
    ? `migration ${orphan.migrationId} holds KMS key ${orphan.record.kmsKeyId ?? "(none)"}, not this one`
    : `the ledger does not know migration ${orphan.migrationId}`;
}

/**
 * The KMS key ids a ledger's records hold, read in one pass over the ledger the first time they are asked for and
 * shared by every target a sweep looks at.
 */
export type HeldKeys = () => Promise<Set<string>>;

export function heldKeysOf(ledger: Ledger): HeldKeys {
  let held: Promise<Set<string>> | undefined;
  return () => {
    held ??= (async () => {
      const ids = new Set<string>();
      for await (const record of ledger.records()) if (record.kmsKeyId) ids.add(record.kmsKeyId);
      return ids;
    })();
    return held;
  };
}

/**
 * The campaign's orphans in one target (account and Region), found through the Resource Groups Tagging API by the
 * campaign tag (eventually consistent: a key tagged moments ago may show only later). Keys in any state, pending
 * deletion included: the caller decides what a deleted one means.
 */
export async function findOrphans(
  ledger: Ledger,
  kms: Pick<KmsPort, "findKeysByTag">,
  target: KmsTarget,
  prefix: string,
  heldKeys: HeldKeys = heldKeysOf(ledger),
): Promise<OrphanKey[]> {
  const { region, account } = target;
  const candidates: OrphanKey[] = [];
  for (const key of await kms.findKeysByTag(PROVENANCE_TAGS.campaign, tagValue(prefix))) {
    const migrationId = key.tags[PROVENANCE_TAGS.migrationId];
    const record = migrationId ? (await ledger.get(migrationId))?.record : undefined;
    if (record?.kmsKeyId === key.keyId) continue;
    candidates.push({ region, account, keyId: key.keyId, migrationId, record, tags: key.tags });
  }
  if (candidates.length === 0) return [];
  // A key another record of the ledger holds is tracked, whatever its tag says (a ledger edited by hand, two
  // records swapped): `abandon --orphans` would destroy a key in use. Only keys no record holds are orphans.
  const held = await heldKeys();
  return candidates.filter((candidate) => !held.has(candidate.keyId));
}
