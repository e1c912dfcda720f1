/** The HSM adapter's public surface: the port, the PKCS#11 implementation, and the wrap-plan choice. */

export { openPkcs11Hsm, type Pkcs11HsmOptions } from "./pkcs11-hsm.js";
export type { LibraryLease } from "./pkcs11-library.js";
export { acquireLibrary } from "./pkcs11-library.js";
export { type FoundToken, findToken, type TokenSelector } from "./token.js";
export type * from "./types.js";
export { chooseWrapPlan } from "./wrap-plan.js";
