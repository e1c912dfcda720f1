import type { Command } from "commander";
import { loadConfig, redactUrl } from "../../shared/config.js";

/** `hsm2kms config`: validates the configuration and prints it (secrets redacted). Exit 2 on a bad value. */
export function registerConfigCommand(program: Command): void {
  program
    .command("config")
    .description(
      "Validate the configuration (environment variables) and print it as JSON, secrets redacted. Exits 2 naming the first bad variable.",
    )
    .action(() => {
      const config = loadConfig(process.env);
      const shown = {
        ...config,
        redisUrl: redactUrl(config.redisUrl),
        accounts: config.accounts ? [...config.accounts.values()] : undefined,
      };
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    });
}
