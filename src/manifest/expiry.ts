import { show } from "./text.js";

/** KMS: key material may expire at most 365 days after the import. */
export const MAX_EXPIRY_DAYS = 365;
const DAY_MS = 86_400_000;

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}:?\d{2})?)?$/;

export type ExpiryResult = { expiresAt: Date } | { problem: string };

/**
 * Parses expires_at: an ISO-8601 date-time with a time zone (`2026-01-31T12:00:00Z`,
 * `2026-01-31T14:00+02:00`) or a date (midnight UTC), which must be after `now` and at most
 * MAX_EXPIRY_DAYS after it.
 */
export function parseExpiry(text: string, now: Date): ExpiryResult {
  const match = DATE_TIME.exec(text);
  const expected = "expected e.g. 2026-01-31T12:00:00Z or 2026-01-31";
  if (!match) return { problem: `${show(text)} is not an ISO-8601 time; ${expected}` };
  const [, year, month, day, hour, minute, second, fraction, zone] = match;
  if (hour !== undefined && zone === undefined)
    return { problem: `${show(text)} has no time zone; expected Z or an offset such as +02:00 at the end` };
  const numbers = [year, month, day, hour ?? "0", minute ?? "0", second ?? "0"].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const [y, mo, d, h, mi, s] = numbers;
  const ms = Number((fraction ?? "0").padEnd(3, "0").slice(0, 3));
  const offsetMinutes = zoneOffsetMinutes(zone);
  const local = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const check = new Date(local);
  // Date.UTC rolls 2026-02-30 over into March: a changed field means the input named no such time.
  if (
    check.getUTCFullYear() !== y ||
    check.getUTCMonth() !== mo - 1 ||
    check.getUTCDate() !== d ||
    check.getUTCHours() !== h ||
    check.getUTCMinutes() !== mi ||
    check.getUTCSeconds() !== s ||
    offsetMinutes === undefined
  )
    return { problem: `${show(text)} is not a valid date and time; ${expected}` };
  return inWindow(text, new Date(local - offsetMinutes * 60_000), now);
}

function zoneOffsetMinutes(zone: string | undefined): number | undefined {
  if (zone === undefined || zone === "Z" || zone === "z") return 0;
  const digits = zone.slice(1).replace(":", "");
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2));
  if (hours > 23 || minutes > 59) return undefined;
  return (zone.startsWith("-") ? -1 : 1) * (hours * 60 + minutes);
}

function inWindow(text: string, expiresAt: Date, now: Date): ExpiryResult {
  if (expiresAt.getTime() <= now.getTime())
    return { problem: `${show(text)} is not in the future; expected a time after ${now.toISOString()}` };
  const latest = new Date(now.getTime() + MAX_EXPIRY_DAYS * DAY_MS);
  if (expiresAt.getTime() > latest.getTime())
    return {
      problem: `${show(text)} is more than ${MAX_EXPIRY_DAYS} days ahead; expected a time not after ${latest.toISOString()} (KMS limit)`,
    };
  return { expiresAt };
}
