/**
 * Human-readable log lines for a terminal: pino's JSON line turned into
 * `12:00:01.234 WARN  worker: retrying ... code=KMS_UNAVAILABLE phase=import`. pino redacts before it
 * serialises, so a censored field stays `[redacted]` here too. Small on purpose: pino-pretty's dependencies
 * are not worth a line format.
 */

/** How log lines are written (`HSM2KMS_LOG_FORMAT`): JSON lines, or one readable line per entry. */
export type LogFormat = "json" | "pretty";

export const LOG_FORMATS: readonly LogFormat[] = ["json", "pretty"];

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: "TRACE", color: "\u001b[90m" },
  20: { name: "DEBUG", color: "\u001b[36m" },
  30: { name: "INFO ", color: "\u001b[32m" },
  40: { name: "WARN ", color: "\u001b[33m" },
  50: { name: "ERROR", color: "\u001b[31m" },
  60: { name: "FATAL", color: "\u001b[35m" },
};
const RESET = "\u001b[0m";
/** Fields the line shows in its own place, or that say nothing to a reader at a terminal. */
const SHOWN_APART = new Set(["level", "time", "msg", "component", "pid", "hostname"]);

function fieldValue(value: unknown): string {
  if (typeof value === "string") return /[\s="]/.test(value) || value === "" ? JSON.stringify(value) : value;
  return JSON.stringify(value) ?? String(value);
}

/** One pino JSON line as a readable line (with a trailing newline); a line that is not JSON passes through. */
export function formatLogLine(line: string, color: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith("\n") ? line : `${line}\n`;
  }
  const level = LEVELS[entry["level"] as number] ?? { name: String(entry["level"]), color: "" };
  const time = typeof entry["time"] === "string" ? entry["time"].slice(11, 23) : "";
  const component = typeof entry["component"] === "string" ? `${entry["component"]}: ` : "";
  const fields = Object.entries(entry)
    .filter(([key]) => !SHOWN_APART.has(key))
    .map(([key, value]) => `${key}=${fieldValue(value)}`)
    .join(" ");
  const levelText = color ? `${level.color}${level.name}${RESET}` : level.name;
  const message = typeof entry["msg"] === "string" ? entry["msg"] : "";
  return `${time} ${levelText} ${component}${message}${fields ? ` ${fields}` : ""}\n`;
}

/** A pino destination that writes each entry to `out` as a readable line. */
export function prettyDestination(out: NodeJS.WritableStream, color: boolean): { write(line: string): void } {
  return { write: (line: string) => void out.write(formatLogLine(line, color)) };
}
