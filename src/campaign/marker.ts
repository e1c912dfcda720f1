import type { Config } from "../shared/config.js";
import type { CampaignMarker, Ledger } from "../shared/ledger/index.js";
import { PROVENANCE_TAGS, tagValue } from "../workers/phases/provenance.js";

/** What a command says about a prefix with neither a campaign marker nor a record. */
export function noCampaignMessage(prefix: string, url: string): string {
  return `no campaign exists under the prefix ${prefix} at ${url}: nothing was enqueued there, or its ledger was lost (Redis restarted without persistence). Check HSM2KMS_QUEUE_PREFIX (--prefix) and REDIS_URL; if a campaign ran here, its KMS keys carry the tag hsm2kms:campaign=${prefix}: account for them before enqueueing again`;
}

/** Where to ask KMS for a campaign's keys when its ledger is missing: the Regions and the endpoint. */
export interface CampaignKmsLookup {
  regions: readonly string[];
  /** KMS endpoint override (the sandbox emulator). @defaultValue the SDK's own */
  endpoint?: string | undefined;
}

/** The lookup for a command's configuration: its Region (AWS_REGION), if any, and its KMS endpoint. */
export function campaignKmsLookup(config: Pick<Config, "region" | "kmsEndpoint">): CampaignKmsLookup {
  return { regions: config.region ? [config.region] : [], endpoint: config.kmsEndpoint };
}

/**
 * What KMS says about a campaign whose ledger is missing: how many keys carry `hsm2kms:campaign=<prefix>` in
 * each Region (a GetResources call or two per Region, through the Resource Groups Tagging API), as a
 * sentence for the message; a failed look-up is said too, never hidden. Empty without Regions.
 */
export async function campaignKeysInKms(prefix: string, lookup: CampaignKmsLookup): Promise<string> {
  const tag = `${PROVENANCE_TAGS.campaign}=${tagValue(prefix)}`;
  const counts: string[] = [];
  let total = 0;
  // The AWS SDK is loaded only when a ledger is missing and there is a Region to ask.
  const { createKmsAdapter } = lookup.regions.length > 0 ? await import("../shared/kms/index.js") : {};
  for (const region of lookup.regions) {
    if (!createKmsAdapter) break;
    const kms = createKmsAdapter({
      region,
      endpoint: lookup.endpoint,
      maxAttempts: 2,
      requestTimeoutMs: 10_000,
    });
    try {
      const keys = await kms.findKeysByTag(PROVENANCE_TAGS.campaign, tagValue(prefix));
      total += keys.length;
      counts.push(`${keys.length} in ${region}`);
    } catch (error) {
      counts.push(`${region}: could not ask (${error instanceof Error ? error.message : String(error)})`);
    } finally {
      kms.close();
    }
  }
  if (counts.length === 0) return "";
  return ` KMS keys tagged ${tag}: ${counts.join(", ")}${total > 0 ? ": KMS holds keys of this campaign that no ledger tracks now; account for them before enqueueing again (a re-enqueued key adopts its KMS key by its hsm2kms:migration-id tag)" : ""}.`;
}

export type CampaignCheck = { ok: true; marker: CampaignMarker } | { ok: false; message: string };

/**
 * Whether the ledger under a prefix is whole enough to report on: its marker is there. A prefix without a
 * marker has no campaign (no records either), or lost its ledger in part (records without their marker:
 * evicted or deleted keys, or a ledger written before campaign markers existed).
 */
export async function checkCampaign(
  ledger: Ledger,
  options: { url: string; kms?: CampaignKmsLookup | undefined },
): Promise<CampaignCheck> {
  const marker = await ledger.campaign();
  if (marker) return { ok: true, marker };
  const records = await ledger.size();
  const kmsNote = options.kms ? await campaignKeysInKms(ledger.prefix, options.kms) : "";
  if (records === 0)
    return { ok: false, message: `${noCampaignMessage(ledger.prefix, options.url)}.${kmsNote}` };
  return {
    ok: false,
    message: `the campaign marker of the prefix ${ledger.prefix} at ${options.url} is missing while its ledger holds ${records} record(s): part of the ledger was lost (evicted under maxmemory-policy other than noeviction, or deleted), so its figures cannot be trusted.${kmsNote} If this ledger was written by an hsm2kms without campaign markers, run \`hsm2kms enqueue\` with its manifest again: that adds the marker and nothing else`,
  };
}
