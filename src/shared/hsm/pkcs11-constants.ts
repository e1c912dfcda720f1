/**
 * PKCS#11 values pkcs11js 2.1.x does not export, and a few names this adapter needs as plain numbers.
 * Values from the PKCS#11 v2.40/v3.0 headers.
 */

/** CKM_RSA_AES_KEY_WRAP: OAEP of an ephemeral AES key plus AES-KWP of the key, in one call (CloudHSM). */
export const CKM_RSA_AES_KEY_WRAP = 0x1054;
/** CK_RSA_PKCS_OAEP_PARAMS.source: the encoding parameter (label) is given in `sourceData` (here: none). */
export const CKZ_DATA_SPECIFIED = 1;
/** CK_SESSION_INFO.state of a read/write session whose user is logged in. */
export const CKS_RW_USER_FUNCTIONS = 3;
/** CK_SESSION_INFO.state of a read-only session whose user is logged in. */
export const CKS_RO_USER_FUNCTIONS = 1;

/** Return values after which the session (or the whole connection) must be reopened and logged in again. */
export const RECONNECT_ERRORS: ReadonlySet<string> = new Set([
  "CKR_SESSION_HANDLE_INVALID",
  "CKR_SESSION_CLOSED",
  "CKR_DEVICE_ERROR",
  "CKR_DEVICE_REMOVED",
  "CKR_TOKEN_NOT_PRESENT",
  "CKR_USER_NOT_LOGGED_IN",
]);
