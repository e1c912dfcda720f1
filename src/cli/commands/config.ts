import type { Command } from "commander";
import { loadConfig, redactUrl } from "../../shared/config.js";
import { type ConfigRow, describeConfig } from "../../shared/config-schema.js";

/** Columns of the `config` table, as wide as their widest cell. */
function formatRows(rows: ConfigRow[]): string {
  const header: ConfigRow = {
    name: "VARIABLE",
    value: "VALUE",
    source: "SOURCE" as ConfigRow["source"],
    defaultText: "DEFAULT",
    explanation: "MEANING",
  };
  const cells = [header, ...rows].map((row) => [
    row.name,
    row.value || "-",
    row.source,
    row.defaultText || "-",
    row.explanation,
  ]);
  const widths = [0, 1, 2, 3].map((column) => Math.max(...cells.map((cell) => cell[column]!.length)));
  return cells
    .map((cell) => cell.map((text, column) => (column < 4 ? text.padEnd(widths[column]!) : text)).join("  "))
    .join("\n");
}

/** `hsm2kms config`: validates the configuration and prints it (secrets redacted). Exit 2 on a bad value. */
export function registerConfigCommand(program: Command): void {
  program
    .command("config")
    .description(
      "Validate the configuration (environment variables) and print every variable: the value understood, where it came from (environment, default or unset), its default and what it does; secrets redacted. Exits 2 naming the first bad variable.",
    )
    .option(
      "--json",
      "print JSON instead: variables (name, value, defaultText, source, explanation) and config (the validated settings)",
    )
    .action((flags: { json?: boolean }) => {
      const config = loadConfig(process.env);
      const rows = describeConfig(config, process.env);
      if (!flags.json) {
        process.stdout.write(`${formatRows(rows)}\n`);
        return;
      }
      const shown = {
        ...config,
        redisUrl: redactUrl(config.redisUrl),
        accounts: config.accounts ? [...config.accounts.values()] : undefined,
      };
      process.stdout.write(`${JSON.stringify({ variables: rows, config: shown }, null, 2)}\n`);
    });
}
