import { validation } from "./errors.js";
import { type Input, optionalInteger, optionalString } from "./params.js";

/** One page of `items` for Limit/Marker, with AWS's Truncated/NextMarker. */
export function page<T>(input: Input, items: T[], defaultLimit: number, maxLimit: number) {
  const limit = optionalInteger(input, "Limit", 1, maxLimit) ?? defaultLimit;
  const marker = optionalString(input, "Marker", { min: 1, max: 1024 });
  let offset = 0;
  if (marker !== undefined) {
    offset = Number(
      Buffer.from(marker, "base64url")
        .toString("utf8")
        .replace(/^offset:/, ""),
    );
    if (!Number.isInteger(offset) || offset < 0) throw validation("Invalid Marker");
  }
  const slice = items.slice(offset, offset + limit);
  const truncated = offset + limit < items.length;
  return {
    items: slice,
    Truncated: truncated,
    ...(truncated ? { NextMarker: Buffer.from(`offset:${offset + limit}`).toString("base64url") } : {}),
  };
}
