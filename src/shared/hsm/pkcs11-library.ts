import pkcs11js from "pkcs11js";
import { fatal } from "../errors.js";
import { ckrName } from "./pkcs11-errors.js";

export type Pkcs11 = InstanceType<typeof pkcs11js.PKCS11>;
export type Handle = Buffer;

interface LoadedLibrary {
  pkcs11: Pkcs11;
  refs: number;
  /** False when someone else in this process initialised the library first: then they finalize it. */
  ownsInitialization: boolean;
}

/**
 * One loaded and initialised library per path, shared by every adapter in the process: PKCS#11 allows one
 * C_Initialize per process, and C_Finalize would pull the library from under the other adapters.
 */
const libraries = new Map<string, LoadedLibrary>();

/** A reference to a loaded, initialised PKCS#11 library; `release()` finalizes it after the last one. */
export interface LibraryLease {
  readonly pkcs11: Pkcs11;
  /** How many leases on this library are alive in the process (this one included). */
  holders(): number;
  release(): void;
}

/**
 * Loads and initialises `path` (once per process) and counts the reference.
 * SoftHSM2 reads SOFTHSM2_CONF here, at C_Initialize: set it before the first lease.
 */
export function acquireLibrary(path: string): LibraryLease {
  let loaded = libraries.get(path);
  if (!loaded) {
    loaded = loadLibrary(path);
    libraries.set(path, loaded);
  }
  loaded.refs += 1;
  let released = false;
  const entry = loaded;
  return {
    pkcs11: entry.pkcs11,
    holders: () => entry.refs,
    release: () => {
      if (released) return;
      released = true;
      entry.refs -= 1;
      if (entry.refs > 0) return;
      libraries.delete(path);
      if (!entry.ownsInitialization) return;
      try {
        entry.pkcs11.C_Finalize();
      } finally {
        entry.pkcs11.close();
      }
    },
  };
}

/** Whether this process holds the library at `path` open (SoftHSM2 then ignores a changed SOFTHSM2_CONF). */
export function isLibraryOpen(path: string): boolean {
  return libraries.has(path);
}

function loadLibrary(path: string): LoadedLibrary {
  const pkcs11 = new pkcs11js.PKCS11();
  try {
    pkcs11.load(path);
  } catch (error) {
    throw fatal(
      "HSM_LIBRARY_UNAVAILABLE",
      `cannot load the PKCS#11 library ${path}: ${(error as Error).message}; check HSM2KMS_PKCS11_LIB`,
      { cause: error },
    );
  }
  // Without CKF_OS_LOCKING_OK SoftHSM2 runs without mutexes and concurrent *Async calls crash the process.
  try {
    pkcs11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    return { pkcs11, refs: 0, ownsInitialization: true };
  } catch (error) {
    if (ckrName(error) === "CKR_CRYPTOKI_ALREADY_INITIALIZED")
      return { pkcs11, refs: 0, ownsInitialization: false };
    pkcs11.close();
    throw fatal(
      "HSM_LIBRARY_UNAVAILABLE",
      `C_Initialize of ${path} failed with ${ckrName(error) ?? (error as Error).message}` +
        " (SoftHSM2: is SOFTHSM2_CONF set to a config whose tokendir exists?)",
      { cause: error },
    );
  }
}
