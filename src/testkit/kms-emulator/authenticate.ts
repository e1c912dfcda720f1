import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../../shared/logger.js";
import { KmsError } from "./errors.js";
import { type CredentialSource, SignatureError, type SignedScope, verifySignature } from "./sigv4.js";
import { sendStsError } from "./sts.js";
import { readBody, sendError } from "./wire.js";

/**
 * How each protocol names a refused signature. JSON services such as KMS answer HTTP 400 with
 * MissingAuthenticationTokenException, IncompleteSignatureException, UnrecognizedClientException (unknown
 * access key id) or InvalidSignatureException (wrong secret, or a date more than 5 minutes off); the query
 * protocol of STS answers MissingAuthenticationToken and InvalidClientTokenId (403), IncompleteSignature (400)
 * and SignatureDoesNotMatch (403), as its API Reference's "Common Errors" lists them.
 */
const JSON_ERRORS: Record<SignatureError["kind"], string> = {
  missing: "MissingAuthenticationTokenException",
  incomplete: "IncompleteSignatureException",
  unknownKey: "UnrecognizedClientException",
  mismatch: "InvalidSignatureException",
  expired: "InvalidSignatureException",
  expiredToken: "ExpiredTokenException",
};
const QUERY_ERRORS: Record<SignatureError["kind"], [number, string]> = {
  missing: [403, "MissingAuthenticationToken"],
  incomplete: [400, "IncompleteSignature"],
  unknownKey: [403, "InvalidClientTokenId"],
  mismatch: [403, "SignatureDoesNotMatch"],
  expired: [403, "SignatureDoesNotMatch"],
  expiredToken: [400, "ExpiredToken"],
};

/** Whether a request speaks STS's query protocol: signed for sts, or an unsigned form POST without a target. */
function isQueryProtocol(request: IncomingMessage): boolean {
  if (/\/sts\/aws4_request/.test(request.headers.authorization ?? "")) return true;
  return (
    request.headers["x-amz-target"] === undefined &&
    (request.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")
  );
}

/**
 * Reads the body and checks the request's SigV4 signature against the emulator's credentials. Returns who
 * signed for which Region and service, or answers the refusal itself (in the request's protocol) and returns
 * undefined. Only the access key id and the reason are logged, never a secret or a signature.
 */
export async function authenticate(
  request: IncomingMessage,
  response: ServerResponse,
  credentials: CredentialSource,
  now: number,
  logger: Logger,
): Promise<SignedScope | undefined> {
  try {
    return verifySignature(request, await readBody(request), credentials, now);
  } catch (error) {
    request.resume();
    if (error instanceof KmsError) {
      if (isQueryProtocol(request)) sendStsError(response, 400, "InvalidRequest", error.message);
      else sendError(response, error);
      return undefined;
    }
    if (!(error instanceof SignatureError)) {
      // The body could not be read (the client went away): nobody is left to answer.
      request.socket.destroy();
      return undefined;
    }
    const accessKeyId = /Credential=([^/,\s]+)\//.exec(request.headers.authorization ?? "")?.[1];
    logger.warn({ accessKeyId, reason: error.kind }, "kms-emulator: request signature refused");
    if (isQueryProtocol(request)) {
      const [status, code] = QUERY_ERRORS[error.kind];
      sendStsError(response, status, code, error.message);
    } else sendError(response, new KmsError(JSON_ERRORS[error.kind], error.message));
    return undefined;
  }
}
