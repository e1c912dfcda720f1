import { describe, expect, it } from "vitest";
import type { LibraryLease, Pkcs11 } from "../../src/shared/hsm/pkcs11-library.js";
import { SessionPool } from "../../src/shared/hsm/session-pool.js";
import { silentLogger } from "../../src/shared/logger.js";
import { Secret } from "../../src/shared/secret.js";

class Pkcs11Error extends Error {}
const ckr = (name: string) => new Pkcs11Error(name);

/** A token that hands out numbered sessions and remembers which are open and whether the user is logged in. */
function fakeToken(options: { pin?: string } = {}) {
  const open = new Set<number>();
  let next = 1;
  let loggedIn = false;
  const calls: string[] = [];
  const handle = (session: Buffer) => session.readUInt32LE(0);
  const pkcs11 = {
    C_OpenSession: () => {
      const id = next++;
      open.add(id);
      const session = Buffer.alloc(8);
      session.writeUInt32LE(id);
      return session;
    },
    C_CloseSession: (session: Buffer) => {
      if (!open.delete(handle(session))) throw ckr("CKR_SESSION_HANDLE_INVALID");
      if (open.size === 0) loggedIn = false;
    },
    C_Login: (_session: Buffer, _user: number, pin: string) => {
      calls.push("login");
      if (pin !== (options.pin ?? "1234")) throw ckr("CKR_PIN_INCORRECT");
      if (loggedIn) throw ckr("CKR_USER_ALREADY_LOGGED_IN");
      loggedIn = true;
    },
    C_Logout: () => {
      calls.push("logout");
      loggedIn = false;
    },
    C_GetSessionInfo: (session: Buffer) => {
      if (!open.has(handle(session))) throw ckr("CKR_SESSION_HANDLE_INVALID");
      return { state: loggedIn ? 3 : 2 };
    },
  };
  const lease: LibraryLease = { pkcs11: pkcs11 as unknown as Pkcs11, holders: () => 1, release: () => {} };
  return {
    lease,
    open,
    calls,
    closeAll: () => {
      open.clear();
      loggedIn = false;
    },
    logout: () => {
      loggedIn = false;
    },
    handle,
  };
}

const newPool = (token: ReturnType<typeof fakeToken>, size = 2) =>
  new SessionPool(token.lease, Buffer.alloc(8), new Secret("1234"), {
    size,
    logger: silentLogger(),
    reconnectBackoffMs: [1, 1, 1],
  });

describe("SessionPool", () => {
  it("lends at most `size` sessions at once and reports open/in use", async () => {
    const token = fakeToken();
    const pool = newPool(token, 2);
    pool.start();
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    const work = () =>
      pool.run("op", async (session) => {
        running += 1;
        peak = Math.max(peak, running);
        seen.push(pool.stats().inUse);
        await new Promise((done) => setTimeout(done, 5));
        running -= 1;
        return token.handle(session);
      });
    const results = await Promise.all(Array.from({ length: 10 }, work));
    expect(peak).toBe(2);
    expect(new Set(results).size).toBe(2);
    expect(Math.max(...seen)).toBe(2);
    expect(pool.stats()).toEqual({ open: 2, inUse: 0 });
    await pool.close();
    expect(token.open.size).toBe(0);
    expect(token.calls.at(-1)).toBe("logout");
  });

  it("reopens and logs in again after the token closed all sessions", async () => {
    const token = fakeToken();
    const pool = newPool(token);
    pool.start();
    token.closeAll();
    const result = await pool.run("describeKey", (session) => {
      if (!token.open.has(token.handle(session))) throw ckr("CKR_SESSION_HANDLE_INVALID");
      return "ok";
    });
    expect(result).toBe("ok");
    expect(token.calls.filter((call) => call === "login").length).toBe(2);
    expect(pool.stats()).toEqual({ open: 1, inUse: 0 });
    // The token index lists the token again when this count moves: the old handles may all be gone.
    expect(pool.logins()).toBe(2);
    await pool.close();
  });

  it("logs in again on a session that lost its login, so private keys do not look missing", async () => {
    const token = fakeToken();
    const pool = newPool(token);
    pool.start();
    token.logout();
    expect(pool.logins()).toBe(1);
    await pool.run("op", () => undefined);
    expect(token.calls).toEqual(["login", "login"]);
    expect(pool.logins()).toBe(2);
    await pool.close();
  });

  it("gives up after the bounded retries with a retryable HSM_UNAVAILABLE", async () => {
    const token = fakeToken();
    const pool = newPool(token);
    pool.start();
    let attempts = 0;
    const failing = pool.run("wrapKey", () => {
      attempts += 1;
      throw ckr("CKR_DEVICE_ERROR");
    });
    await expect(failing).rejects.toMatchObject({ kind: "retryable", code: "HSM_UNAVAILABLE" });
    await expect(failing).rejects.toThrow(/4 attempts \(last: CKR_DEVICE_ERROR\)/);
    expect(attempts).toBe(4);
    expect(pool.stats()).toEqual({ open: 0, inUse: 0 });
    await pool.close();
  });

  it("passes other errors through at once and keeps the session", async () => {
    const token = fakeToken();
    const pool = newPool(token);
    pool.start();
    let attempts = 0;
    await expect(
      pool.run("wrapKey", () => {
        attempts += 1;
        throw ckr("CKR_KEY_UNEXTRACTABLE");
      }),
    ).rejects.toThrow("CKR_KEY_UNEXTRACTABLE");
    expect(attempts).toBe(1);
    expect(pool.stats()).toEqual({ open: 1, inUse: 0 });
    await pool.close();
  });

  it("fails fast and fatally on a wrong PIN, without leaving a session open", () => {
    const token = fakeToken({ pin: "other" });
    const pool = newPool(token);
    expect(() => pool.start()).toThrow(expect.objectContaining({ kind: "fatal", code: "HSM_LOGIN_FAILED" }));
    expect(token.open.size).toBe(0);
  });

  it("close waits for borrowed sessions and refuses new work", async () => {
    const token = fakeToken();
    const pool = newPool(token);
    pool.start();
    let finished = false;
    const slow = pool.run("op", async () => {
      await new Promise((done) => setTimeout(done, 20));
      finished = true;
    });
    await new Promise((done) => setTimeout(done, 1));
    await pool.close();
    expect(finished).toBe(true);
    expect(token.open.size).toBe(0);
    await slow;
    await expect(pool.run("op", () => 1)).rejects.toMatchObject({ code: "HSM_CLOSED" });
  });
});
