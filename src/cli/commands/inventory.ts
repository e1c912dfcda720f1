import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { inventoryManifest } from "../../producer/inventory.js";
import { loadMapping } from "../../producer/mapping.js";
import { createLogger } from "../../shared/logger.js";
import { EXIT } from "../exit-codes.js";
import { type CommonFlags, configFrom, openHsm } from "../runtime.js";

interface InventoryFlags extends CommonFlags {
  out?: string;
  mapping?: string;
}

export function registerInventoryCommand(program: Command): void {
  program
    .command("inventory")
    .description(
      "List the token's private and secret keys as a manifest (inferred key_spec, default key_usage, an alias suggested from the label). Keys that cannot be migrated are listed separately on standard error, with the reason.",
    )
    .option("--out <file>", "write the manifest to this file instead of standard output")
    .option(
      "--region <region>",
      "fill the region column (default: leave it empty, AWS_REGION applies at enqueue)",
    )
    .option(
      "--mapping <file>",
      "JSON rules that turn HSM attributes into alias, description and tags: templates with {label} {id} {keyType} {keySpec} {keyUsage} {region} and filters |lower |upper |slug |short; the first matching rule (match.label regex, match.keySpec) wins, else default (README)",
    )
    .action(async (flags: InventoryFlags) => {
      const config = configFrom(flags);
      const mapping = flags.mapping ? loadMapping(flags.mapping) : undefined;
      const logger = createLogger({ level: config.logLevel, base: { component: "inventory" } });
      const hsm = await openHsm(config, logger);
      try {
        const inventory = await inventoryManifest(await hsm.listKeys(), flags.region, mapping);
        if (flags.out) await writeFile(flags.out, inventory.csv);
        else process.stdout.write(inventory.csv);
        for (const key of inventory.unmigratable)
          process.stderr.write(`cannot migrate: ${key.label} (id ${key.idHex || "none"}): ${key.reason}\n`);
        process.stderr.write(
          `${inventory.migratable} keys can be migrated, ${inventory.unmigratable.length} cannot\n`,
        );
        process.exitCode = EXIT.ok;
      } finally {
        await hsm.close();
      }
    });
}
