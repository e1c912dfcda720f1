/**
 * The closed vocabulary of error codes: every code a key can fail (or be retried) with, what the scheduler does
 * with it (`kind`), whether `hsm2kms retry --failed` can cure it once the operator fixed what the hint says, and
 * that fix. `fatal()`, `retryable()`… accept only the codes of their kind, so a typo does not compile; README's
 * "Error codes" section lists every one (test/unit/error-codes.test.ts checks both).
 */
import { KMS_ERROR_CODES } from "./error-codes-kms.js";

/** What the scheduler does with a failure. */
export type ErrorKind =
  /** Try again later with backoff; spends an attempt. */
  | "retryable"
  /** A quota was hit: pause the queue for `retryAfterMs`, spend no attempt. */
  | "throttled"
  /** The import token is expired, invalid or about to die: go back to the params phase. */
  | "token-expired"
  /** Waiting for something else (e.g. a replica's primary): try later, spending no attempt (bounded). */
  | "deferred"
  /**
   * KMS does not show a key, alias or key state (NotFoundException, KMSInvalidStateException): possibly a change
   * that has not propagated yet (AWS KMS Developer Guide, "AWS KMS eventual consistency"). Within the consistency
   * window after this campaign changed that key, wait and look again, spending no attempt; otherwise fatal.
   */
  | "not-visible"
  /** Retrying cannot help: fail the key with this reason. */
  | "fatal";

/** One code of the table. */
export interface ErrorCodeEntry {
  /** The kind errors with this code are raised with. */
  kind: ErrorKind;
  /**
   * Whether `hsm2kms retry --failed` re-queues a key that failed with it: true when a fix outside the key (a
   * permission, a quota, configuration, an HSM or KMS that was down) lets the same record succeed; false when the
   * source key, the manifest row or the KMS key must change first (then `retry --failed --all` once it has).
   */
  curableByRetry: boolean;
  /** The operator's fix, in one sentence (README "Error codes"; the JSON report's `error_hint`). */
  hint: string;
  /** AWS exception names this code stands for (KMS codes only). */
  awsNames?: readonly string[];
}

const RETRY = "then `hsm2kms retry --failed`";
const CANNOT = "it cannot be imported into KMS as it is";

