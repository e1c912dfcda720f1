import { setTimeout as sleep } from "node:timers/promises";
import type { HsmPort } from "../../src/shared/hsm/types.js";

/**
 * An HSM whose wrapKey takes `wrapDelayMs` longer (a busy or remote HSM); everything else passes through.
 * The delay holds the caller's wrap slot, as a slow HSM would.
 */
export function slowWrapHsm(hsm: HsmPort, wrapDelayMs: number): HsmPort {
  return {
    listKeys: () => hsm.listKeys(),
    describeKey: (ref) => hsm.describeKey(ref),
    capabilities: () => hsm.capabilities(),
    wrapKey: async (ref, request) => {
      await sleep(wrapDelayMs);
      return hsm.wrapKey(ref, request);
    },
    hmac: (ref, message, keySpec) => hsm.hmac(ref, message, keySpec),
    deriveSharedSecret: (ref, peer) => hsm.deriveSharedSecret(ref, peer),
    sessionStats: () => hsm.sessionStats(),
    close: () => hsm.close(),
  };
}
