import { ConfigError } from "../shared/errors.js";

/**
 * The manifest file itself is unusable (empty, bad header, not CSV, not UTF-8 text): nothing in it can be
 * trusted, so no row is enqueued. A ConfigError, so the CLI prints it and exits with code 2.
 */
export class ManifestFileError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}
