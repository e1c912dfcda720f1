import type { MigrationRecord } from "../../shared/migration.js";

/** Tag keys hsm2kms puts on every KMS key it creates: where the key came from, and which migration made it. */
export const PROVENANCE_TAGS = {
  migrationId: "hsm2kms:migration-id",
  sourceLabel: "hsm2kms:source-label",
  sourceId: "hsm2kms:source-id",
  fingerprint: "hsm2kms:source-fingerprint",
  wrappingAlgorithm: "hsm2kms:wrapping-algorithm",
  toolVersion: "hsm2kms:tool-version",
  /** The queue prefix of the campaign that made the key: finds a campaign's keys when its ledger is lost. */
  campaign: "hsm2kms:campaign",
} as const;

/** AWS tag values allow letters, digits, spaces and `_ . : / = + - @`, up to 256 characters. */
export function tagValue(text: string): string {
  return text.replace(/[^\p{L}\p{N}\p{Zs}_.:/=+\-@]/gu, "_").slice(0, 256);
}

/**
 * The tags of a new KMS key: the manifest's, then provenance (which wins: it is how repeats find the key).
 * `campaign` is the queue prefix; without one (unit tests, the in-process runner) the tag is left out.
 */
export function keyTags(
  record: MigrationRecord,
  toolVersion: string,
  campaign?: string,
): Record<string, string> {
  const source = record.sourceKey;
  return {
    ...record.request.tags,
    [PROVENANCE_TAGS.migrationId]: record.id,
    [PROVENANCE_TAGS.sourceLabel]: tagValue(source?.label ?? record.source.label ?? ""),
    [PROVENANCE_TAGS.sourceId]: tagValue(source?.idHex ?? record.source.idHex ?? ""),
    [PROVENANCE_TAGS.fingerprint]: tagValue(source?.fingerprint ?? ""),
    [PROVENANCE_TAGS.wrappingAlgorithm]: record.wrapPlan?.wrappingAlgorithm ?? "",
    [PROVENANCE_TAGS.toolVersion]: tagValue(toolVersion),
    ...(campaign ? { [PROVENANCE_TAGS.campaign]: tagValue(campaign) } : {}),
  };
}
