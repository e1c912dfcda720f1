/**
 * The closed vocabulary of error codes: every code a key can fail (or be retried) with, what the scheduler does
 * with it (`kind`), whether `hsm2kms retry --failed` can cure it once the operator fixed what the hint says, and
 * that fix. `fatal()`, `retryable()`… accept only the codes of their kind, so a typo does not compile; README's
 * "Error codes" section lists every one (test/unit/error-codes.test.ts checks both).
 */
import { HSM_ERROR_CODES } from "./error-codes-hsm.js";
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

/** Codes of the pipeline itself: phases, KMS keys as the ledger knows them, replicas, workers. */
const PIPELINE_ERROR_CODES = {
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
  KMS_KEY_WRONG_ACCOUNT: {
    kind: "fatal",
    curableByRetry: false,
    hint: "the KMS key made or found for this key is in another account than the manifest's: check the account's role in HSM2KMS_ACCOUNTS_FILE and the KMS endpoint, remove the stray key with `hsm2kms abandon --orphans` or by hand, then re-enqueue the key",
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
  RENEWAL_KMS_KEY_GONE: {
    kind: "fatal",
    curableByRetry: false,
    hint: "KMS DescribeKey finds no KMS key by the id the ledger holds for a key whose material expires (deleted outside hsm2kms, or the account's role reaches another account): nothing can renew it; check the key in its account (`hsm2kms audit` shows it missing-in-kms) and, if it is gone, migrate the HSM key again into a new KMS key and move its applications there",
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
  ACCOUNT_NOT_CONFIGURED: {
    kind: "fatal",
    curableByRetry: true,
    hint: "the worker's HSM2KMS_ACCOUNTS_FILE does not name this key's account: give every worker the file enqueue was given (a line account,role_arn for it), then `hsm2kms retry --failed`",
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
export const ERROR_CODES = { ...HSM_ERROR_CODES, ...PIPELINE_ERROR_CODES, ...KMS_ERROR_CODES } as const;

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
