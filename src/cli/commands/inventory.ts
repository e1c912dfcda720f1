import type { Command } from "commander";
import type { Inventory } from "../../inventory/inventory.js";
import { show } from "../../manifest/text.js";
import { EXIT } from "../exit-codes.js";
import { openOutFile } from "../out-file.js";
import { type CommonFlags, configFrom, openHsm } from "../runtime.js";

interface InventoryFlags extends CommonFlags {
  out?: string;
  mapping?: string;
}

export function registerInventoryCommand(program: Command): void {
  program
    .command("inventory")
    .description(
      "List the token's private and secret keys as a manifest (inferred key_spec, default key_usage, an alias suggested from the label). Keys that cannot be migrated are listed separately on standard error, with the reason; so are keys whose row (from --mapping) enqueue would reject, which are left out. Exit 0 when every written row is one enqueue accepts, 1 when keys were left out, 2 on a usage or configuration error.",
    )
    .option("--out <file>", "write the manifest to this file instead of standard output")
    .option(
      "--region <region>",
      "fill the region column (default: leave it empty, AWS_REGION applies at enqueue)",
    )
    .option(
      "--mapping <file>",
      "JSON (or YAML) rules that turn HSM attributes into alias, description and tags: templates with {label} {id} {keyType} {keySpec} {keyUsage} {region} and filters |lower |upper |slug |short; the first matching rule (match.label regex, match.keySpec) wins, else default (README)",
    )
    .action(async (flags: InventoryFlags) => {
      const config = configFrom(flags);
      const [{ inventoryManifest }, { loadMapping }, { createLogger }] = await Promise.all([
        import("../../inventory/inventory.js"),
        import("../../inventory/mapping.js"),
        import("../../shared/logger.js"),
      ]);
      const mapping = flags.mapping ? loadMapping(flags.mapping) : undefined;
      const logger = createLogger({
        level: config.logLevel,
        format: config.logFormat,
        base: { component: "inventory" },
      });
      const file = flags.out ? await openOutFile(flags.out) : undefined;
      try {
        const hsm = await openHsm(config, logger);
        let inventory: Inventory;
        try {
          inventory = await inventoryManifest(await hsm.listKeys(), flags.region, mapping);
        } finally {
          await hsm.close();
        }
        if (file) await file.write(inventory.csv);
        else process.stdout.write(inventory.csv);
        for (const key of inventory.unmigratable)
          process.stderr.write(`cannot migrate: ${key.label} (id ${key.idHex || "none"}): ${key.reason}\n`);
        for (const key of inventory.rejected)
          process.stderr.write(
            `left out: ${show(key.label)} (id ${key.idHex || "none"}): enqueue would reject its row: ${key.problems.join("; ")}${mapping ? " (fix the --mapping rule that makes it)" : ""}\n`,
          );
        const leftOut =
          inventory.rejected.length > 0 ? `, ${inventory.rejected.length} left out (see above)` : "";
        process.stderr.write(
          `${inventory.migratable} keys can be migrated, ${inventory.unmigratable.length} cannot${leftOut}\n`,
        );
        process.exitCode = inventory.rejected.length > 0 ? EXIT.failed : EXIT.ok;
      } finally {
        await file?.close();
      }
    });
}
