/**
 * The HSM and source-key half of the error-code table (see error-codes.ts): what the token, a source key or the
 * row that names it can fail with. PKCS#11 return values map onto these in hsm/pkcs11-errors.ts.
 */
import type { ErrorCodeEntry } from "./error-codes.js";

const RETRY = "then `hsm2kms retry --failed`";
const CANNOT = "it cannot be imported into KMS as it is";

export const HSM_ERROR_CODES = {
  SOURCE_KEY_NOT_FOUND: {
    kind: "fatal",
    curableByRetry: true,
    hint: `no key on the token matches the row: check HSM2KMS_TOKEN_LABEL and the row's source_label/source_id, ${RETRY}`,
  },
  SOURCE_KEY_AMBIGUOUS: {
    kind: "fatal",
    curableByRetry: false,
    hint: "several keys match the row: name one with source_id (and source_label) in the manifest (this key's record keeps the row it was enqueued with)",
  },
  SOURCE_KEY_REF_INVALID: {
    kind: "fatal",
    curableByRetry: false,
    hint: "source_id must be hex with an even number of digits: correct the row in the manifest (this key's record keeps the row it was enqueued with)",
  },
  SOURCE_KEY_NOT_EXTRACTABLE: {
    kind: "fatal",
    curableByRetry: false,
    hint: `CKA_EXTRACTABLE is false and PKCS#11 cannot turn it back on: ${CANNOT}; remove the row`,
  },
  SOURCE_KEY_WRAP_WITH_TRUSTED: {
    kind: "fatal",
    curableByRetry: false,
    hint: `CKA_WRAP_WITH_TRUSTED is set, so only a trusted key may wrap it and the KMS wrapping key never is: ${CANNOT}`,
  },
  SOURCE_KEY_NOT_WRAPPABLE: {
    kind: "fatal",
    curableByRetry: false,
    hint: `the HSM refuses to wrap this key (CKR_KEY_NOT_WRAPPABLE): ${CANNOT}; remove the row`,
  },
  SOURCE_KEY_FUNCTION_NOT_PERMITTED: {
    kind: "fatal",
    curableByRetry: false,
    hint: `the key's attributes forbid the operation (CKR_KEY_FUNCTION_NOT_PERMITTED): ${CANNOT}; remove the row`,
  },
  SOURCE_KEY_TYPE_INCONSISTENT: {
    kind: "fatal",
    curableByRetry: false,
    hint: "the HSM says the key's type does not fit the mechanism (CKR_KEY_TYPE_INCONSISTENT): check the row's key_spec against the key",
  },
  SOURCE_KEY_CHANGED: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the HSM key changed between preflight and wrap: make sure it is the key to migrate, ${RETRY} (preflight runs again)`,
  },
  SOURCE_PUBLIC_KEY_NOT_FOUND: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the RSA private key shows no modulus and no public key object shares its CKA_ID or label: create one, ${RETRY}`,
  },
  SOURCE_PUBLIC_KEY_AMBIGUOUS: {
    kind: "fatal",
    curableByRetry: true,
    hint: `several public key objects share the key's CKA_ID or label: give each key pair its own CKA_ID, ${RETRY}`,
  },
  UNSUPPORTED_KEY_TYPE: {
    kind: "fatal",
    curableByRetry: false,
    hint: `KMS cannot import this key type or size (the message says why): ${CANNOT}; remove the row`,
  },
  KEY_SPEC_MISMATCH: {
    kind: "fatal",
    curableByRetry: false,
    hint: "the row's key_spec contradicts the HSM key: correct or empty key_spec in the manifest (this key's record keeps the row it was enqueued with)",
  },
  KEY_USAGE_INVALID: {
    kind: "fatal",
    curableByRetry: false,
    hint: "the row's key_usage is not valid for the key spec (the message lists the valid ones): correct it in the manifest (this key's record keeps the row it was enqueued with)",
  },
  NO_WRAPPING_PATH: {
    kind: "fatal",
    curableByRetry: false,
    hint: "neither the token's mechanisms nor KMS's wrapping algorithms can carry this key: it cannot be migrated from this HSM",
  },
  PEER_KEY_INVALID: {
    kind: "fatal",
    curableByRetry: false,
    hint: "the ECDH peer key used to verify a KEY_AGREEMENT key is not an EC public key: report it as a bug",
  },
  WRAPPING_KEY_INVALID: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the HSM rejects the KMS wrapping key (type or size): check HSM2KMS_WRAPPING_KEY_SPEC against the HSM, ${RETRY}`,
  },
  WRAP_PLAN_INVALID: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the recorded wrapping plan cannot be carried out by this host's token: ${RETRY} (preflight plans again)`,
  },
  HSM_UNAVAILABLE: {
    kind: "retryable",
    curableByRetry: true,
    hint: `the HSM did not answer (retried with backoff): check the HSM and its client on the host, ${RETRY}`,
  },
  HSM_OPERATION_FAILED: {
    kind: "retryable",
    curableByRetry: true,
    hint: `a PKCS#11 call failed with the return value in the message: check the HSM's log, ${RETRY}`,
  },
  HSM_TOKEN_CHANGING: {
    kind: "retryable",
    curableByRetry: true,
    hint: `the token's keys kept changing while hsm2kms listed them: let the other changes finish, ${RETRY}`,
  },
  HSM_KEY_SIZE_RANGE: {
    kind: "fatal",
    curableByRetry: false,
    hint: `a key size is outside what the HSM's mechanism allows (CKR_KEY_SIZE_RANGE): ${CANNOT}`,
  },
  HSM_MECHANISM_UNAVAILABLE: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the token does not offer (or rejects the parameters of) a mechanism the wrap needs: update the HSM client or firmware, ${RETRY}`,
  },
  HSM_LIBRARY_UNAVAILABLE: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the PKCS#11 library cannot be loaded or initialised: check HSM2KMS_PKCS11_LIB (SoftHSM2: SOFTHSM2_CONF), ${RETRY}`,
  },
  HSM_TOKEN_NOT_FOUND: {
    kind: "fatal",
    curableByRetry: true,
    hint: `no token has the configured label or slot: check HSM2KMS_TOKEN_LABEL / HSM2KMS_PKCS11_SLOT, ${RETRY}`,
  },
  HSM_TOKEN_AMBIGUOUS: {
    kind: "fatal",
    curableByRetry: true,
    hint: `several tokens have the configured label: set HSM2KMS_PKCS11_SLOT, ${RETRY}`,
  },
  HSM_LOGIN_FAILED: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the token refused the PIN (wrong, locked or expired): fix HSM2KMS_PKCS11_PIN_FILE, ${RETRY}`,
  },
  HSM_NOT_CONFIGURED: {
    kind: "fatal",
    curableByRetry: true,
    hint: `an HSM phase ran on a host without HSM settings: give it HSM2KMS_PKCS11_LIB, HSM2KMS_TOKEN_LABEL and a PIN, or run it with --phases create,params,import,verify, ${RETRY}`,
  },
  HSM_CLOSED: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the worker's HSM sessions were closed (it was shutting down): ${RETRY}`,
  },
} as const satisfies Record<string, ErrorCodeEntry>;
