import { type Logger, type LoggerOptions, pino } from "pino";
import { type LogFormat, prettyDestination } from "./log-format.js";

/**
 * Paths that may hold a secret anywhere in a log object. Redaction is by path (pino `redact`), so a secret
 * placed under one of these names is censored at any of the listed depths. Code must still never log a
 * secret on purpose: this is the second line of defence.
 */
const SECRET_NAMES = [
  "pin",
  "pinFile",
  "password",
  "importToken",
  "ImportToken",
  "wrappedMaterial",
  "EncryptedKeyMaterial",
  "encryptedKeyMaterial",
  "material",
  "plaintext",
  "Plaintext",
  "privateKey",
  "secretAccessKey",
  "sessionToken",
  "accessKeyId",
  "authorization",
  "Authorization",
  "credentials",
];

export const REDACT_PATHS = SECRET_NAMES.flatMap((name) => [name, `*.${name}`, `*.*.${name}`]);

export type { Logger };

export interface LoggerSettings {
  level?: string;
  /** Destination stream; defaults to stderr so stdout stays free for command output (reports, JSON). */
  destination?: NodeJS.WritableStream;
  /** Fields added to every line (e.g. `component`). */
  base?: Record<string, unknown>;
  /**
   * JSON lines, or readable lines (`HSM2KMS_LOG_FORMAT`). @defaultValue `pretty` when the logs go to
   * standard error and it is a terminal, else `json`
   */
  format?: LogFormat | undefined;
}

/** The project's pino logger: JSON lines on stderr (readable lines on a terminal), secrets censored by path. */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? "info",
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    base: { ...settings.base },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const toTerminal = settings.destination === undefined && process.stderr.isTTY === true;
  const format = settings.format ?? (toTerminal ? "pretty" : "json");
  if (format === "pretty")
    return pino(options, prettyDestination(settings.destination ?? process.stderr, toTerminal));
  return pino(options, (settings.destination as pino.DestinationStream | undefined) ?? pino.destination(2));
}

/** A logger that discards everything: for unit tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
