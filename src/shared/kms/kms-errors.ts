import { codeOfAwsName, ERROR_CODES, type ErrorCode, type ErrorCodeEntry } from "../error-codes.js";
import { fatal, MigrationError, throttled } from "../errors.js";
import { resourceQuotaMessage, resourceQuotaOf } from "./resource-quotas.js";

/** Network-level failures from the HTTP handler, reported by their Node error code. */
const NETWORK_CODES = new Set(
  ["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "ENOTFOUND", "EHOSTUNREACH"].filter(
    (code) => codeOfAwsName(code) === "KMS_UNAVAILABLE",
  ),
);

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
  let code = codeOfAwsName(name) ?? "KMS_UNEXPECTED_ERROR";
  const entry: ErrorCodeEntry = ERROR_CODES[code];
  // A 5xx answer is KMS's own trouble, whatever the name says (a throttle or a dead token excepted).
  if ((httpStatus(error) ?? 0) >= 500 && (entry.kind === "fatal" || entry.kind === "not-visible"))
    code = "KMS_UNAVAILABLE";
  if (code === "KMS_THROTTLED")
    return throttled(code, message, { details, retryAfterMs: 1000, cause: error });
  const { kind, hint } = ERROR_CODES[code];
  // The fix goes into the message where the operator must act (KMS's own message rarely says).
  const fix = kind === "fatal" || kind === "not-visible" ? ` (${hint})` : "";
  return new MigrationError(kind, code, `${message}${fix}`, { details, cause: error });
}

/** The code the real adapter gives an AWS exception name: for fakes that must speak the same vocabulary. */
export function kmsErrorCode(awsName: string): ErrorCode {
  return codeOfAwsName(awsName) ?? "KMS_UNEXPECTED_ERROR";
}
