import { fatal, isMigrationError } from "../errors.js";
import { resourceQuotaMessage, resourceQuotaOf } from "./resource-quotas.js";
import type { ResourceQuotaEvent } from "./types.js";

type Call = <T>(operation: string, what: string, run: () => Promise<T>, quotaRegion?: string) => Promise<T>;

interface Hold {
  since: number;
  lastProbe: number;
}

/**
 * Stops sending key-creating requests into a Region whose "AWS KMS keys" quota is full. A resource quota
 * is not a rate: waiting does not lift it, and every refused CreateKey still spends the request quota the
 * account shares with its other users. So after one LimitExceededException this refuses CreateKey (and
 * ReplicateKey into that Region) itself, with the same reason, and lets one request through per `holdMs`
 * to notice that the quota was raised or keys were deleted. Per process: each worker learns it once.
 */
export class KeyQuotaHold {
  private readonly holds = new Map<string, Hold>();

  constructor(
    private readonly holdMs: number,
    private readonly notify: (event: ResourceQuotaEvent) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether key creation in `region` is being held. */
  isHeld(region: string): boolean {
    return this.holds.has(region);
  }

  /**
   * Runs a request that creates a key in `targetRegion` through `call`, unless that Region's key quota is
   * known to be full.
   */
  async guard<T>(
    operation: string,
    targetRegion: string,
    what: string,
    call: Call,
    run: () => Promise<T>,
  ): Promise<T> {
    const quota = resourceQuotaOf(operation).name;
    const hold = this.holds.get(targetRegion);
    if (hold) {
      const now = this.now();
      if (now - hold.lastProbe < this.holdMs)
        throw fatal(
          "KMS_RESOURCE_QUOTA_EXCEEDED",
          `${operation} (${what}): not sent: KMS refused to create keys in ${targetRegion} ${Math.round((now - hold.since) / 1000)} s ago, ${resourceQuotaMessage(operation, targetRegion)}`,
          {
            details: {
              operation,
              awsError: "LimitExceededException",
              quota,
              region: targetRegion,
              held: true,
            },
          },
        );
      hold.lastProbe = now;
    }
    try {
      const result = await call(operation, what, run, targetRegion);
      if (this.holds.delete(targetRegion))
        this.notify({ region: targetRegion, quota, state: "cleared", operation });
      return result;
    } catch (error) {
      if (isMigrationError(error) && error.code === "KMS_RESOURCE_QUOTA_EXCEEDED") {
        const now = this.now();
        const existing = this.holds.get(targetRegion);
        if (existing) existing.lastProbe = now;
        else {
          this.holds.set(targetRegion, { since: now, lastProbe: now });
          this.notify({ region: targetRegion, quota, state: "exceeded", operation });
        }
      }
      throw error;
    }
  }
}
