import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkcs11js from "pkcs11js";
import type { HsmConfig } from "../../src/shared/config.js";
import { findObjects, readLabel } from "../../src/shared/hsm/attributes.js";
import { acquireLibrary, type Handle, type Pkcs11 } from "../../src/shared/hsm/pkcs11-library.js";
import { findToken } from "../../src/shared/hsm/token.js";
import { Secret } from "../../src/shared/secret.js";
import { initSandboxToken, type SampleKeyName } from "../../src/testkit/softhsm.js";

export interface TestToken {
  dir: string;
  /** For child processes: SOFTHSM2_CONF, HSM2KMS_PKCS11_LIB, HSM2KMS_TOKEN_LABEL, HSM2KMS_PKCS11_PIN_FILE. */
  env: Record<string, string>;
  hsmConfig: HsmConfig;
  label: string;
  cleanup(): Promise<void>;
}

/**
 * A fresh SoftHSM2 token in its own temporary directory, with only the sample keys a suite needs (RSA-4096
 * takes over a second). Sets process.env.SOFTHSM2_CONF for in-process use: one token per test file.
 */
export async function createTestToken(options: { keys?: SampleKeyName[] } = {}): Promise<TestToken> {
  const dir = await mkdtemp(join(tmpdir(), "hsm2kms-softhsm-"));
  const label = `test-${dir.slice(-6)}`;
  const token = await initSandboxToken({ dir, label, keys: options.keys ?? [] });
  const pin = readFileSync(token.pinFile, "utf8").trim();
  return {
    dir,
    env: { ...token.env },
    label,
    hsmConfig: { library: token.library, tokenLabel: label, slot: undefined, pin: new Secret(pin) },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface TokenObject {
  label: string;
  objectClass: number;
  /** False for session objects (which only this process can see). */
  token: boolean;
}

/**
 * Every object on the token as this process sees it, session objects included (they are visible to every
 * session of the process, which is how leftovers of a wrap would show). Runs in-process on purpose:
 * pkcs11-tool in another process would not see this process's session objects.
 */
export async function listTokenObjects(env: Record<string, string>): Promise<TokenObject[]> {
  return withTokenSession(env, (pkcs11, session) =>
    findObjects(pkcs11, session, []).map((handle) => {
      const [objectClass, onToken] = pkcs11.C_GetAttributeValue(session, handle, [
        { type: pkcs11js.CKA_CLASS },
        { type: pkcs11js.CKA_TOKEN },
      ]);
      return {
        label: readLabel(pkcs11, session, handle),
        objectClass: objectClass?.value.readUInt32LE(0) ?? -1,
        token: onToken?.value[0] === 1,
      };
    }),
  );
}

/** Runs `work` with a logged-in session on the test token (library shared with any open adapter). */
export async function withTokenSession<T>(
  env: Record<string, string>,
  work: (pkcs11: Pkcs11, session: Handle, slot: Handle) => T | Promise<T>,
): Promise<T> {
  const library = env["HSM2KMS_PKCS11_LIB"] ?? "";
  const lease = acquireLibrary(library);
  const { pkcs11 } = lease;
  const { slot } = findToken(pkcs11, { tokenLabel: env["HSM2KMS_TOKEN_LABEL"] });
  const session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
  try {
    try {
      pkcs11.C_Login(
        session,
        pkcs11js.CKU_USER,
        readFileSync(env["HSM2KMS_PKCS11_PIN_FILE"] ?? "", "utf8").trim(),
      );
    } catch (error) {
      if (!(error as Error).message.includes("CKR_USER_ALREADY_LOGGED_IN")) throw error;
    }
    return await work(pkcs11, session, slot);
  } finally {
    pkcs11.C_CloseSession(session);
    lease.release();
  }
}
