import type { SourceKeyDescription } from "../shared/hsm/types.js";
import { keySpecInfo } from "../shared/key-specs.js";
import { formatManifestCsv } from "./manifest.js";

export interface Inventory {
  csv: string;
  migratable: number;
  unmigratable: Array<{ label: string; idHex: string; reason: string }>;
}

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

function whyNot(key: SourceKeyDescription): string | undefined {
  if (!key.keySpec) return key.unsupportedReason ?? `key type ${key.keyType} cannot be imported into KMS`;
  if (!key.extractable)
    return "CKA_EXTRACTABLE is false: the HSM will not wrap it, and it cannot be turned back on";
  if (key.wrapWithTrusted) return "CKA_WRAP_WITH_TRUSTED is set: only a trusted wrapping key may wrap it";
  return undefined;
}

/** The token's keys as a manifest, and the keys that cannot be migrated with the reason. */
export async function inventoryManifest(keys: SourceKeyDescription[], region?: string): Promise<Inventory> {
  const taken = new Set<string>();
  const rows = [];
  const unmigratable: Inventory["unmigratable"] = [];
  for (const key of keys) {
    const reason = whyNot(key);
    if (reason || !key.keySpec) {
      unmigratable.push({ label: key.label, idHex: key.idHex, reason: reason ?? "unsupported" });
      continue;
    }
    rows.push({
      source_label: key.label,
      source_id: key.idHex,
      key_spec: key.keySpec,
      key_usage: keySpecInfo(key.keySpec).defaultUsage,
      alias: suggestAlias(key.label, key.idHex, taken) ?? "",
      region: region ?? "",
    });
  }
  return { csv: formatManifestCsv(rows), migratable: rows.length, unmigratable };
}
