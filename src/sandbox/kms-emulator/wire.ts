import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { KmsError } from "./errors.js";
import type { Input } from "./params.js";

const MAX_BODY_BYTES = 1024 * 1024;
// The Resource Groups Tagging API signs for service "tagging"; it is served on the same endpoint.
const CREDENTIAL_SCOPE = /Credential=[^/,\s]+\/\d{8}\/([a-z0-9-]+)\/(?:kms|tagging)\/aws4_request/;

/** The operation named by `X-Amz-Target: TrentService.<Operation>`, or undefined. */
export function operationName(request: IncomingMessage): string | undefined {
  const target = request.headers["x-amz-target"];
  const match = typeof target === "string" ? /^TrentService\.([A-Za-z]+)$/.exec(target) : null;
  return match?.[1];
}

/** The Resource Groups Tagging API operation named by `X-Amz-Target: ResourceGroupsTaggingAPI_20170126.<Op>`. */
export function taggingOperationName(request: IncomingMessage): string | undefined {
  const target = request.headers["x-amz-target"];
  const match =
    typeof target === "string" ? /^ResourceGroupsTaggingAPI_20170126\.([A-Za-z]+)$/.exec(target) : null;
  return match?.[1];
}

/**
 * The Region of a request, from its SigV4 credential scope (`Credential=AKID/20261128/<region>/kms/...`).
 * Signatures are not verified: the emulator trusts whoever can reach it.
 */
export function requestRegion(request: IncomingMessage): string {
  const authorization = request.headers.authorization ?? "";
  const region = CREDENTIAL_SCOPE.exec(authorization)?.[1];
  if (!region)
    throw new KmsError(
      "MissingAuthenticationTokenException",
      "Missing or malformed SigV4 Authorization header (the Region is read from its credential scope).",
      403,
    );
  return region;
}

export async function readJsonBody(request: IncomingMessage): Promise<Input> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new KmsError("SerializationException", "Request body is too large.", 413);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") return {};
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("not an object");
    return body as Input;
  } catch {
    throw new KmsError("SerializationException", "Request body is not a JSON object.");
  }
}

function send(response: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/x-amz-json-1.1",
    "content-length": Buffer.byteLength(payload),
    "x-amzn-requestid": randomUUID(),
    ...(errorType ? { "x-amzn-errortype": errorType } : {}),
  });
  response.end(payload);
}

export function sendResult(response: ServerResponse, result: unknown): void {
  send(response, 200, result);
}

/** An AWS JSON 1.1 error: `{"__type": name, "message": ...}`, the name also in `x-amzn-ErrorType`. */
export function sendError(response: ServerResponse, error: KmsError): void {
  send(response, error.status, { __type: error.type, message: error.message }, error.type);
}
