import { createPublicKey } from "node:crypto";
import { performance } from "node:perf_hooks";
import pkcs11js from "pkcs11js";
import type { HsmConfig } from "../shared/config.js";
import { newKeyPair } from "../shared/crypto/key-pairs.js";
import { fatal } from "../shared/errors.js";
import { probeCapabilities } from "../shared/hsm/capabilities.js";
import { acquireLibrary, type Handle } from "../shared/hsm/pkcs11-library.js";
import { SessionPool } from "../shared/hsm/session-pool.js";
import { findToken } from "../shared/hsm/token.js";
import { destroyAll, wrapKeyForImport } from "../shared/hsm/wrap.js";
import { chooseWrapPlan } from "../shared/hsm/wrap-plan.js";
import { CURVES, type WrappingKeySpec } from "../shared/key-specs.js";
import type { Logger } from "../shared/logger.js";

export interface WrapRateMeasurement {
  /** Wraps per second this host sustained with `sessions` sessions at once. */
  wrapsPerSecond: number;
  /** Timed wraps (after one warm-up wrap per session). */
  wraps: number;
  seconds: number;
  sessions: number;
  /** The wrapping algorithm the temporary key was wrapped with (what an EC private key of this token gets). */
  wrappingAlgorithm: string;
}

export interface MeasureOptions {
  /** Sessions used at once, as a worker would (`HSM2KMS_HSM_CONCURRENCY`). */
  sessions: number;
  /** The KMS wrapping key size the campaign asks for (`HSM2KMS_WRAPPING_KEY_SPEC`). */
  wrappingKeySpec: WrappingKeySpec;
  /** Timed wraps. @defaultValue 3 per session, at least 8 */
  wraps?: number;
  logger: Logger;
}

const WRAPPING_KEY_BITS: Record<WrappingKeySpec, number> = { RSA_2048: 2048, RSA_3072: 3072, RSA_4096: 4096 };

/**
 * Times real wraps on the token as the wrap phase does them: a temporary EC P-256 key pair is generated in
 * the HSM as session objects (never stored on the token, extractable only by wrapping), and wrapped again
 * and again under a throwaway RSA wrapping key of the campaign's size (made here, as KMS would make one) by
 * the wrap phase's own function, on `sessions` sessions at once. The temporary key is destroyed at the end,
 * also on failure (and the session's end would destroy it anyway). Finding a migrated key costs little next
 * to a wrap (the token index: BENCHMARKS.md, hsm-search), so it is left out. Nothing leaves the HSM but
 * ciphertext under a key this process throws away.
 */
export async function measureWrapRate(hsm: HsmConfig, options: MeasureOptions): Promise<WrapRateMeasurement> {
  const { logger, sessions } = options;
  const lease = acquireLibrary(hsm.library);
  const temporary: Handle[] = [];
  let pool: SessionPool | undefined;
  try {
    const token = findToken(lease.pkcs11, { tokenLabel: hsm.tokenLabel, slot: hsm.slot });
    pool = new SessionPool(lease, token.slot, hsm.pin, { size: sessions, logger });
    pool.start();
    const { pkcs11 } = lease;
    const capabilities = await pool.run("capabilities", (session) =>
      probeCapabilities({ pkcs11, session, logger }, token.slot, token),
    );
    const plan = chooseWrapPlan("ECC_NIST_P256", capabilities, options.wrappingKeySpec);
    if ("unsupported" in plan) throw fatal("HSM_MECHANISM_UNAVAILABLE", plan.unsupported);
    const wrapping = await newKeyPair({
      type: "rsa",
      modulusLength: WRAPPING_KEY_BITS[options.wrappingKeySpec],
    });
    const wrappingPublicKeyDer = createPublicKey(wrapping.privateKey).export({ format: "der", type: "spki" });
    const pair = await pool.run("C_GenerateKeyPair (temporary key for --measure-hsm)", (session) =>
      pkcs11.C_GenerateKeyPairAsync(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          { type: pkcs11js.CKA_TOKEN, value: false },
          { type: pkcs11js.CKA_LABEL, value: "hsm2kms-plan-measure" },
          { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(CURVES.P256.oidDerHex, "hex") },
          { type: pkcs11js.CKA_VERIFY, value: true },
        ],
        [
          { type: pkcs11js.CKA_TOKEN, value: false },
          { type: pkcs11js.CKA_LABEL, value: "hsm2kms-plan-measure" },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: true },
          { type: pkcs11js.CKA_SIGN, value: true },
        ],
      ),
    );
    temporary.push(pair.publicKey, pair.privateKey);
    const source = {
      handle: pair.privateKey,
      subject: "the temporary key of --measure-hsm",
      extractable: true,
    };
    const wrapOnce = () =>
      pool!.run("wrapKey (--measure-hsm)", (session) =>
        wrapKeyForImport({ pkcs11, session, logger }, source, { wrappingPublicKeyDer, plan }),
      );
    // One wrap per session first: opening and logging in a session is not a wrap's cost.
    await Promise.all(Array.from({ length: sessions }, wrapOnce));
    const wraps = options.wraps ?? Math.max(8, 3 * sessions);
    const started = performance.now();
    await Promise.all(Array.from({ length: wraps }, wrapOnce));
    const seconds = (performance.now() - started) / 1000;
    return {
      wrapsPerSecond: wraps / seconds,
      wraps,
      seconds,
      sessions,
      wrappingAlgorithm: plan.wrappingAlgorithm,
    };
  } finally {
    if (pool) {
      if (temporary.length > 0)
        await pool
          .run("C_DestroyObject (temporary key of --measure-hsm)", (session) =>
            destroyAll(lease.pkcs11, session, temporary, logger),
          )
          .catch((error: unknown) =>
            logger.warn({ error: (error as Error).message }, "could not destroy the temporary key"),
          );
      await pool.close();
    }
    lease.release();
  }
}
