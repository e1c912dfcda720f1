/**
 * The KMS half of the error-code table (see error-codes.ts): every code an AWS error name becomes, with the
 * AWS exception names it stands for (AWS KMS API Reference, "Errors" of each operation; AWS General Reference,
 * "Common errors"). An AWS name listed nowhere becomes `KMS_UNEXPECTED_ERROR`, its name kept in the message.
 * The codes keep the spelling earlier releases derived from the AWS name (`KMS_KMSINVALID_STATE` included):
 * they are a contract (README, "Error codes").
 */
import type { ErrorCodeEntry } from "./error-codes.js";

const RETRY_AFTER_FIX = "then `hsm2kms retry --failed`";

export const KMS_ERROR_CODES = {
  KMS_THROTTLED: {
    kind: "throttled",
    curableByRetry: true,
    hint: "none needed: the queue pauses and resumes by itself; if it lasts, lower HSM2KMS_KMS_QUOTAS or ask AWS for a higher request quota",
    // ThrottledException is the Resource Groups Tagging API's name for it.
    awsNames: [
      "ThrottlingException",
      "ThrottledException",
      "TooManyRequestsException",
      "RequestLimitExceeded",
    ],
  },
  KMS_RESOURCE_QUOTA_EXCEEDED: {
    kind: "fatal",
    curableByRetry: true,
    hint: `raise the KMS resource quota in Service Quotas (e.g. "AWS KMS keys") or delete unused keys, ${RETRY_AFTER_FIX}`,
    // In KMS a LimitExceededException is a resource quota, which no pause lifts.
    awsNames: ["LimitExceededException"],
  },
  KMS_UNAVAILABLE: {
    kind: "retryable",
    curableByRetry: true,
    hint: `KMS or the network to it failed (5xx, timeout, connection): retried with backoff; if the key still failed, check the endpoint and connectivity, ${RETRY_AFTER_FIX}`,
    awsNames: [
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
      // Network-level failures of the HTTP handler (Node error codes).
      "ECONNRESET",
      "ECONNREFUSED",
      "EPIPE",
      "ETIMEDOUT",
      "EAI_AGAIN",
      "ENOTFOUND",
      "EHOSTUNREACH",
    ],
  },
  IMPORT_TOKEN_EXPIRED: {
    kind: "token-expired",
    curableByRetry: true,
    hint: "none needed: new import parameters are fetched (bounded by HSM2KMS_MAX_TOKEN_REFRESHES; raise it or HSM2KMS_TOKEN_SAFETY_MARGIN if HSM hosts are slow)",
    awsNames: ["ExpiredImportTokenException"],
  },
  IMPORT_TOKEN_INVALID: {
    kind: "token-expired",
    curableByRetry: true,
    hint: "none needed: new import parameters are fetched and the key wrapped again (bounded by HSM2KMS_MAX_TOKEN_REFRESHES)",
    awsNames: ["InvalidImportTokenException"],
  },
  KMS_NOT_FOUND: {
    kind: "not-visible",
    curableByRetry: true,
    hint: `the KMS key or alias does not exist in this account and Region (or KMS did not show it within HSM2KMS_KMS_CONSISTENCY_WINDOW): check the account and Region, ${RETRY_AFTER_FIX}`,
    awsNames: ["NotFoundException"],
  },
  KMS_KMSINVALID_STATE: {
    kind: "not-visible",
    curableByRetry: true,
    hint: `the KMS key is not in a state that allows this (e.g. pending deletion, disabled): cancel the deletion or enable it, ${RETRY_AFTER_FIX}`,
    awsNames: ["KMSInvalidStateException"],
  },
  // not-visible, not fatal: deploy/iam allows the import and verify calls only on keys carrying the provenance tag,
  // and "It might take up to five minutes for tag and alias changes to affect KMS key authorization" (AWS KMS
  // Developer Guide, "ABAC for AWS KMS"). Within HSM2KMS_KMS_CONSISTENCY_WINDOW of this campaign's change to the
  // key, AccessDenied may be that delay: wait and look again. Anything else (no change yet) fails at once.
  KMS_ACCESS_DENIED: {
    kind: "not-visible",
    curableByRetry: true,
    hint: `grant the worker's IAM role this KMS action (see deploy/iam/; or KMS did not apply the key's new tags to authorization within HSM2KMS_KMS_CONSISTENCY_WINDOW), ${RETRY_AFTER_FIX}`,
    awsNames: ["AccessDeniedException"],
  },
  KMS_UNRECOGNIZED_CLIENT: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the AWS credentials are not valid for this Region: fix the worker's credentials, ${RETRY_AFTER_FIX}`,
    awsNames: ["UnrecognizedClientException", "InvalidClientTokenId", "ExpiredTokenException"],
  },
  KMS_INVALID_SIGNATURE: {
    kind: "fatal",
    curableByRetry: true,
    hint: `AWS refused the request's signature (wrong secret key or clock skew): fix the credentials or the host's clock, ${RETRY_AFTER_FIX}`,
    awsNames: ["InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature"],
  },
  KMS_ALREADY_EXISTS: {
    kind: "fatal",
    curableByRetry: true,
    hint: `an alias or replica of that name already exists outside this campaign: delete it or change the manifest's alias, ${RETRY_AFTER_FIX}`,
    awsNames: ["AlreadyExistsException"],
  },
  KMS_DISABLED: {
    kind: "fatal",
    curableByRetry: true,
    hint: `the KMS key is disabled: enable it (EnableKey), ${RETRY_AFTER_FIX}`,
    awsNames: ["DisabledException"],
  },
  KMS_INVALID_CIPHERTEXT: {
    kind: "fatal",
    curableByRetry: true,
    hint: `KMS could not decrypt the wrapped material (wrapping algorithm or wrapping key mismatch): ${RETRY_AFTER_FIX} wraps it again with new parameters`,
    awsNames: ["InvalidCiphertextException"],
  },
  KMS_INCORRECT_KEY_MATERIAL: {
    kind: "fatal",
    curableByRetry: false,
    hint: "the material is not valid for this KMS key or differs from the material imported into it before: the KMS key must be replaced (schedule its deletion), then `hsm2kms retry --failed --all`",
    awsNames: ["IncorrectKeyMaterialException", "IncorrectKeyException"],
  },
  KMS_INVALID_KEY_USAGE: {
    kind: "fatal",
    curableByRetry: false,
    hint: "the KMS key's usage does not allow this operation: correct key_usage in the manifest (this key's record keeps the row it was enqueued with)",
    awsNames: ["InvalidKeyUsageException"],
  },
  KMS_UNSUPPORTED_OPERATION: {
    kind: "fatal",
    curableByRetry: false,
    hint: "KMS does not support this for the key (e.g. replicas of a single-Region key): correct the manifest row",
    awsNames: ["UnsupportedOperationException"],
  },
  KMS_VALIDATION: {
    kind: "fatal",
    curableByRetry: false,
    hint: "KMS rejected a request parameter taken from the manifest (the message names it): correct the row in the manifest (this key's record keeps the row it was enqueued with)",
    awsNames: [
      "ValidationException",
      "InvalidAliasNameException",
      "InvalidArnException",
      "InvalidMarkerException",
    ],
  },
  KMS_MALFORMED_POLICY_DOCUMENT: {
    kind: "fatal",
    curableByRetry: false,
    hint: "KMS rejected the key policy (e.g. a principal it cannot find): correct the key_policy file (this key's record keeps the policy it was enqueued with)",
    awsNames: ["MalformedPolicyDocumentException"],
  },
  KMS_TAG: {
    kind: "fatal",
    curableByRetry: false,
    hint: "KMS rejected the key's tags: correct the row's tags in the manifest (this key's record keeps the row it was enqueued with)",
    awsNames: ["TagException"],
  },
  KMS_UNEXPECTED_ERROR: {
    kind: "fatal",
    curableByRetry: true,
    hint: `KMS answered with an error hsm2kms does not know (its AWS name is in the message): look it up in the AWS KMS API Reference, fix the cause, ${RETRY_AFTER_FIX}`,
  },
  KMS_BAD_RESPONSE: {
    kind: "fatal",
    curableByRetry: true,
    hint: `KMS (or the endpoint in HSM2KMS_KMS_ENDPOINT) answered without a field it always returns: check the endpoint, ${RETRY_AFTER_FIX}`,
  },
} as const satisfies Record<string, ErrorCodeEntry>;
