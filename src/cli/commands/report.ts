import type { Command } from "commander";
import { reportStart, writeReport } from "../../assurance/report.js";
import type { CampaignKmsLookup } from "../../campaign/marker.js";
import { redactUrl } from "../../shared/config.js";
import { ConfigError } from "../../shared/errors.js";
import { EXIT } from "../exit-codes.js";
import { openOutFile } from "../out-file.js";
import { type CommonFlags, configFrom, openRuntime, type Runtime, withCommonFlags } from "../runtime.js";

interface ReportFlags extends CommonFlags {
  format?: string;
  out?: string;
}

/** Fails (exit 1) when the prefix has no whole ledger: an empty report would read as a campaign with no key. */
async function requireCampaign(runtime: Runtime, url: string, kms: CampaignKmsLookup): Promise<void> {
  try {
    const { checkCampaign } = await import("../../campaign/marker.js");
    const campaign = await checkCampaign(runtime.ledger, { url, kms });
    if (!campaign.ok) throw new Error(campaign.message);
  } catch (error) {
    await runtime.close();
    throw error;
  }
}

export async function runReport(flags: ReportFlags): Promise<number> {
  const format = flags.format ?? "csv";
  if (format !== "csv" && format !== "json")
    throw new ConfigError(`--format ${JSON.stringify(format)} is invalid: expected csv or json`);
  const config = configFrom(flags);
  // The destination is checked before Redis is touched: a wrong --out is a usage error, not a lost report.
  const file = flags.out ? await openOutFile(flags.out) : undefined;
  let runtime: Runtime | undefined;
  try {
    // The first bytes go out now: a destination that takes none (a full disk) fails before Redis is asked.
    await file?.write(reportStart(format));
    runtime = await openRuntime(config, "report");
    const { campaignKmsLookup } = await import("../../campaign/marker.js");
    await requireCampaign(runtime, redactUrl(config.redisUrl), campaignKmsLookup(config));
    const { notMigrated } = await writeReport(runtime.ledger, format, file?.stream ?? process.stdout, {
      header: file === undefined,
      renewBeforeMs: config.renewBeforeMs,
    });
    return notMigrated > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await file?.close();
    await runtime?.close();
  }
}

export function registerReportCommand(program: Command): void {
  withCommonFlags(
    program
      .command("report")
      .description(
        "Write one row per key: source_label, source_id, key_spec, key_usage, region, kms_key_id, kms_key_arn, alias, status, verified, attempts, error, material_expires_at (ValidTo of expiring material), next_renewal (ValidTo less HSM2KMS_RENEW_BEFORE), renewal_error (the last failed renewal). CSV values that start with = + - @ are neutralised. Exit 1 if any key is not migrated, or when no campaign exists under the prefix (nothing enqueued, or its ledger was lost).",
      )
      .option("--format <format>", "csv or json", "csv")
      .option("--out <file>", "write to this file instead of standard output"),
  ).action(async (flags: ReportFlags) => {
    process.exitCode = await runReport(flags);
  });
}
