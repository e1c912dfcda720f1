import { Readable } from "node:stream";
import { formatManifestCsv, type ManifestColumn, readManifest } from "../manifest/read.js";
import { ConfigError } from "../shared/errors.js";
import type { SourceKeyDescription } from "../shared/hsm/types.js";
import { keySpecInfo } from "../shared/key-specs.js";
import { applyMapping, type Mapping } from "./mapping.js";

export interface Inventory {
  /** The manifest: only rows `enqueue` accepts. */
  csv: string;
  migratable: number;
  unmigratable: Array<{ label: string; idHex: string; reason: string }>;
  /** Keys left out of the manifest because their row (from the mapping) is one `enqueue` would reject. */
  rejected: Array<{ label: string; idHex: string; problems: string[] }>;
}

/**
 * An empty region cell is filled at enqueue from AWS_REGION; while checking rows here any valid Region
 * stands in for it, so only what the rows say is judged.
 */
const STAND_IN_REGION = "us-east-1";

type InventoryRow = Partial<Record<ManifestColumn, string>>;

/**
 * Splits rows into those `enqueue` accepts and the problems of the others, by reading them back with
 * `readManifest` itself: one set of rules (tags, aliases, descriptions, duplicates), never a copy.
 */
async function checkRows(
  rows: InventoryRow[],
  defaultRegion: string,
): Promise<{ accepted: InventoryRow[]; problems: Map<InventoryRow, string[]> }> {
  const byLine = new Map<number, InventoryRow>();
  let line = 2;
  for (const row of rows) {
    byLine.set(line, row);
    line += newlines(formatManifestCsv([row])) - 1;
  }
  const problems = new Map<InventoryRow, string[]>();
  const text = formatManifestCsv(rows);
  for await (const entry of readManifest(Readable.from([text]), { defaultRegion })) {
    if (entry.kind !== "rejected") continue;
    const row = byLine.get(entry.line);
    if (row)
      problems.set(
        row,
        entry.problems.map((problem) =>
          problem.column === undefined ? problem.message : `column ${problem.column}: ${problem.message}`,
        ),
      );
  }
  return { accepted: rows.filter((row) => !problems.has(row)), problems };
}

const newlines = (text: string) => text.split("\n").length - 1;

/** `alias/<label>` with what KMS allows in alias names; a collision gets the key id appended. */
export function suggestAlias(label: string, idHex: string, taken: Set<string>): string | undefined {
  const base = label
    .toLowerCase()
    .replace(/[^a-z0-9/_-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 200);
  if (!base || base.startsWith("aws/")) return undefined;
  let alias = `alias/${base}`;
  if (taken.has(alias)) alias = `alias/${base}-${idHex.slice(0, 16)}`;
  if (taken.has(alias)) return undefined;
  taken.add(alias);
  return alias;
}

/** A mapped alias must be valid and name one key only. */
function claimAlias(alias: string, key: SourceKeyDescription, owners: Map<string, string>): void {
  if (!/^alias\/[A-Za-z0-9/_-]+$/.test(alias) || alias.startsWith("alias/aws/"))
    throw new ConfigError(
      `--mapping gives key "${key.label}" the alias ${JSON.stringify(alias)}, which KMS does not allow; expected alias/ and letters, digits, / _ - (use the |slug filter)`,
    );
  const owner = owners.get(alias);
  if (owner !== undefined)
    throw new ConfigError(
      `--mapping gives ${alias} to both "${owner}" and "${key.label}"; make the alias template unique (e.g. add {id|short})`,
    );
  owners.set(alias, key.label);
}

function whyNot(key: SourceKeyDescription): string | undefined {
  if (!key.keySpec) return key.unsupportedReason ?? `key type ${key.keyType} cannot be imported into KMS`;
  if (!key.extractable)
    return "CKA_EXTRACTABLE is false: the HSM will not wrap it, and it cannot be turned back on";
  if (key.wrapWithTrusted) return "CKA_WRAP_WITH_TRUSTED is set: only a trusted wrapping key may wrap it";
  return undefined;
}

/**
 * The token's keys as a manifest, the keys that cannot be migrated with the reason, and the keys whose row
 * (as the mapping makes it) `enqueue` would reject, with every problem: those are left out of the manifest.
 */
export async function inventoryManifest(
  keys: SourceKeyDescription[],
  region?: string,
  mapping?: Mapping,
): Promise<Inventory> {
  const taken = new Set<string>();
  const owners = new Map<string, string>();
  const rows: InventoryRow[] = [];
  const unmigratable: Inventory["unmigratable"] = [];
  for (const key of keys) {
    const reason = whyNot(key);
    if (reason || !key.keySpec) {
      unmigratable.push({ label: key.label, idHex: key.idHex, reason: reason ?? "unsupported" });
      continue;
    }
    const keyUsage = keySpecInfo(key.keySpec).defaultUsage;
    const mapped = mapping
      ? applyMapping(mapping, {
          label: key.label,
          id: key.idHex,
          keyType: key.keyType,
          keySpec: key.keySpec,
          keyUsage,
          region: region ?? "",
        })
      : undefined;
    if (mapped?.alias !== undefined) claimAlias(mapped.alias, key, owners);
    rows.push({
      source_label: key.label,
      source_id: key.idHex,
      key_spec: key.keySpec,
      key_usage: keyUsage,
      alias: mapped ? (mapped.alias ?? "") : (suggestAlias(key.label, key.idHex, taken) ?? ""),
      description: mapped?.description ?? "",
      tags: Object.entries(mapped?.tags ?? {})
        .map(([name, value]) => `${name}=${value}`)
        .join(";"),
      region: region ?? "",
    });
  }
  const { accepted, problems } = await checkRows(rows, region || STAND_IN_REGION);
  const rejected = [...problems].map(([row, list]) => ({
    label: row.source_label ?? "",
    idHex: row.source_id ?? "",
    problems: list,
  }));
  return { csv: formatManifestCsv(accepted), migratable: accepted.length, unmigratable, rejected };
}
