import { type CodeOfKind, fatal, isMigrationError, type MigrationError, retryable } from "../errors.js";
import { RECONNECT_ERRORS } from "./pkcs11-constants.js";

/**
 * The CKR_ name of a PKCS#11 failure, or undefined. pkcs11js throws Pkcs11Error (message `CKR_X`, numeric
 * `code`) from most calls, but a plain Error(`CKR_X:code`) from C_CreateObject and friends: match the text.
 */
export function ckrName(error: unknown): string | undefined {
  if (!(error instanceof Error) || isMigrationError(error)) return undefined;
  return /\b(CKR_[A-Z0-9_]+)/.exec(error.message)?.[1];
}

/** Whether `error` is the PKCS#11 return value `name`. */
export function isCkr(error: unknown, name: string): boolean {
  return ckrName(error) === name;
}

const FATAL_BY_CKR: Record<string, { code: CodeOfKind<"fatal">; why: string }> = {
  CKR_KEY_UNEXTRACTABLE: {
    code: "SOURCE_KEY_NOT_EXTRACTABLE",
    why: "CKA_EXTRACTABLE is false, so the HSM refuses to wrap it (and PKCS#11 cannot turn it back on)",
  },
  CKR_KEY_NOT_WRAPPABLE: {
    code: "SOURCE_KEY_NOT_WRAPPABLE",
    why: "the HSM cannot wrap this kind of key with this mechanism",
  },
  CKR_WRAPPING_KEY_TYPE_INCONSISTENT: {
    code: "WRAPPING_KEY_INVALID",
    why: "the HSM rejects the KMS wrapping key for this mechanism",
  },
  CKR_WRAPPING_KEY_SIZE_RANGE: {
    code: "WRAPPING_KEY_INVALID",
    why: "the HSM rejects the size of the KMS wrapping key",
  },
  CKR_KEY_SIZE_RANGE: { code: "HSM_KEY_SIZE_RANGE", why: "a key size is outside what the mechanism allows" },
  CKR_MECHANISM_INVALID: { code: "HSM_MECHANISM_UNAVAILABLE", why: "the token does not offer the mechanism" },
  CKR_MECHANISM_PARAM_INVALID: {
    code: "HSM_MECHANISM_UNAVAILABLE",
    why: "the token rejects the mechanism parameters",
  },
  CKR_ARGUMENTS_BAD: { code: "HSM_MECHANISM_UNAVAILABLE", why: "the token rejects the mechanism parameters" },
  CKR_KEY_FUNCTION_NOT_PERMITTED: {
    code: "SOURCE_KEY_FUNCTION_NOT_PERMITTED",
    why: "the key's attributes do not allow this operation",
  },
  CKR_KEY_TYPE_INCONSISTENT: { code: "SOURCE_KEY_TYPE_INCONSISTENT", why: "the key type does not fit" },
  CKR_PIN_INCORRECT: {
    code: "HSM_LOGIN_FAILED",
    why: "the PIN is wrong (check HSM2KMS_PKCS11_PIN_FILE or HSM2KMS_PKCS11_PIN)",
  },
  CKR_PIN_LEN_RANGE: { code: "HSM_LOGIN_FAILED", why: "the PIN is too short or too long for the token" },
  CKR_PIN_INVALID: { code: "HSM_LOGIN_FAILED", why: "the PIN holds characters the token does not accept" },
  CKR_PIN_LOCKED: { code: "HSM_LOGIN_FAILED", why: "the user PIN is locked" },
  CKR_PIN_EXPIRED: { code: "HSM_LOGIN_FAILED", why: "the user PIN has expired" },
};

/** Whether the session must be reopened (and the operation run again) after `error`. */
export function needsReconnect(error: unknown): boolean {
  return RECONNECT_ERRORS.has(ckrName(error) ?? "");
}

/**
 * Leaves a dropped-session error as it is, for the session pool to reconnect and retry; turns any other
 * PKCS#11 failure into a MigrationError (see pkcs11Failure).
 */
export function asOperationError(error: unknown, operation: string, subject: string): unknown {
  return needsReconnect(error) ? error : pkcs11Failure(error, operation, subject);
}

/**
 * Turns a PKCS#11 failure of `operation` on `subject` (a key description such as `key "x"`) into a
 * MigrationError: known hopeless cases are fatal with the reason, anything else retryable.
 */
export function pkcs11Failure(error: unknown, operation: string, subject: string): MigrationError {
  if (isMigrationError(error)) return error;
  const name = ckrName(error);
  const known = name ? FATAL_BY_CKR[name] : undefined;
  if (known) return fatal(known.code, `${subject}: ${operation} failed with ${name}: ${known.why}`);
  const what = name ?? (error instanceof Error ? error.message : String(error));
  return retryable("HSM_OPERATION_FAILED", `${subject}: ${operation} failed with ${what}`, {
    cause: error,
  });
}
