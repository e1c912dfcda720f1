import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { KmsRequestEvent, ResourceQuotaEvent } from "../shared/kms/types.js";

/**
 * Lifecycle events of the workers, for metrics and logs. Keys are `noun:verb`. `account` is the target
 * account of the key or queue (undefined: the caller's own).
 */
export interface WorkerEventMap {
  /** A phase run ended: `success`, `retry`, `throttle`, `refresh`, `fail`, or `skip` (stale job). */
  "phase:ended": {
    phase: string;
    region: string;
    account?: string | undefined;
    outcome: string;
    durationMs: number;
  };
  /** A key reached a final status. */
  "key:finished": {
    status: "migrated" | "failed";
    keySpec: string;
    region: string;
    account?: string | undefined;
  };
  /** A key went back to params for a new import token. */
  "token:refreshed": { reason: string; region: string; account?: string | undefined };
  "kms:request": KmsRequestEvent;
  /** A Region's key quota was found full (key creation held there), or a key was created there again. */
  "kms:resource-quota": ResourceQuotaEvent;
  /** KMS did not show a change this campaign made yet (NotFound, stale state): the key waits for it. */
  "kms:not-visible": { operation: string; region: string; account?: string | undefined };
  /** This process started serving a Region's queues, of one account (its series start at zero). */
  "region:served": { region: string; account?: string | undefined; phases: readonly string[] };
}

/**
 * A typed event emitter whose listeners cannot break the work: a listener that throws is logged and
 * ignored (observers never break the work).
 */
export class WorkerEvents {
  private readonly emitter = new EventEmitter();

  constructor(private readonly logger?: Logger) {}

  on<K extends keyof WorkerEventMap>(event: K, listener: (payload: WorkerEventMap[K]) => void): void {
    this.emitter.on(event, listener);
  }

  emit<K extends keyof WorkerEventMap>(event: K, payload: WorkerEventMap[K]): void {
    for (const listener of this.emitter.listeners(event)) {
      try {
        (listener as (payload: WorkerEventMap[K]) => void)(payload);
      } catch (error) {
        this.logger?.warn({ event, err: String(error) }, "an event listener threw; ignored");
      }
    }
  }
}
