import type { Command } from "commander";
import { printKeyTable } from "../../assurance/key-table.js";
import { writeReport } from "../../assurance/report.js";
import { createReportCsvStream } from "../../assurance/report-csv.js";
import { EXIT } from "../exit-codes.js";
import { openOutFile } from "../out-file.js";
import { type CommonFlags, configFrom, openHsm, openRuntime, withCommonFlags } from "../runtime.js";
import { runEnqueue } from "./enqueue.js";
import { runWorker } from "./worker.js";

interface MigrateFlags extends CommonFlags {
  out?: string;
  keyPolicy?: string;
}

export function registerMigrateCommand(program: Command): void {
  withCommonFlags(
    program
      .command("migrate")
      .argument("<manifest>", "manifest CSV")
      .description(
        "For one host and small runs: enqueue the manifest, run every phase here until nothing is left, then print one line per key (KMS key id, wrapping algorithm, verification). A row's account column sends its key to that AWS account, through the role HSM2KMS_ACCOUNTS_FILE names for it (a row naming an account the file lacks is rejected). Exit 1 if any key failed or any row was rejected.",
      )
      .option("--out <file>", "also write the CSV report (the `report` command's columns) to this file")
      .option("--key-policy <file>", "JSON key policy for every key whose row has no key_policy"),
  ).action(async (path: string, flags: MigrateFlags) => {
    process.exitCode = await runMigrate(path, flags);
  });
}

/**
 * Enqueues, works every phase here until idle, prints the keys. Checked first, before anything is enqueued:
 * the HSM (without it the HSM phases would not run and every key would stay queued) and --out.
 */
async function runMigrate(path: string, flags: MigrateFlags): Promise<number> {
  const config = configFrom(flags);
  const { silentLogger } = await import("../../shared/logger.js");
  // Library, token and PIN are proven before anything is enqueued: a wrong PIN would otherwise leave the
  // manifest's keys queued behind a configuration error.
  await (await openHsm(config, silentLogger())).close();
  const file = flags.out ? await openOutFile(flags.out) : undefined;
  try {
    // The report's header goes out now: a destination that takes no bytes (a full disk) fails before any work.
    await file?.write(createReportCsvStream().header);
    const enqueued = await runEnqueue(path, flags);
    const worked = await runWorker({ ...flags, untilIdle: true });
    const runtime = await openRuntime(config, "migrate");
    let unfinished = 0;
    try {
      await printKeyTable(runtime.ledger, process.stdout);
      if (file) await writeReport(runtime.ledger, "csv", file.stream, { header: false });
      const { byStatus } = await runtime.ledger.counts();
      unfinished = (byStatus["queued"] ?? 0) + (byStatus["in_progress"] ?? 0);
    } finally {
      await runtime.close();
    }
    if (unfinished > 0)
      process.stderr.write(
        `hsm2kms migrate: ${unfinished} ${unfinished === 1 ? "key is" : "keys are"} unfinished (queued or in progress); run \`hsm2kms worker --until-idle\` with the same settings to finish them, then \`hsm2kms report\`\n`,
      );
    return enqueued === EXIT.ok && worked === EXIT.ok && unfinished === 0 ? EXIT.ok : EXIT.failed;
  } finally {
    await file?.close();
  }
}
