import { setTimeout as sleep } from "node:timers/promises";
import { retryable } from "../shared/errors.js";
import type {
  HsmPort,
  SourceKeyDescription,
  SourceKeyRef,
  WrapCapabilities,
  WrapRequest,
} from "../shared/hsm/types.js";
import type { KeySpec } from "../shared/key-specs.js";

/** The HsmPort calls a fault can be injected into. */
export type HsmOperation =
  | "listKeys"
  | "describeKey"
  | "capabilities"
  | "wrapKey"
  | "hmac"
  | "deriveSharedSecret";

/** One call, as the fault plan sees it. */
export interface HsmCall {
  operation: HsmOperation;
  ref?: SourceKeyRef | undefined;
  /** 1-based count of calls of this operation so far (this one included). */
  callNumber: number;
}

/** A fault to inject into one call. */
export type HsmFault =
  /**
   * Every PKCS#11 session of the process is closed (and so logged out) just before the call, through
   * `invalidateSessions`: the real session pool meets CKR_SESSION_HANDLE_INVALID and must reconnect.
   */
  | { kind: "session-invalidated" }
  /** The token does not answer: the call fails as the session pool fails when its reconnects run out. */
  | { kind: "token-unavailable" }
  /** The call is slow: `ms` added before (the HSM is busy) or after it ran (the answer is late). */
  | { kind: "slow"; ms: number; when?: "before" | "after" }
  /** wrapKey/hmac/describeKey of another key than asked: a wrong key of the same spec reaches KMS. */
  | { kind: "substitute-key"; ref: SourceKeyRef };

export interface FaultyHsmOptions {
  /** The plan: which fault(s), if any, to inject into a call. Called once per call. */
  faultFor(call: HsmCall): HsmFault | readonly HsmFault[] | undefined;
  /**
   * Closes every PKCS#11 session this process has on the token (C_CloseAllSessions on the shared library),
   * for `session-invalidated`. Runs while no delegated call is in flight: closing a session under a running
   * C_WrapKey is a different, undefined fault (SoftHSM2 may crash), not the one simulated here.
   */
  invalidateSessions?: () => void | Promise<void>;
  /** Observer of every fault injected. */
  onFault?: (fault: HsmFault, call: HsmCall) => void;
}

/** The wrapped port plus what it injected, by fault kind. */
export interface FaultyHsm extends HsmPort {
  readonly injected: Readonly<Record<string, number>>;
}

/**
 * A fault-injecting HsmPort for tests: wraps the real (PKCS#11) port and, as the plan says, invalidates the
 * real sessions, fails calls as an unavailable token does, slows calls down or answers for another key.
 * Everything else goes to the real port unchanged: the session pool, the token and the wrap are real.
 */
export function faultyHsm(inner: HsmPort, options: FaultyHsmOptions): FaultyHsm {
  const calls: Record<string, number> = {};
  const injected: Record<string, number> = {};
  let inFlight = 0;
  const drained: Array<() => void> = [];
  let invalidating: Promise<void> | undefined;

  const invalidate = async () => {
    // One invalidation at a time, with nothing delegated in flight; calls arriving meanwhile wait for it.
    while (invalidating) await invalidating;
    invalidating = (async () => {
      while (inFlight > 0) await new Promise<void>((done) => drained.push(done));
      await options.invalidateSessions?.();
    })();
    try {
      await invalidating;
    } finally {
      invalidating = undefined;
    }
  };

  async function run<T>(
    operation: HsmOperation,
    ref: SourceKeyRef | undefined,
    delegate: (ref: SourceKeyRef | undefined) => Promise<T>,
  ): Promise<T> {
    calls[operation] = (calls[operation] ?? 0) + 1;
    const call: HsmCall = { operation, ref, callNumber: calls[operation] };
    const planned = options.faultFor(call);
    const faults: readonly HsmFault[] =
      planned === undefined ? [] : Array.isArray(planned) ? planned : [planned];
    let target = ref;
    let lateMs = 0;
    for (const fault of faults) {
      injected[fault.kind] = (injected[fault.kind] ?? 0) + 1;
      options.onFault?.(fault, call);
      switch (fault.kind) {
        case "session-invalidated":
          await invalidate();
          break;
        case "token-unavailable":
          throw retryable(
            "HSM_UNAVAILABLE",
            `the HSM did not answer ${operation} (token not present; injected fault)`,
          );
        case "slow":
          if (fault.when === "after") lateMs += fault.ms;
          else await sleep(fault.ms);
          break;
        case "substitute-key":
          target = fault.ref;
          break;
      }
    }
    while (invalidating) await invalidating;
    inFlight++;
    try {
      return await delegate(target);
    } finally {
      inFlight--;
      if (inFlight === 0) for (const done of drained.splice(0)) done();
      if (lateMs > 0) await sleep(lateMs);
    }
  }

  const must = (ref: SourceKeyRef | undefined): SourceKeyRef => ref ?? {};
  return {
    injected,
    listKeys: (): Promise<SourceKeyDescription[]> => run("listKeys", undefined, () => inner.listKeys()),
    describeKey: (ref) => run("describeKey", ref, (target) => inner.describeKey(must(target))),
    capabilities: (): Promise<WrapCapabilities> => run("capabilities", undefined, () => inner.capabilities()),
    // A substituted key is wrapped without the fingerprint check: the fault is an HSM that wraps another key
    // than the one it was asked for, which only verify can catch.
    wrapKey: (ref, request: WrapRequest) =>
      run("wrapKey", ref, (target) =>
        inner.wrapKey(
          must(target),
          target === ref ? request : { ...request, expectedFingerprint: undefined },
        ),
      ),
    hmac: (ref, message: Buffer, keySpec?: KeySpec) =>
      run("hmac", ref, (target) => inner.hmac(must(target), message, keySpec)),
    deriveSharedSecret: (ref, peer: Buffer) =>
      run("deriveSharedSecret", ref, (target) => inner.deriveSharedSecret(must(target), peer)),
    sessionStats: () => inner.sessionStats(),
    close: () => inner.close(),
  };
}
