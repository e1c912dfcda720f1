import { fatal, type MigrationError, notVisible, retryable, throttled, tokenExpired } from "../errors.js";
import { resourceQuotaMessage, resourceQuotaOf } from "./resource-quotas.js";

/**
 * AWS exception names that mean "slow down": the pipeline pauses the queue and spends no attempt.
 * ThrottledException is the Resource Groups Tagging API's name for it. LimitExceededException is not here:
 * in KMS it is a resource quota (see resource-quotas.ts), which no pause lifts.
 */
const THROTTLING = new Set([
  "ThrottlingException",
  "ThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
]);
/** The import token is dead or not for this key: fetch new parameters and wrap again. */
const TOKEN = new Set(["ExpiredImportTokenException", "InvalidImportTokenException"]);
/**
 * What KMS answers while a change has not propagated (AWS KMS Developer Guide, "AWS KMS eventual
 * consistency"), as well as for a key really gone or in the wrong state: the scheduler tells them apart.
 */
const NOT_VISIBLE = new Set(["NotFoundException", "KMSInvalidStateException"]);
/** KMS had a problem on its side: try again later. */
const TRANSIENT = new Set([
  "DependencyTimeoutException",
  "KMSInternalException",
  "InternalFailure",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  // The Tagging API's pagination token lives 15 minutes: a lookup that outlived it starts again.
  "PaginationTokenExpiredException",
]);
/** Network-level failures from the HTTP handler. */
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
]);

const FIX_HINTS: Record<string, string> = {
  AccessDeniedException:
    "grant the worker's IAM role this KMS action (see deploy/iam/), then `hsm2kms retry --failed`",
  IncorrectKeyMaterialException:
    "the wrapped material is not valid for this KMS key (or differs from material imported before)",
  InvalidCiphertextException:
    "KMS could not decrypt the wrapped material: wrapping algorithm or wrapping key mismatch",
  NotFoundException: "the KMS key does not exist in this account and Region",
  KMSInvalidStateException: "the KMS key is not in a state that allows this (e.g. pending deletion)",
  UnrecognizedClientException: "the AWS credentials are not valid for this Region",
};

/** The AWS error name of an SDK error (modelled or not), or the Node error code for network failures. */
export function awsErrorName(error: unknown): string {
  if (error && typeof error === "object") {
    const candidate = error as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } };
    if (typeof candidate.code === "string" && NETWORK_CODES.has(candidate.code)) return candidate.code;
    if (typeof candidate.name === "string") return candidate.name;
  }
  return "UnknownError";
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/**
 * Maps an error from @aws-sdk/client-kms onto the pipeline's vocabulary, by `name` (never instanceof:
 * unmodelled errors such as ThrottlingException arrive as KMSServiceException with `name` set).
 * `what` names the operation and key for the message, e.g. `ImportKeyMaterial for key 1234abcd-...`; `region`
 * lets a resource-quota failure name where to raise the quota; `endpoint` (the URL the call went to) is kept
 * in the details for the log line of a retry.
 */
export function mapKmsError(
  error: unknown,
  operation: string,
  what: string,
  region = "this Region",
  endpoint?: string,
): MigrationError {
  const name = awsErrorName(error);
  const awsMessage = error instanceof Error ? error.message : String(error);
  const message = `${what}: ${name}: ${awsMessage}`;
  const details = {
    operation,
    awsError: name,
    httpStatus: httpStatus(error),
    ...(endpoint ? { endpoint } : {}),
  };
  if (name === "LimitExceededException")
    return fatal("KMS_RESOURCE_QUOTA_EXCEEDED", `${message} (${resourceQuotaMessage(operation, region)})`, {
      details: { ...details, quota: resourceQuotaOf(operation).name, region },
      cause: error,
    });
  if (THROTTLING.has(name))
    return throttled("KMS_THROTTLED", message, { details, retryAfterMs: 1000, cause: error });
  if (TOKEN.has(name))
    return tokenExpired(
      name === "ExpiredImportTokenException" ? "IMPORT_TOKEN_EXPIRED" : "IMPORT_TOKEN_INVALID",
      message,
      { details, cause: error },
    );
  const status = httpStatus(error) ?? 0;
  if (TRANSIENT.has(name) || NETWORK_CODES.has(name) || status >= 500)
    return retryable("KMS_UNAVAILABLE", message, { details, cause: error });
  const hint = FIX_HINTS[name];
  return (NOT_VISIBLE.has(name) ? notVisible : fatal)(
    `KMS_${name
      .replace(/Exception$/, "")
      .replace(/([a-z])([A-Z])/g, "$1_$2")
      .toUpperCase()}`,
    hint ? `${message} (${hint})` : message,
    {
      details,
      cause: error,
    },
  );
}
