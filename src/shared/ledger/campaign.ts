import { randomUUID } from "node:crypto";
import type { RedisConnection } from "../redis.js";
import { ledgerKey } from "./keys.js";

/**
 * The campaign marker: one key beside the ledger (same hash tag), written once by the first enqueue of a
 * prefix. Redis restarted empty, or a ledger evicted or deleted, loses it with everything else; a worker
 * that saw it and finds it gone (or replaced by another campaign's) knows the ledger under it was lost,
 * instead of idling on an empty ledger while KMS holds keys nobody tracks.
 */
export interface CampaignMarker {
  /** Random, so a campaign enqueued again on an emptied Redis is told apart from the lost one. */
  id: string;
  /** The queue prefix (`HSM2KMS_QUEUE_PREFIX`): also the `hsm2kms:campaign` tag on its KMS keys. */
  prefix: string;
  createdAt: string;
}

/** The Redis key of a prefix's campaign marker (under the ledger's hash tag). */
export function campaignKey(prefix: string): string {
  return ledgerKey(prefix, "campaign");
}

/** The marker of `prefix`, undefined when there is none (never enqueued, or lost). */
export async function readCampaign(
  redis: RedisConnection,
  prefix: string,
): Promise<CampaignMarker | undefined> {
  const json = await redis.get(campaignKey(prefix));
  return json ? (JSON.parse(json) as CampaignMarker) : undefined;
}

/** Writes the marker unless one exists (SET NX: every enqueue of one campaign keeps the first); returns it. */
export async function ensureCampaign(
  redis: RedisConnection,
  prefix: string,
  now: Date = new Date(),
): Promise<CampaignMarker> {
  const marker: CampaignMarker = { id: randomUUID(), prefix, createdAt: now.toISOString() };
  const written = await redis.set(campaignKey(prefix), JSON.stringify(marker), "NX");
  if (written === "OK") return marker;
  const existing = await readCampaign(redis, prefix);
  // Deleted between the two calls: nothing better to do than write ours.
  if (!existing) return ensureCampaign(redis, prefix, now);
  return existing;
}

/** The ledger of a running campaign is gone (Redis restarted empty, or its keys were evicted or deleted). */
export class CampaignLostError extends Error {
  constructor(
    readonly prefix: string,
    readonly campaignId: string,
    detail: string,
  ) {
    super(
      `the ledger of campaign ${prefix} (id ${campaignId}) was lost: ${detail}. Its KMS keys carry the tag hsm2kms:campaign=${prefix}; do not enqueue again before they are accounted for, and run Redis with persistence (appendonly yes, maxmemory-policy noeviction)`,
    );
    this.name = this.constructor.name;
  }
}

/** What a reading of the marker says about a campaign a worker has seen (or not yet). */
export type CampaignReading =
  | { kind: "unseen" }
  | { kind: "present"; marker: CampaignMarker }
  | { kind: "lost"; error: CampaignLostError };

/**
 * Follows one prefix's marker across readings: unseen until enqueue writes it, then present; lost when it
 * disappears or another campaign's replaces it.
 */
export class CampaignWatch {
  private seen: CampaignMarker | undefined;

  constructor(
    private readonly redis: RedisConnection,
    readonly prefix: string,
  ) {}

  /** The marker seen so far, if any. */
  get marker(): CampaignMarker | undefined {
    return this.seen;
  }

  async check(): Promise<CampaignReading> {
    const current = await readCampaign(this.redis, this.prefix);
    if (!this.seen) {
      if (!current) return { kind: "unseen" };
      this.seen = current;
      return { kind: "present", marker: current };
    }
    if (!current)
      return {
        kind: "lost",
        error: new CampaignLostError(
          this.prefix,
          this.seen.id,
          "its marker disappeared from Redis under a running worker (a restart without persistence, or eviction)",
        ),
      };
    if (current.id !== this.seen.id)
      return {
        kind: "lost",
        error: new CampaignLostError(
          this.prefix,
          this.seen.id,
          `another campaign (id ${current.id}, enqueued ${current.createdAt}) replaced it: Redis was emptied and enqueued again`,
        ),
      };
    return { kind: "present", marker: current };
  }
}