/** Codes of the HSM, the source key, the manifest row and the pipeline itself. */
const PIPELINE_ERROR_CODES = {
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
  WRAPPED_FOR_OTHER_TOKEN: {
    kind: "token-expired",
    curableByRetry: true,
    hint: "none needed: the material is wrapped again for the current import parameters",
  },
  IMPORT_TOKEN_NEAR_EXPIRY: {
    kind: "token-expired",
    curableByRetry: true,
    hint: "none needed: new import parameters are fetched (raise HSM2KMS_MAX_TOKEN_REFRESHES if keys fail with it)",
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
  KMS_KEY_MISSING: {
    kind: "not-visible",
    curableByRetry: true,
    hint: `the KMS key the ledger names is not found (deleted outside hsm2kms, or KMS slower than HSM2KMS_KMS_CONSISTENCY_WINDOW): ${RETRY}`,
  },
  KMS_KEY_CREATING: {
    kind: "not-visible",
    curableByRetry: true,
    hint: `the replica was still Creating after HSM2KMS_KMS_CONSISTENCY_WINDOW: raise it, ${RETRY}`,
  },
  KMS_KEY_MISMATCH: {
    kind: "fatal",
    curableByRetry: true,
    hint: `a KMS key carries this key's migration tag but has another spec, usage or origin: remove its tag or schedule its deletion, ${RETRY}`,
  },
  KMS_KEY_PENDING_DELETION: {
    kind: "fatal",
    curableByRetry: false,
    hint: "the key's KMS key is pending deletion: cancel the deletion (CancelKeyDeletion), then `hsm2kms retry --failed --all`",
  },
  DUPLICATE_KMS_KEYS: {
    kind: "fatal",
    curableByRetry: true,
    hint: `several KMS keys carry this key's migration tag: keep one, schedule the others' deletion, ${RETRY}`,
  },
  TAG_INDEX_SETTLING: {
    kind: "deferred",
    curableByRetry: true,
    hint: "none needed: the tag index had not caught up with a key made moments ago (bounded wait)",
  },
  TAGGED_KEY_NOT_VISIBLE: {
    kind: "deferred",
    curableByRetry: true,
    hint: "none needed: a key found by its tag was not yet visible to DescribeKey (bounded wait)",
  },
  ALIAS_TAKEN: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the alias names another KMS key: delete or move that alias, or change the row's alias, ${RETRY}`,
  },
  ALIAS_NOT_VISIBLE: {
    kind: "not-visible",
    curableByRetry: true,
    hint: `the alias was not visible within HSM2KMS_KMS_CONSISTENCY_WINDOW: raise it, ${RETRY}`,
  },
  REPLICA_NOT_VISIBLE: {
    kind: "not-visible",
    curableByRetry: true,
    hint: `KMS says the replica exists but does not show it (within HSM2KMS_KMS_CONSISTENCY_WINDOW): ${RETRY}`,
  },
  PRIMARY_NOT_MIGRATED: {
    kind: "deferred",
    curableByRetry: true,
    hint: "none needed: the replica waits for its primary's import (bounded); if it gave up, see the primary's failure",
  },
  PRIMARY_FAILED: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the primary of this replica failed: fix the primary's failure, ${RETRY} (both are re-queued)`,
  },
  PRIMARY_MISSING: {
    kind: "fatal",
    curableByRetry: false,
    hint: "the ledger has no record of this replica's primary: enqueue the manifest row again",
  },
  PRIMARY_SOURCE_DIFFERS: {
    kind: "fatal",
    curableByRetry: false,
    hint: "the primary was migrated from another HSM key than this replica's: correct the manifest rows",
  },
  VERIFICATION_FAILED: {
    kind: "fatal",
    curableByRetry: false,
    hint: "KMS's key does not prove identical to the HSM's (its material was rolled back): investigate before anything else; `hsm2kms audit` compares them",
  },
  ADOPTED_KEY_MISMATCH: {
    kind: "fatal",
    curableByRetry: false,
    hint: "a KMS key found from an earlier run holds other material than the HSM key: schedule its deletion, then `hsm2kms retry --failed --all`",
  },
  ABANDONED: {
    kind: "fatal",
    curableByRetry: false,
    hint: "`hsm2kms abandon` removed this key's material and scheduled its KMS key for deletion on purpose: enqueue the row again in a new campaign to migrate it",
  },
  RENEWAL_NOT_APPLIED: {
    kind: "fatal",
    curableByRetry: true,
    hint: "KMS did not show the new ValidTo after a renewal: run `hsm2kms renew` again and check the key in KMS (DescribeKey)",
  },
  RENEWAL_FAILED: {
    kind: "fatal",
    curableByRetry: true,
    hint: "a renewal did not finish: `hsm2kms renew` names the cause; fix it and run `hsm2kms renew` again before ValidTo",
  },
  ACCOUNT_ROLE_REFUSED: {
    kind: "fatal",
    curableByRetry: true,
    hint: "STS refused the role HSM2KMS_ACCOUNTS_FILE names for this key's account: fix the role's trust policy or external id (deploy/iam), then `hsm2kms retry --failed`",
  },
  ACCOUNT_ROLE_UNAVAILABLE: {
    kind: "retryable",
    curableByRetry: true,
    hint: "STS did not answer while assuming this account's role: check the network path to STS, then `hsm2kms retry --failed`",
  },
  PHASE_ORDER: {
    kind: "fatal",
    curableByRetry: true,
    hint: `a phase found the record without what an earlier phase records (a bug or an edited ledger): ${RETRY} starts the key again at preflight`,
  },
  WORKER_LOST: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the workers running the key's job stopped too many times (crash, kill or lost lock): fix the cause, ${RETRY}`,
  },
  TOO_MANY_STEPS: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the key ran more phases than the in-process runner allows (token refreshes and retries included): ${RETRY}`,
  },
  UNEXPECTED: {
    kind: "retryable",
    curableByRetry: true,
    hint: `an error hsm2kms does not classify (the message says what): retried with backoff; fix the cause, ${RETRY}`,
  },
} as const satisfies Record<string, ErrorCodeEntry>;

/** Every error code, with its kind, whether a retry can cure it, and the operator's fix. */
export const ERROR_CODES = { ...PIPELINE_ERROR_CODES, ...KMS_ERROR_CODES } as const;

/** The union of every error code: a code outside the table does not compile. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes raised with `kind`, e.g. `CodeOfKind<"fatal">` for `fatal()`. */
export type CodeOfKind<K extends ErrorKind> = {
  [C in ErrorCode]: (typeof ERROR_CODES)[C]["kind"] extends K ? C : never;
}[ErrorCode];

/** Whether `code` (e.g. read back from the ledger) is one of the table's. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** The table's entry for a code read back from the ledger or a report; undefined for a code it does not know. */
export function errorCodeEntry(code: string): ErrorCodeEntry | undefined {
  return isErrorCode(code) ? ERROR_CODES[code] : undefined;
}

const CODE_BY_AWS_NAME = new Map<string, ErrorCode>(
  Object.entries(ERROR_CODES).flatMap(([code, entry]: [string, ErrorCodeEntry]) =>
    (entry.awsNames ?? []).map((name) => [name, code as ErrorCode] as const),
  ),
);

/** The code an AWS exception name (or Node network error code) stands for; undefined when the table lists none. */
export function codeOfAwsName(name: string): ErrorCode | undefined {
  return CODE_BY_AWS_NAME.get(name);
}
