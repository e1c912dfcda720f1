import pkcs11js from "pkcs11js";
import type { HsmConfig } from "../config.js";
import { fatal, retryable } from "../errors.js";
import type { KeySpec } from "../key-specs.js";
import { type Logger, silentLogger } from "../logger.js";
import { readBool } from "./attributes.js";
import { probeCapabilities } from "./capabilities.js";
import { describeForInventory, describeSourceKey } from "./describe.js";
import { checkSourceKeyRef, describeRef, type SourceKeyObject } from "./find.js";
import { hsmHmac, hsmSharedSecret } from "./key-checks.js";
import {
  type IndexedReader,
  IndexMiss,
  indexedPublicKeys,
  isStaleHandle,
  resolveSourceKey,
} from "./key-lookup.js";
import { acquireLibrary, type Handle } from "./pkcs11-library.js";
import { SessionPool } from "./session-pool.js";
import { findToken } from "./token.js";
import { listTokenKeys, TokenIndex } from "./token-index.js";
import type { HsmPort, SourceKeyDescription, SourceKeyRef, WrapCapabilities, WrapRequest } from "./types.js";
import { wrapKeyForImport } from "./wrap.js";

export interface Pkcs11HsmOptions {
  /** Sessions in the pool: how many HSM operations run at once. @defaultValue 4 */
  sessions?: number;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /** Waits before each reconnect attempt after a dropped session. @defaultValue [50, 200, 500] */
  reconnectBackoffMs?: readonly number[];
  /**
   * Least time between two listings of the token by its index (a key missing from the index, or a stale
   * handle, lists it again, at most this often). @defaultValue ten times the last listing's duration, from
   * 100 ms to 30 s
   */
  indexRefreshIntervalMs?: number;
}

/** A session's view of the token through the index, public key lookups included (see describe.ts). */
type KeyReader = IndexedReader & { publicKeys(key: SourceKeyObject, keyType: number): Handle[] };

/** Listings a single call may wait for before it gives up on a token whose keys keep changing under it. */
const MAX_LISTINGS_PER_CALL = 3;

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
    return new Pkcs11Hsm(lease, pool, token, logger, options.indexRefreshIntervalMs);
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
  readonly #index: TokenIndex;
  #capabilities: Promise<WrapCapabilities> | undefined;
  #closed = false;

  constructor(
    lease: ReturnType<typeof acquireLibrary>,
    pool: SessionPool,
    token: ReturnType<typeof findToken>,
    logger: Logger,
    indexRefreshIntervalMs: number | undefined,
  ) {
    this.#lease = lease;
    this.#pool = pool;
    this.#token = token;
    this.#logger = logger;
    this.#index = new TokenIndex({
      list: () =>
        pool.run("listTokenKeys", async (session) => ({
          logins: pool.logins(),
          listing: await listTokenKeys(lease.pkcs11, session),
        })),
      logins: () => pool.logins(),
      ...(indexRefreshIntervalMs === undefined ? {} : { minRefreshIntervalMs: indexRefreshIntervalMs }),
      onListed: (snapshot, ms) =>
        logger.debug(
          { keys: snapshot.keys.length, publicKeys: snapshot.publicKeys.length, ms: Math.round(ms) },
          "HSM token indexed",
        ),
    });
  }

  get #pkcs11() {
    return this.#lease.pkcs11;
  }

  async listKeys(): Promise<SourceKeyDescription[]> {
    for (let listing = 1; ; listing += 1) {
      // Inventory is the token as it is now: a listing begun after the call, which the index then keeps.
      const snapshot = await this.#index.listedSince(this.#index.now());
      try {
        return await this.#pool.run("listKeys", (session) => {
          const reader = this.#reader({ pkcs11: this.#pkcs11, session, snapshot, fresh: true });
          return snapshot.keys.map((key) => describeForInventory(reader, key));
        });
      } catch (error) {
        if (!isStaleHandle(error) || listing >= MAX_LISTINGS_PER_CALL) throw error;
        this.#index.invalidate();
      }
    }
  }

  async describeKey(ref: SourceKeyRef): Promise<SourceKeyDescription> {
    return this.#withKey("describeKey", ref, (reader, key) =>
      describeSourceKey(reader, key, { requirePublicKey: true }),
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
    return this.#withKey("wrapKey", ref, async (reader, key) => {
      const { session } = reader;
      if (request.expectedFingerprint !== undefined) {
        const { fingerprint } = describeSourceKey(reader, key, { requirePublicKey: true });
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
    return this.#withKey("hmac", ref, (reader, key) => {
      const { session } = reader;
      const spec = keySpec ?? describeSourceKey(reader, key, { requirePublicKey: false }).keySpec;
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
    return this.#withKey("deriveSharedSecret", ref, (reader, key) => {
      const { session } = reader;
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

  /** A reader whose public key lookups go through the index. */
  #reader(indexed: IndexedReader): KeyReader {
    return {
      ...indexed,
      publicKeys: (key: SourceKeyObject, keyType: number) => indexedPublicKeys(indexed, key, keyType),
    };
  }

  /**
   * Runs `body` in a pooled session with the key the reference names, resolved through the token index and
   * confirmed on its handle: no search of the token unless the index lacks the key (listed again if the
   * listing predates this call) or a handle turns out stale (listed again, and the body runs again: nothing
   * it did with a stale handle reached the key, since PKCS#11 refused the handle).
   */
  async #withKey<T>(
    operation: string,
    ref: SourceKeyRef,
    body: (reader: KeyReader, key: SourceKeyObject) => T | Promise<T>,
  ): Promise<T> {
    checkSourceKeyRef(ref);
    const requestedAt = this.#index.now();
    let snapshot = await this.#index.snapshot();
    for (let listing = 1; ; listing += 1) {
      const fresh = snapshot.startedAt >= requestedAt;
      try {
        return await this.#pool.run(operation, (session) => {
          const reader = this.#reader({ pkcs11: this.#pkcs11, session, snapshot, fresh });
          return body(reader, resolveSourceKey(reader, ref, this.#token.label));
        });
      } catch (error) {
        const stale = isStaleHandle(error);
        if (!stale && !(error instanceof IndexMiss)) throw error;
        if (listing >= MAX_LISTINGS_PER_CALL)
          throw retryable(
            "HSM_TOKEN_CHANGING",
            `${describeRef(ref)}: the token's keys changed under ${listing} listings in a row; trying again later`,
          );
        if (stale) this.#index.invalidate();
        snapshot = await this.#index.listedSince(stale ? this.#index.now() : requestedAt);
      }
    }
  }
}
