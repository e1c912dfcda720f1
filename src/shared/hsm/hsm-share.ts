import type { KeySpec } from "../key-specs.js";
import type { HsmPort, SourceKeyRef, WrapRequest } from "./types.js";

/**
 * The HSM's concurrent calls (its pool's sessions) shared between lanes, the HSM phases of one process:
 * preflight and wrap each have their own BullMQ worker whose concurrency alone could fill every session, so
 * a deep preflight queue would keep the wraps (and with them ImportKeyMaterial) waiting, or the reverse.
 *
 * The policy: a lane alone uses every slot; when slots are short, a freed slot goes to the waiting lane that
 * holds the fewest (ties: the lane served longest ago, so lanes take turns on a single slot), so lanes that
 * both have work converge to equal shares and a lane that starts waiting gets the very next slot freed.
 * Calls within a lane keep their order.
 */
export class HsmSlots<Lane extends string = string> {
  readonly #slots: number;
  readonly #inUse = new Map<Lane, number>();
  readonly #waiting = new Map<Lane, Array<() => void>>();
  /** When each lane was last granted a slot (a grant count). */
  readonly #lastGrant = new Map<Lane, number>();
  #free: number;
  #grants = 0;

  /** @param slots calls the HSM runs at once: the session pool's size. */
  constructor(slots: number) {
    if (!Number.isInteger(slots) || slots < 1)
      throw new RangeError(`HSM slots must be a whole number ≥ 1 (${slots})`);
    this.#slots = slots;
    this.#free = slots;
  }

  /** Waits for a slot for `lane`; the returned function gives it back (call it exactly once). */
  async acquire(lane: Lane): Promise<() => void> {
    if (this.#free > 0 && this.#waiters() === 0) this.#take(lane);
    else {
      const queue = this.#waiting.get(lane) ?? [];
      this.#waiting.set(lane, queue);
      await new Promise<void>((grant) => queue.push(grant));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inUse.set(lane, (this.#inUse.get(lane) ?? 1) - 1);
      this.#free += 1;
      this.#dispatch();
    };
  }

  /** Slots held and calls waiting, per lane. */
  stats(): { slots: number; inUse: Partial<Record<Lane, number>>; waiting: Partial<Record<Lane, number>> } {
    const waiting: Partial<Record<Lane, number>> = {};
    for (const [lane, queue] of this.#waiting) if (queue.length > 0) waiting[lane] = queue.length;
    return {
      slots: this.#slots,
      inUse: Object.fromEntries(this.#inUse) as Partial<Record<Lane, number>>,
      waiting,
    };
  }

  #waiters(): number {
    let count = 0;
    for (const queue of this.#waiting.values()) count += queue.length;
    return count;
  }

  #take(lane: Lane): void {
    this.#free -= 1;
    this.#inUse.set(lane, (this.#inUse.get(lane) ?? 0) + 1);
    this.#lastGrant.set(lane, this.#grants++);
  }

  /** Whether `lane` comes before `other` for the next free slot: fewer held, else served longer ago. */
  #before(lane: Lane, other: Lane): boolean {
    const held = this.#inUse.get(lane) ?? 0;
    const otherHeld = this.#inUse.get(other) ?? 0;
    if (held !== otherHeld) return held < otherHeld;
    return (this.#lastGrant.get(lane) ?? -1) < (this.#lastGrant.get(other) ?? -1);
  }

  #dispatch(): void {
    while (this.#free > 0) {
      let chosen: Lane | undefined;
      for (const [lane, queue] of this.#waiting) {
        if (queue.length === 0) continue;
        if (chosen === undefined || this.#before(lane, chosen)) chosen = lane;
      }
      if (chosen === undefined) return;
      const next = this.#waiting.get(chosen)?.shift();
      this.#take(chosen);
      next?.();
    }
  }
}

/**
 * The view of a shared HsmPort one lane uses: every call that reaches the HSM holds one of `slots`' slots for
 * its duration. Closing the view does not close the port: its owner does.
 */
export function hsmLane<Lane extends string>(inner: HsmPort, slots: HsmSlots<Lane>, lane: Lane): HsmPort {
  const held = async <T>(call: () => Promise<T>): Promise<T> => {
    const release = await slots.acquire(lane);
    try {
      return await call();
    } finally {
      release();
    }
  };
  return {
    listKeys: () => held(() => inner.listKeys()),
    describeKey: (ref: SourceKeyRef) => held(() => inner.describeKey(ref)),
    capabilities: () => held(() => inner.capabilities()),
    wrapKey: (ref: SourceKeyRef, request: WrapRequest) => held(() => inner.wrapKey(ref, request)),
    hmac: (ref: SourceKeyRef, message: Buffer, keySpec?: KeySpec) =>
      held(() => inner.hmac(ref, message, keySpec)),
    deriveSharedSecret: (ref: SourceKeyRef, peer: Buffer) => held(() => inner.deriveSharedSecret(ref, peer)),
    sessionStats: () => inner.sessionStats(),
    close: async () => {},
  };
}
