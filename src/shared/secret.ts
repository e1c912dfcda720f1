import { inspect } from "node:util";

/**
 * Holds a secret (a PIN, a password) so that logging, JSON serialisation, string interpolation and
 * util.inspect all print `[redacted]`. Only `reveal()` gives the value, at the one place that needs it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return "[redacted]";
  }

  toJSON(): string {
    return "[redacted]";
  }

  [inspect.custom](): string {
    return "Secret([redacted])";
  }
}
