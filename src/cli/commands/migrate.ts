import { createWriteStream } from "node:fs";
import type { Command } from "commander";
import type { Ledger } from "../../shared/ledger/index.js";
import { EXIT } from "../exit-codes.js";
import { type CommonFlags, configFrom, openRuntime, withCommonFlags } from "../runtime.js";
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
    const enqueued = await runEnqueue(path, flags);
    const worked = await runWorker({ ...flags, untilIdle: true });
    const runtime = await openRuntime(configFrom(flags), "migrate");
    try {
      await printKeyTable(runtime.ledger, process.stdout);
      if (flags.out) {
        const file = createWriteStream(flags.out, { mode: 0o640 });
        await writeReport(runtime.ledger, "csv", file);
        await new Promise<void>((resolve) => file.end(() => resolve()));
      }
    } finally {
      await runtime.close();
    }
    process.exitCode = enqueued === EXIT.ok && worked === EXIT.ok ? EXIT.ok : EXIT.failed;
  });
}
