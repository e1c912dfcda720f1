import { type MigrationRecord, newMigrationRecord } from "../shared/migration.js";
import { migrationId } from "./migration-id.js";
import type { ManifestRow } from "./types.js";

/** What a row's records carry beyond the row itself. */
export interface RowRecordOptions {
  /** When the records are made (createdAt, updatedAt). */
  now: Date;
  /** The checked key policy JSON for the row (its own `key_policy`, else the campaign's), if any. */
  policy?: string | undefined;
}

/**
 * The migration records one manifest row stands for: the key in its Region first, then one per replica Region
 * of a multi-Region row. A replica is migrated on its own (ReplicateKey, then its own params, wrap, import and
 * verify in its Region) once the primary is, and has its own report row. Each record's id is the row's
 * migration id in that Region. `enqueue` stores these records; `audit --manifest` expects them in the ledger.
 */
export function migrationRecordsOf(row: ManifestRow, options: RowRecordOptions): MigrationRecord[] {
  const primary = newMigrationRecord(
    migrationId(row),
    row.region,
    { label: row.sourceLabel, idHex: row.sourceIdHex },
    {
      keySpec: row.keySpec,
      keyUsage: row.keyUsage,
      alias: row.alias,
      description: row.description,
      tags: row.tags,
      multiRegion: row.multiRegion,
      expiresAt: row.expiresAt?.toISOString(),
      replicaRegions: row.replicaRegions.length > 0 ? row.replicaRegions : undefined,
      policy: options.policy,
    },
    options.now,
    row.line,
  );
  // Only a key with an account carries the field: other records stay as earlier versions wrote them.
  if (row.account !== undefined) primary.account = row.account;
  const replicas = row.replicaRegions.map((region) => ({
    ...newMigrationRecord(
      migrationId({ ...row, region }),
      region,
      primary.source,
      { ...primary.request, replicaRegions: undefined },
      options.now,
      row.line,
    ),
    ...(row.account === undefined ? {} : { account: row.account }),
    replicaOf: primary.id,
  }));
  return [primary, ...replicas];
}
