const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DAY_MS = UNITS_MS["d"] ?? 86_400_000;

/**
 * Parses a duration such as `900ms`, `30s`, `15m`, `2h`, `1d` (a bare number is milliseconds), or several
 * such parts in a row, as {@link formatDuration} prints them (`3m20s`, `2h05m`). Returns undefined when the
 * text is not a duration.
 */
export function parseDurationMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed));
  if (!/^(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*)+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount = "0", unit = "ms"] of trimmed.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/g))
    total += Number(amount) * (UNITS_MS[unit] ?? 1);
  return Math.round(total);
}

/**
 * Formats milliseconds for people: `850ms`, `12.5s`, `3m20s`, `2h05m`, and whole days as `14d` (not `336h00m`).
 * {@link parseDurationMs} reads back what it prints (to the precision shown).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "unknown";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms % DAY_MS === 0) return `${ms / DAY_MS}d`;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 3600)
    return `${Math.floor(totalSeconds / 60)}m${String(totalSeconds % 60).padStart(2, "0")}s`;
  const minutes = Math.round(totalSeconds / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}
