import type { Command } from "commander";
import { createReportCsvStream } from "../../assurance/report-csv.js";
import type { Ledger } from "../../shared/ledger/index.js";
import { EXIT } from "../exit-codes.js";
import { openOutFile } from "../out-file.js";
import { type CommonFlags, configFrom, openHsm, openRuntime, withCommonFlags } from "../runtime.js";
import { runEnqueue } from "./enqueue.js";
import { writeReport } from "./report.js";
import { runWorker } from "./worker.js";

interface MigrateFlags extends CommonFlags {
  out?: string;
  keyPolicy?: string;
}

/** One line per key for people: what happened, the KMS key, how it was wrapped and proven. */
export async function printKeyTable(ledger: Ledger, out: NodeJS.WritableStream): Promise<void> {
  const rows: string[][] = [
    ["source_label", "status", "kms_key_id", "wrapping_algorithm", "verified", "detail"],
  ];
  for await (const record of ledger.records()) {
    rows.push([
      record.sourceKey?.label ?? record.source.label ?? record.source.idHex ?? "",
      record.status,
      record.kmsKeyId ?? "-",
      record.wrapPlan?.wrappingAlgorithm ?? "-",
      record.status === "migrated" ? (record.verified ?? "false") : "-",
      record.error
        ? `${record.error.code}: ${record.error.message}`
        : (record.checks?.map((check) => check.name).join(", ") ?? ""),
    ]);
  }
  const widths = rows[0]!
    .slice(0, -1)
    .map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows)
    out.write(
      `${row.map((cell, column) => (column < widths.length ? cell.padEnd(widths[column]!) : cell)).join("  ")}\n`,
    );
}

export function registerMigrateCommand(program: Command): void {
  withCommonFlags(
    program
      .command("migrate")
      .argument("<manifest>", "manifest CSV")
      .description(
        "For one host and small runs: enqueue the manifest, run every phase here until nothing is left, then print one line per key (KMS key id, wrapping algorithm, verification). Exit 1 if any key failed or any row was rejected.",
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
