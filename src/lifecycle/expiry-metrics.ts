import { Gauge, type Registry } from "prom-client";
import type { Ledger } from "../shared/ledger/index.js";
import { parseTargetName, targetName, targetOf } from "../shared/targets.js";

/**
 * What the expiry gauges read, per target (`targetName`: the Region, or `<account>-<region>` for another
 * account's keys): the earliest ValidTo and the failed renewals.
 */
export interface MaterialExpiry {
  earliestValidToMs: Map<string, number>;
  renewalFailures: Map<string, number>;
}

/** Reads the ledger once: migrated (not abandoned) keys whose material expires. */
export async function readMaterialExpiry(ledger: Ledger): Promise<MaterialExpiry> {
  const earliestValidToMs = new Map<string, number>();
  const renewalFailures = new Map<string, number>();
  for await (const record of ledger.records()) {
    if (record.status !== "migrated" || record.abandonedAt || !record.request.expiresAt) continue;
    const validTo = Date.parse(record.request.expiresAt);
    const target = targetName(targetOf(record));
    const earliest = earliestValidToMs.get(target);
    if (earliest === undefined || validTo < earliest) earliestValidToMs.set(target, validTo);
    renewalFailures.set(target, (renewalFailures.get(target) ?? 0) + (record.renewalError ? 1 : 0));
  }
  return { earliestValidToMs, renewalFailures };
}

/** A gauge's labels for a target: `account` only on another account's series, as on every hsm2kms metric. */
function targetLabels(name: string): { region: string; account?: string } {
  const { region, account } = parseTargetName(name);
  return account === undefined ? { region } : { region, account };
}

/**
 * `hsm2kms_key_material_expires_seconds{region,account}` (the earliest ValidTo, Unix seconds, of migrated
 * material that expires; a successful renewal moves it on) and
 * `hsm2kms_key_material_renewal_failures{region,account}` (keys whose last renewal failed), read from the ledger
 * at scrape time; `account` only on another account's keys. A scan of the ledger: its result is kept for
 * `cacheMs` (or until the count of migrated keys changes) so that frequent scrapes of a large campaign do not
 * repeat it.
 */
export function registerExpiryGauges(registry: Registry, ledger: Ledger, cacheMs = 60_000): void {
  let cached: { at: number; migrated: number; value: Promise<MaterialExpiry> } | undefined;
  const read = async () => {
    // A key migrated since the last scan shows at the next scrape, not up to a minute later (a cheap counter read).
    const migrated = (await ledger.counts()).byStatus["migrated"] ?? 0;
    if (!cached || Date.now() - cached.at > cacheMs || cached.migrated !== migrated)
      cached = { at: Date.now(), migrated, value: readMaterialExpiry(ledger) };
    return cached.value.catch((error: unknown) => {
      cached = undefined;
      throw error;
    });
  };
  const expires: Gauge<"region" | "account"> = new Gauge({
    name: "hsm2kms_key_material_expires_seconds",
    help: "Earliest ValidTo (Unix seconds) of imported key material that expires, per Region and account (hsm2kms renew moves it on)",
    labelNames: ["region", "account"],
    registers: [registry],
    async collect() {
      const { earliestValidToMs } = await read();
      expires.reset();
      for (const [target, ms] of earliestValidToMs) expires.set(targetLabels(target), Math.floor(ms / 1000));
    },
  });
  const failures: Gauge<"region" | "account"> = new Gauge({
    name: "hsm2kms_key_material_renewal_failures",
    help: "Migrated keys with expiring material whose last hsm2kms renew failed, per Region and account",
    labelNames: ["region", "account"],
    registers: [registry],
    async collect() {
      const { renewalFailures } = await read();
      failures.reset();
      for (const [target, count] of renewalFailures) failures.set(targetLabels(target), count);
    },
  });
}
