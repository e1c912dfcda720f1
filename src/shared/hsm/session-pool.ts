import { setTimeout as sleep } from "node:timers/promises";
import pkcs11js from "pkcs11js";
import { fatal, retryable } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Secret } from "../secret.js";
import { CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS, RECONNECT_ERRORS } from "./pkcs11-constants.js";
import { ckrName, isCkr, pkcs11Failure } from "./pkcs11-errors.js";
import type { Handle, LibraryLease } from "./pkcs11-library.js";

export interface SessionPoolOptions {
  /** Sessions at most (one per concurrent operation). @defaultValue 4 */
  size?: number;
  /** Waits before each reconnect attempt; their count bounds the attempts. @defaultValue [50, 200, 500] */
  reconnectBackoffMs?: readonly number[];
  logger: Logger;
}

/**
 * A fixed-size pool of logged-in RW sessions on one token. An operation borrows one session for its whole
 * duration (a PKCS#11 session runs one operation at a time). A session the token dropped (closed, logged
 * out, device error) is discarded and replaced, and the operation runs again, a bounded number of times.
 */
export class SessionPool {
  readonly #lease: LibraryLease;
  readonly #slot: Handle;
  readonly #pin: Secret;
  readonly #size: number;
  readonly #backoffMs: readonly number[];
  readonly #logger: Logger;
  readonly #idle: Handle[] = [];
  readonly #waiters: Array<() => void> = [];
  readonly #drained: Array<() => void> = [];
  #open = 0;
  #inUse = 0;
  #closed = false;
  #logins = 0;

  constructor(lease: LibraryLease, slot: Handle, pin: Secret, options: SessionPoolOptions) {
    this.#lease = lease;
    this.#slot = slot;
    this.#pin = pin;
    this.#size = options.size ?? 4;
    this.#backoffMs = options.reconnectBackoffMs ?? [50, 200, 500];
    this.#logger = options.logger;
  }

  /** Opens the first session and logs in, so a wrong PIN fails at start-up rather than at the first key. */
  start(): void {
    this.#idle.push(this.#openSession());
  }

  /** Runs `operation` with a borrowed, logged-in session; reconnects and retries on a dropped session. */
  async run<T>(operationName: string, operation: (session: Handle) => Promise<T> | T): Promise<T> {
    let lastFailure = "";
    for (let attempt = 0; attempt <= this.#backoffMs.length; attempt += 1) {
      if (attempt > 0) await sleep(this.#backoffMs[attempt - 1]);
      let session: Handle | undefined;
      try {
        session = await this.#borrow();
        this.#ensureLoggedIn(session);
        const result = await operation(session);
        this.#release(session, true);
        return result;
      } catch (error) {
        const name = ckrName(error);
        const reconnect = name !== undefined && RECONNECT_ERRORS.has(name);
        if (session) this.#release(session, !reconnect);
        if (!reconnect) throw error;
        lastFailure = name;
        this.#logger.warn(
          { operation: operationName, error: name, attempt: attempt + 1 },
          "HSM session lost; reconnecting",
        );
      }
    }
    throw retryable(
      "HSM_UNAVAILABLE",
      `the HSM did not answer ${operationName} after ${this.#backoffMs.length + 1} attempts (last: ${lastFailure})`,
    );
  }

  /**
   * How many times this pool has logged the user in. Object handles may change after a new login (SoftHSM2
   * drops every handle of the slot when the process's last session closes): whoever keeps handles across
   * calls (the token index) compares this count to know when they may have become invalid.
   */
  logins(): number {
    return this.#logins;
  }

  /** Sessions open and borrowed right now. */
  stats(): { open: number; inUse: number } {
    return { open: this.#open, inUse: this.#inUse };
  }

  /**
   * Stops lending sessions, waits for the borrowed ones to come back (finalizing the library under a running
   * call would crash the process), logs out unless another adapter in this process shares the login, and
   * closes every session.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of this.#waiters.splice(0)) wake();
    while (this.#inUse > 0) await new Promise<void>((done) => this.#drained.push(done));
    const session = this.#idle[0];
    // Login state belongs to the whole process: logging out under another adapter would hide its keys.
    if (session && this.#lease.holders() === 1) {
      try {
        this.#lease.pkcs11.C_Logout(session);
      } catch {
        // Already logged out, or the session is gone: closing is all that is left to do.
      }
    }
    for (const idle of this.#idle.splice(0)) this.#closeSession(idle);
  }

  async #borrow(): Promise<Handle> {
    for (;;) {
      if (this.#closed) throw fatal("HSM_CLOSED", "the HSM adapter is closed");
      const session = this.#idle.pop() ?? (this.#open < this.#size ? this.#openSession() : undefined);
      if (session) {
        this.#inUse += 1;
        return session;
      }
      await new Promise<void>((wake) => this.#waiters.push(wake));
    }
  }

  /** Returns a session to the pool, or closes it when the token dropped it; wakes one waiting caller. */
  #release(session: Handle, keep: boolean): void {
    this.#inUse -= 1;
    if (keep && !this.#closed) this.#idle.push(session);
    else this.#closeSession(session);
    this.#waiters.shift()?.();
    if (this.#inUse === 0) for (const done of this.#drained.splice(0)) done();
  }

  #closeSession(session: Handle): void {
    this.#open -= 1;
    try {
      this.#lease.pkcs11.C_CloseSession(session);
    } catch {
      // The token already dropped it; that is why it is closed.
    }
  }

  #openSession(): Handle {
    const { pkcs11 } = this.#lease;
    const session = pkcs11.C_OpenSession(this.#slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
    this.#open += 1;
    try {
      this.#login(session);
    } catch (error) {
      this.#open -= 1;
      pkcs11.C_CloseSession(session);
      throw error;
    }
    return session;
  }

  #ensureLoggedIn(session: Handle): void {
    const { state } = this.#lease.pkcs11.C_GetSessionInfo(session);
    // A session that lost its login sees no private objects: a key would look "not found" instead of failing.
    if (state !== CKS_RW_USER_FUNCTIONS && state !== CKS_RO_USER_FUNCTIONS) this.#login(session);
  }

  #login(session: Handle): void {
    try {
      // CloudHSM's `user:password` form passes through untouched.
      this.#lease.pkcs11.C_Login(session, pkcs11js.CKU_USER, this.#pin.reveal());
      this.#logins += 1;
    } catch (error) {
      if (isCkr(error, "CKR_USER_ALREADY_LOGGED_IN")) return;
      if (RECONNECT_ERRORS.has(ckrName(error) ?? "")) throw error;
      throw pkcs11Failure(error, "C_Login", "the HSM token");
    }
  }
}
