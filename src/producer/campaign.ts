import type { CampaignMarker, Ledger } from "../shared/ledger/index.js";

/** What a command says about a prefix with neither a campaign marker nor a record. */
export function noCampaignMessage(prefix: string, url: string): string {
  return `no campaign exists under the prefix ${prefix} at ${url}: nothing was enqueued there, or its ledger was lost (Redis restarted without persistence). Check HSM2KMS_QUEUE_PREFIX (--prefix) and REDIS_URL; if a campaign ran here, its KMS keys carry the tag hsm2kms:campaign=${prefix}: account for them before enqueueing again`;
}

/**
 * How many KMS keys carry the tag `hsm2kms:campaign=<prefix>` in these Regions, or undefined when not
 * looked up. This is where `status` and `report` ask KMS (through the Resource Groups Tagging API adapter
 * in src/shared/kms/) whether a campaign whose ledger is missing left keys behind; until that adapter is
 * wired here, nothing is looked up and the messages say where to look.
 */
export async function kmsKeysOfCampaign(
  _prefix: string,
  _regions: readonly string[],
): Promise<number | undefined> {
  return undefined;
}

export type CampaignCheck = { ok: true; marker: CampaignMarker } | { ok: false; message: string };

/**
 * Whether the ledger under a prefix is whole enough to report on: its marker is there. A prefix without a
 * marker has no campaign (no records either), or lost its ledger in part (records without their marker:
 * evicted or deleted keys, or a ledger written before campaign markers existed).
 */
export async function checkCampaign(
  ledger: Ledger,
  options: { url: string; regions?: readonly string[] },
): Promise<CampaignCheck> {
  const marker = await ledger.campaign();
  if (marker) return { ok: true, marker };
  const records = await ledger.size();
  const inKms = await kmsKeysOfCampaign(ledger.prefix, options.regions ?? []);
  const kmsNote =
    inKms === undefined
      ? ""
      : ` KMS holds ${inKms} key(s) tagged hsm2kms:campaign=${ledger.prefix}${inKms > 0 ? ": the ledger that tracked them is lost" : ""}.`;
  if (records === 0)
    return { ok: false, message: `${noCampaignMessage(ledger.prefix, options.url)}.${kmsNote}` };
  return {
    ok: false,
    message: `the campaign marker of the prefix ${ledger.prefix} at ${options.url} is missing while its ledger holds ${records} record(s): part of the ledger was lost (evicted under maxmemory-policy other than noeviction, or deleted), so its figures cannot be trusted.${kmsNote} If this ledger was written by an hsm2kms without campaign markers, run \`hsm2kms enqueue\` with its manifest again: that adds the marker and nothing else`,
  };
}
