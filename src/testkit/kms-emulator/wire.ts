import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { KmsError } from "./errors.js";
import type { Input } from "./params.js";

const MAX_BODY_BYTES = 1024 * 1024;
const bodies = new WeakMap<IncomingMessage, Promise<Buffer>>();

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

async function readAll(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new KmsError("SerializationException", "Request body is too large.", 413);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The request's body, read once: the signature check hashes it before the operation parses it. At most 1 MiB
 * (a larger body is SerializationException, HTTP 413).
 */
export function readBody(request: IncomingMessage): Promise<Buffer> {
  let body = bodies.get(request);
  if (!body) {
    body = readAll(request);
    bodies.set(request, body);
  }
  return body;
}

export async function readJsonBody(request: IncomingMessage): Promise<Input> {
  const text = (await readBody(request)).toString("utf8").trim();
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
