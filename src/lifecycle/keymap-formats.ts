import { stringify as yamlStringify } from "yaml";
import type { Keymap, KeymapEntry, KeymapKey } from "./keymap.js";

/** The formats `hsm2kms keymap --format` writes. */
export const KEYMAP_FORMATS = ["json", "yaml", "env", "terraform"] as const;
export type KeymapFormat = (typeof KEYMAP_FORMATS)[number];

export function isKeymapFormat(value: string): value is KeymapFormat {
  return (KEYMAP_FORMATS as readonly string[]).includes(value);
}

/** A key for JSON and YAML: what applications need, without the internal name and in a fixed order. */
function publicKey(key: KeymapKey) {
  return {
    source_label: key.sourceLabel,
    source_id: key.sourceId,
    region: key.region,
    kms_key_id: key.keyId,
    kms_key_arn: key.keyArn,
    alias: key.alias,
    key_spec: key.keySpec,
    key_usage: key.keyUsage,
    key_state: key.keyState,
    multi_region: key.multiRegion,
    signing_algorithms: key.signingAlgorithms,
    encryption_algorithms: key.encryptionAlgorithms,
    mac_algorithms: key.macAlgorithms,
    key_agreement_algorithms: key.keyAgreementAlgorithms,
    material_expires_at: key.materialExpiresAt,
  };
}

const document = (keymap: Keymap) => ({
  keys: keymap.keys.map((entry) => ({
    ...publicKey(entry),
    replicas: entry.replicas.map(publicKey),
  })),
});

/** Drops undefined fields (YAML would write them as null). */
const defined = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/** A value bash reads back unchanged: single-quoted, a quote inside written as '\''. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function envLines(prefix: string, key: KeymapKey): string[] {
  const values: Array<[string, string | undefined]> = [
    ["ARN", key.keyArn],
    ["ID", key.keyId],
    ["ALIAS", key.alias],
    ["REGION", key.region],
    ["KEY_SPEC", key.keySpec],
    ["KEY_USAGE", key.keyUsage],
    ["SIGNING_ALGORITHMS", key.signingAlgorithms?.join(",")],
    ["ENCRYPTION_ALGORITHMS", key.encryptionAlgorithms?.join(",")],
    ["MAC_ALGORITHMS", key.macAlgorithms?.join(",")],
    ["KEY_AGREEMENT_ALGORITHMS", key.keyAgreementAlgorithms?.join(",")],
    ["MATERIAL_EXPIRES_AT", key.materialExpiresAt],
  ];
  return values
    .filter((pair): pair is [string, string] => pair[1] !== undefined && pair[1] !== "")
    .map(([suffix, value]) => `${prefix}_${suffix}=${shellQuote(value)}`);
}

const upper = (text: string) => text.toUpperCase().replace(/[^A-Z0-9]+/g, "_");

function toEnv(keymap: Keymap): string {
  const lines = [
    "# hsm2kms keymap: one block per HSM key (source label and CKA_ID in the comment); replicas as _<REGION>_.",
  ];
  for (const entry of keymap.keys) {
    lines.push(`# ${entry.sourceLabel.replace(/[\r\n]/g, " ")} (CKA_ID ${entry.sourceId})`);
    const prefix = `KMS_KEY_${upper(entry.name)}`;
    lines.push(...envLines(prefix, entry));
    for (const replica of entry.replicas)
      lines.push(...envLines(`${prefix}_${upper(replica.region)}`, replica));
  }
  return `${lines.join("\n")}\n`;
}

/** An HCL quoted string: JSON's escapes, which HCL shares, plus HCL's own template sequences escaped. */
function hclString(value: string): string {
  return JSON.stringify(value).replace(/\$\{/g, "$${").replace(/%\{/g, "%%{");
}

function hclTags(tags: Record<string, string> | undefined): string[] {
  const entries = Object.entries(tags ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return [];
  return ["  tags = {", ...entries.map(([k, v]) => `    ${hclString(k)} = ${hclString(v)}`), "  }"];
}

function importBlock(address: string, id: string): string[] {
  return ["import {", `  to = ${address}`, `  id = ${hclString(id)}`, "}", ""];
}

function aliasBlocks(key: KeymapKey, name: string, keyAddress: string): string[] {
  if (!key.alias) return [];
  const address = `aws_kms_alias.${name}`;
  return [
    ...importBlock(address, `${key.alias}@${key.region}`),
    `resource "aws_kms_alias" "${name}" {`,
    `  region        = ${hclString(key.region)}`,
    `  name          = ${hclString(key.alias)}`,
    `  target_key_id = ${keyAddress}.key_id`,
    "}",
    "",
  ];
}

/** The material stays out of Terraform; renew moves ValidTo, which Terraform must not undo. */
const KEY_LIFECYCLE = ["", "  lifecycle {", "    ignore_changes = [valid_to]", "  }", "}", ""];

function terraformEntry(entry: KeymapEntry): string[] {
  const address = `aws_kms_external_key.${entry.name}`;
  const lines = [
    `# ${entry.sourceLabel.replace(/[\r\n]/g, " ")} (CKA_ID ${entry.sourceId})`,
    ...importBlock(address, `${entry.keyId}@${entry.region}`),
    `resource "aws_kms_external_key" "${entry.name}" {`,
    `  region       = ${hclString(entry.region)}`,
    `  description  = ${hclString(entry.description ?? "")}`,
    `  key_spec     = ${hclString(entry.keySpec)}`,
    `  key_usage    = ${hclString(entry.keyUsage)}`,
    `  multi_region = ${entry.multiRegion}`,
    ...hclTags(entry.tags),
    ...KEY_LIFECYCLE,
    ...aliasBlocks(entry, entry.name, address),
  ];
  for (const replica of entry.replicas) {
    const name = `${entry.name}_${replica.region.replace(/-/g, "_")}`;
    const replicaAddress = `aws_kms_replica_external_key.${name}`;
    lines.push(
      ...importBlock(replicaAddress, `${replica.keyId}@${replica.region}`),
      `resource "aws_kms_replica_external_key" "${name}" {`,
      `  region          = ${hclString(replica.region)}`,
      `  primary_key_arn = ${address}.arn`,
      `  description     = ${hclString(replica.description ?? "")}`,
      ...hclTags(replica.tags),
      ...KEY_LIFECYCLE,
      ...aliasBlocks(replica, name, replicaAddress),
    );
  }
  return lines;
}

function toTerraform(keymap: Keymap): string {
  const header = [
    "# Written by `hsm2kms keymap --format terraform`: adopt the migrated KMS keys and their aliases into",
    "# Terraform state without re-creating them (`terraform plan` shows the imports). Key material stays out of",
    "# Terraform. Needs Terraform 1.5+ (import blocks) and the AWS provider 6.0+ (per-resource `region`).",
    "",
  ];
  return `${[...header, ...keymap.keys.flatMap(terraformEntry)].join("\n").trimEnd()}\n`;
}

/** The keymap as text in `format`. */
export function formatKeymap(keymap: Keymap, format: KeymapFormat): string {
  switch (format) {
    case "json":
      return `${JSON.stringify(document(keymap), null, 2)}\n`;
    case "yaml":
      return yamlStringify(defined(document(keymap)));
    case "env":
      return toEnv(keymap);
    case "terraform":
      return toTerraform(keymap);
  }
}
