import type { StoredImportParameters } from "../../shared/migration.js";

/**
 * The safety margin for a token: the configured one, but never more than a tenth of the token's whole life,
 * so short-lived tokens (a test emulator, a changed AWS policy) are still usable.
 */
export function effectiveMarginMs(params: StoredImportParameters, configuredMarginMs: number): number {
  const lifeMs = Date.parse(params.validTo) - Date.parse(params.fetchedAt);
  return Math.min(configuredMarginMs, Math.max(0, lifeMs / 10));
}

/** Milliseconds of life left in the token, minus the margin: negative means do not use it. */
export function usableTokenMs(params: StoredImportParameters, now: Date, configuredMarginMs: number): number {
  return Date.parse(params.validTo) - now.getTime() - effectiveMarginMs(params, configuredMarginMs);
}
