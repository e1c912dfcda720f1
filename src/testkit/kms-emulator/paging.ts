import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { KmsError } from "./errors.js";
import { type Input, optionalInteger, optionalString } from "./params.js";

// Markers need only outlive a listing, not the process: a restart invalidates them, as a stale marker would be.
const MARKER_KEY = randomBytes(32);
const IV_BYTES = 12;
const TAG_BYTES = 16;

const invalidMarker = () =>
  new KmsError(
    "InvalidMarkerException",
    "The request was rejected because the marker that specifies where pagination should next begin is not valid.",
  );

/**
 * Markers are opaque, as the API Reference says of every `Marker` ("use the value of NextMarker from the
 * truncated response you just received"): the offset is encrypted and authenticated under a process secret,
 * bound to the listing it came from (`scope`), so a hand-made, altered or borrowed marker answers
 * InvalidMarkerException instead of quietly listing from somewhere else.
 */
function sealMarker(offset: number, scope: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", MARKER_KEY, iv);
  cipher.setAAD(Buffer.from(scope, "utf8"));
  const body = Buffer.alloc(4);
  body.writeUInt32BE(offset);
  return Buffer.concat([iv, cipher.update(body), cipher.final(), cipher.getAuthTag()]).toString("base64url");
}

function openMarker(marker: string, scope: string): number {
  const bytes = Buffer.from(marker, "base64url");
  if (bytes.length !== IV_BYTES + 4 + TAG_BYTES || bytes.toString("base64url") !== marker)
    throw invalidMarker();
  try {
    const decipher = createDecipheriv("aes-256-gcm", MARKER_KEY, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(scope, "utf8"));
    decipher.setAuthTag(bytes.subarray(IV_BYTES + 4));
    return Buffer.concat([
      decipher.update(bytes.subarray(IV_BYTES, IV_BYTES + 4)),
      decipher.final(),
    ]).readUInt32BE();
  } catch {
    throw invalidMarker();
  }
}

/**
 * One page of `items` for Limit/Marker, with AWS's Truncated/NextMarker. `scope` names the listing (operation,
 * Region and filters) so that its markers fit no other.
 */
export function page<T>(input: Input, items: T[], defaultLimit: number, maxLimit: number, scope = "") {
  const limit = optionalInteger(input, "Limit", 1, maxLimit) ?? defaultLimit;
  const marker = optionalString(input, "Marker", { min: 1, max: 1024 });
  const offset = marker === undefined ? 0 : openMarker(marker, scope);
  const slice = items.slice(offset, offset + limit);
  const truncated = offset + limit < items.length;
  return {
    items: slice,
    Truncated: truncated,
    ...(truncated ? { NextMarker: sealMarker(offset + limit, scope) } : {}),
  };
}
