import pkcs11js from "pkcs11js";
import type { HsmConfig } from "../config.js";
import { fatal } from "../errors.js";
import type { KeySpec } from "../key-specs.js";
import { type Logger, silentLogger } from "../logger.js";
import { readBool } from "./attributes.js";
import { probeCapabilities } from "./capabilities.js";
import { describeForInventory, describeSourceKey } from "./describe.js";
import { findKeyObjects, findSourceKey, type SourceKeyObject } from "./find.js";
import { hsmHmac, hsmSharedSecret } from "./key-checks.js";
import { acquireLibrary, type Handle } from "./pkcs11-library.js";
import { SessionPool } from "./session-pool.js";
import { findToken } from "./token.js";
import type { HsmPort, SourceKeyDescription, SourceKeyRef, WrapCapabilities, WrapRequest } from "./types.js";
import { wrapKeyForImport } from "./wrap.js";

export interface Pkcs11HsmOptions {
  /** Sessions in the pool: how many HSM operations run at once. @defaultValue 4 */
  sessions?: number;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /** Waits before each reconnect attempt after a dropped session. @defaultValue [50, 200, 500] */
  reconnectBackoffMs?: readonly number[];
}

/**
 * Opens the HsmPort over PKCS#11: loads and initialises the library (shared per process), finds the token,
 * logs in once and keeps a pool of RW sessions. Fails fast (fatal) on a missing library, token or wrong PIN.
 */
export async function openPkcs11Hsm(config: HsmConfig, options: Pkcs11HsmOptions = {}): Promise<HsmPort> {
  const logger = options.logger ?? silentLogger();
  const lease = acquireLibrary(config.library);
  try {
    const token = findToken(lease.pkcs11, { tokenLabel: config.tokenLabel, slot: config.slot });
    const pool = new SessionPool(lease, token.slot, config.pin, {
      size: options.sessions ?? 4,
      logger,
      ...(options.reconnectBackoffMs ? { reconnectBackoffMs: options.reconnectBackoffMs } : {}),
    });
    pool.start();
    logger.debug(
      { token: token.label, manufacturer: token.manufacturer, model: token.model },
      "HSM token opened",
    );
    return new Pkcs11Hsm(lease, pool, token, logger);
  } catch (error) {
    lease.release();
    throw error;
  }
}

class Pkcs11Hsm implements HsmPort {
  readonly #lease: ReturnType<typeof acquireLibrary>;
  readonly #pool: SessionPool;
  readonly #token: ReturnType<typeof findToken>;
  readonly #logger: Logger;
  #capabilities: Promise<WrapCapabilities> | undefined;
  #closed = false;

  constructor(
    lease: ReturnType<typeof acquireLibrary>,
    pool: SessionPool,
    token: ReturnType<typeof findToken>,
    logger: Logger,
  ) {
    this.#lease = lease;
    this.#pool = pool;
    this.#token = token;
    this.#logger = logger;
  }

  get #pkcs11() {
    return this.#lease.pkcs11;
  }

  async listKeys(): Promise<SourceKeyDescription[]> {
    return this.#pool.run("listKeys", (session) =>
      findKeyObjects(this.#pkcs11, session).map((key) =>
        describeForInventory({ pkcs11: this.#pkcs11, session }, key),
      ),
    );
  }

  async describeKey(ref: SourceKeyRef): Promise<SourceKeyDescription> {
    return this.#pool.run("describeKey", (session) =>
      describeSourceKey({ pkcs11: this.#pkcs11, session }, this.#find(session, ref), {
        requirePublicKey: true,
      }),
    );
  }

  capabilities(): Promise<WrapCapabilities> {
    this.#capabilities ??= this.#pool
      .run("capabilities", (session) =>
        probeCapabilities(
          { pkcs11: this.#pkcs11, session, logger: this.#logger },
          this.#token.slot,
          this.#token,
        ),
      )
      .catch((error: unknown) => {
        this.#capabilities = undefined;
        throw error;
      });
    return this.#capabilities;
  }

  async wrapKey(ref: SourceKeyRef, request: WrapRequest): Promise<Buffer> {
    return this.#pool.run("wrapKey", async (session) => {
      const key = this.#find(session, ref);
      if (request.expectedFingerprint !== undefined) {
        const { fingerprint } = describeSourceKey({ pkcs11: this.#pkcs11, session }, key, {
          requirePublicKey: true,
        });
        if (fingerprint !== request.expectedFingerprint)
          throw fatal(
            "SOURCE_KEY_CHANGED",
            `key "${key.label}": the HSM key changed since preflight (fingerprint ${fingerprint}, was ${request.expectedFingerprint}); re-enqueue it`,
          );
      }
      const extractable = readBool(this.#pkcs11, session, key.handle, pkcs11js.CKA_EXTRACTABLE) ?? false;
      const ciphertext = await wrapKeyForImport(
        { pkcs11: this.#pkcs11, session, logger: this.#logger },
        { handle: key.handle, subject: `key "${key.label}"`, extractable },
        request,
      );
      this.#logger.debug(
        { key: key.label, wrappingAlgorithm: request.plan.wrappingAlgorithm },
        "key wrapped in the HSM",
      );
      return ciphertext;
    });
  }

  async hmac(ref: SourceKeyRef, message: Buffer, keySpec?: KeySpec): Promise<Buffer> {
    return this.#pool.run("hmac", (session) => {
      const key = this.#find(session, ref);
      const spec =
        keySpec ??
        describeSourceKey({ pkcs11: this.#pkcs11, session }, key, { requirePublicKey: false }).keySpec;
      if (key.objectClass !== "secret" || !spec)
        throw fatal("KEY_USAGE_INVALID", `key "${key.label}": HMAC needs an HMAC secret key KMS can import`);
      return hsmHmac(
        { pkcs11: this.#pkcs11, session, logger: this.#logger },
        { handle: key.handle, subject: `key "${key.label}"` },
        spec,
        message,
      );
    });
  }

  async deriveSharedSecret(ref: SourceKeyRef, peerPublicKeyDer: Buffer): Promise<Buffer> {
    return this.#pool.run("deriveSharedSecret", (session) => {
      const key = this.#find(session, ref);
      if (key.objectClass !== "private")
        throw fatal("KEY_USAGE_INVALID", `key "${key.label}": ECDH needs an EC private key`);
      return hsmSharedSecret(
        { pkcs11: this.#pkcs11, session, logger: this.#logger },
        { handle: key.handle, subject: `key "${key.label}"` },
        peerPublicKeyDer,
      );
    });
  }

  sessionStats(): { open: number; inUse: number } {
    return this.#pool.stats();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#pool.close();
    } finally {
      this.#lease.release();
    }
  }

  #find(session: Handle, ref: SourceKeyRef): SourceKeyObject {
    return findSourceKey(this.#pkcs11, session, ref, this.#token.label);
  }
}
