import { isRegionName } from "../shared/config.js";
import { parseDurationMs } from "../shared/durations.js";
import { ConfigError } from "../shared/errors.js";

/**
 * A flag documented in seconds: a bare number is seconds (`30`, `0.5`); a duration with its unit is taken
 * as written (`500ms`, `2m`). Below `minMs` or past `maxMs` is a usage error naming the flag (exit 2): an
 * interval of 0 or `abc` would spin, a deadline of `abc` would never hold.
 */
export function secondsFlag(flag: string, text: string, minMs: number, maxMs: number): number {
  const trimmed = text.trim();
  const ms = /^\d+(\.\d+)?$/.test(trimmed) ? Math.round(Number(trimmed) * 1000) : parseDurationMs(trimmed);
  if (ms === undefined || !Number.isFinite(ms) || ms < minMs || ms > maxMs)
    throw new ConfigError(
      `${flag} "${text}" is invalid: expected seconds (e.g. 30) or a duration with its unit (e.g. 500ms, 2m), from ${minMs / 1000}s to ${maxMs / 1000}s`,
    );
  return ms;
}

/** `--regions a,b`: each entry must look like an AWS Region (a worker serving `not-a-region` serves nothing). */
export function regionsFlag(text: string): string[] {
  const regions = text
    .split(",")
    .map((region) => region.trim())
    .filter(Boolean);
  const bad = regions.filter((region) => !isRegionName(region));
  if (regions.length === 0 || bad.length > 0)
    throw new ConfigError(
      `--regions "${text}" is invalid: ${bad.length > 0 ? `${bad.join(", ")} is not` : "expected"} an AWS Region name such as us-east-1 (a comma-separated list)`,
    );
  return regions;
}
