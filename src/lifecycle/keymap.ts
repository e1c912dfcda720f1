import type { KmsPort } from "../shared/kms/types.js";
import type { MigrationRecord } from "../shared/migration.js";

/** One KMS key an application uses in place of an HSM key (one Region's copy of it). */
export interface KeymapKey {
  /** The HSM key: CKA_LABEL and CKA_ID (hex), as preflight read them. */
  sourceLabel: string;
  sourceId: string;
  migrationId: string;
  region: string;
  keyId: string;
  keyArn: string;
  /** The alias this campaign created for the key, if any. */
  alias?: string | undefined;
  keySpec: string;
  keyUsage: string;
  multiRegion: boolean;
  /** What KMS reports now (Enabled, PendingImport after expired material, ...). */
  keyState: string;
  signingAlgorithms?: string[] | undefined;
  encryptionAlgorithms?: string[] | undefined;
  macAlgorithms?: string[] | undefined;
  keyAgreementAlgorithms?: string[] | undefined;
  /** ISO-8601: when the imported material expires (KEY_MATERIAL_EXPIRES). */
  materialExpiresAt?: string | undefined;
  description?: string | undefined;
  /** The KMS key's tags (read only for the formats that need them). */
  tags?: Record<string, string> | undefined;
  /** A name unique in this keymap, for environment variables and Terraform addresses. */
  name: string;
}

/** A key as the keymap lists it: the primary (or single-Region key) with its replicas under it. */
export interface KeymapEntry extends KeymapKey {
  replicas: KeymapKey[];
}

/** What keymap found, beside the keys: keys left out and why, each naming the key and the fix. */
export interface Keymap {
  keys: KeymapEntry[];
  /** Keys of the ledger that are not migrated (left out). */
  notMigrated: number;
  /** Migrated keys KMS no longer holds, or holds in a state applications cannot use. */
  problems: string[];
}

/** Ports keymap reads through: KMS per Region (DescribeKey; ListResourceTags when tags are asked for). */
export interface KeymapPorts {
  kms: (region: string, account?: string | undefined) => KmsPort;
}

/** `payments-signer` -> `payments_signer`; names that start with a digit get a `key_` prefix. */
function baseName(label: string, idHex: string): string {
  const slug = (label || `id_${idHex}`)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (slug === "") return `key_${idHex || "unnamed"}`;
  return /^[a-z_]/.test(slug) ? slug : `key_${slug}`;
}

/**
 * Reads the ledger's migrated keys and asks KMS about each (DescribeKey: state, algorithms, expiry; with
 * `withTags`, ListResourceTags). Read only: nothing in Redis or KMS changes.
 */
export async function buildKeymap(
  records: AsyncIterable<MigrationRecord>,
  ports: KeymapPorts,
  options: { withTags?: boolean } = {},
): Promise<Keymap> {
  const migrated: MigrationRecord[] = [];
  let notMigrated = 0;
  for await (const record of records) {
    if (record.status === "migrated" && record.kmsKeyId) migrated.push(record);
    else notMigrated++;
  }
  // Stable order: by label, then CKA_ID, then Region, so two runs over one ledger give the same file.
  migrated.sort((a, b) =>
    `${labelOf(a)}\u0000${idOf(a)}\u0000${a.region}`.localeCompare(
      `${labelOf(b)}\u0000${idOf(b)}\u0000${b.region}`,
    ),
  );
  const problems: string[] = [];
  const used = new Set<string>();
  const names = new Map<string, string>();
  const nameFor = (record: MigrationRecord): string => {
    const primaryId = record.replicaOf ?? record.id;
    const known = names.get(primaryId);
    if (known) return known;
    let name = baseName(labelOf(record), idOf(record));
    if (used.has(name)) name = `${name}_${idOf(record) || primaryId.slice(0, 8)}`;
    for (let n = 2; used.has(name); n++) name = `${baseName(labelOf(record), idOf(record))}_${n}`;
    used.add(name);
    names.set(primaryId, name);
    return name;
  };
  const entries = new Map<string, KeymapEntry>();
  const replicas: Array<{ record: MigrationRecord; key: KeymapKey }> = [];
  for (const record of migrated) {
    const key = await describeForKeymap(
      record,
      ports.kms(record.region, record.account),
      nameFor(record),
      options,
      problems,
    );
    if (!key) continue;
    if (record.replicaOf) replicas.push({ record, key });
    else entries.set(record.id, { ...key, replicas: [] });
  }
  for (const { record, key } of replicas) {
    const primary = entries.get(record.replicaOf ?? "");
    if (primary) primary.replicas.push(key);
    else
      problems.push(
        `${describe(record)}: a replica whose primary (migration ${record.replicaOf}) is not in the keymap; run \`hsm2kms report\` to see the primary`,
      );
  }
  return { keys: [...entries.values()], notMigrated, problems };
}

const labelOf = (record: MigrationRecord) => record.sourceKey?.label ?? record.source.label ?? "";
const idOf = (record: MigrationRecord) => record.sourceKey?.idHex ?? record.source.idHex ?? "";
const describe = (record: MigrationRecord) =>
  `${labelOf(record) || `id ${idOf(record)}`} (${record.region}, KMS key ${record.kmsKeyId})`;

async function describeForKeymap(
  record: MigrationRecord,
  kms: KmsPort,
  name: string,
  options: { withTags?: boolean },
  problems: string[],
): Promise<KeymapKey | undefined> {
  const keyId = record.kmsKeyId ?? "";
  const info = await kms.describeKey(keyId);
  if (!info) {
    problems.push(
      `${describe(record)}: KMS has no such key (deleted, or another account or Region); run \`hsm2kms audit\``,
    );
    return undefined;
  }
  if (info.keyState !== "Enabled")
    problems.push(
      `${describe(record)}: the KMS key is ${info.keyState}, not usable by applications${info.keyState === "PendingImport" ? " (its material expired or was deleted: `hsm2kms renew` imports it again)" : ""}`,
    );
  const tags = options.withTags ? await kms.listResourceTags(keyId) : undefined;
  return {
    sourceLabel: labelOf(record),
    sourceId: idOf(record),
    migrationId: record.id,
    region: record.region,
    keyId: info.keyId,
    keyArn: info.arn,
    alias: record.aliasCreated ? record.request.alias : undefined,
    keySpec: info.keySpec ?? record.sourceKey?.keySpec ?? "",
    keyUsage: info.keyUsage ?? record.sourceKey?.keyUsage ?? "",
    multiRegion: info.multiRegion,
    keyState: info.keyState,
    signingAlgorithms: info.algorithms?.signing,
    encryptionAlgorithms: info.algorithms?.encryption,
    macAlgorithms: info.algorithms?.mac,
    keyAgreementAlgorithms: info.algorithms?.keyAgreement,
    materialExpiresAt: info.validTo?.toISOString(),
    description: info.description,
    tags,
    name,
  };
}
