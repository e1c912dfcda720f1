import { Gauge, type Registry } from "prom-client";
import type { Ledger } from "../shared/ledger/index.js";

/** What the expiry gauges read, per Region: the earliest ValidTo and the failed renewals. */
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
    const earliest = earliestValidToMs.get(record.region);
    if (earliest === undefined || validTo < earliest) earliestValidToMs.set(record.region, validTo);
    renewalFailures.set(
      record.region,
      (renewalFailures.get(record.region) ?? 0) + (record.renewalError ? 1 : 0),
    );
  }
  return { earliestValidToMs, renewalFailures };
}

/**
 * `hsm2kms_key_material_expires_seconds{region}` (the earliest ValidTo, Unix seconds, of migrated material that
 * expires; a successful renewal moves it on) and `hsm2kms_key_material_renewal_failures{region}` (keys whose
 * last renewal failed), read from the ledger at scrape time. A scan of the ledger: its result is kept for
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
  const expires: Gauge<"region"> = new Gauge({
    name: "hsm2kms_key_material_expires_seconds",
    help: "Earliest ValidTo (Unix seconds) of imported key material that expires, per Region (hsm2kms renew moves it on)",
    labelNames: ["region"],
    registers: [registry],
    async collect() {
      const { earliestValidToMs } = await read();
      expires.reset();
      for (const [region, ms] of earliestValidToMs) expires.set({ region }, Math.floor(ms / 1000));
    },
  });
  const failures: Gauge<"region"> = new Gauge({
    name: "hsm2kms_key_material_renewal_failures",
    help: "Migrated keys with expiring material whose last hsm2kms renew failed, per Region",
    labelNames: ["region"],
    registers: [registry],
    async collect() {
      const { renewalFailures } = await read();
      failures.reset();
      for (const [region, count] of renewalFailures) failures.set({ region }, count);
    },
  });
}
