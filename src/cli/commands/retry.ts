import type { Command } from "commander";
import { redactUrl } from "../../shared/config.js";
import { ConfigError } from "../../shared/errors.js";
import { EXIT } from "../exit-codes.js";
import { type CommonFlags, configFrom, openRuntime, withCommonFlags } from "../runtime.js";

interface RetryFlags extends CommonFlags {
  failed?: boolean;
  all?: boolean;
  json?: boolean;
}

export function registerRetryCommand(program: Command): void {
  withCommonFlags(
    program
      .command("retry")
      .description(
        "Re-queue failed keys whose failure a fix outside hsm2kms can cure (a KMS permission, a quota, an HSM that was down). Keys that cannot succeed as they are (not extractable or not wrappable, unsupported type, a bad manifest row, failed verification: README, Error codes, column retry --failed) are listed on stderr with their code and the fix, and left alone unless --all. Exit 1 when no campaign exists under the prefix (nothing enqueued, or its ledger was lost).",
      )
      .option("--failed", "re-queue failed keys (required)")
      .option(
        "--all",
        "also re-queue keys whose failure a retry cannot cure (after fixing the key, row or KMS key)",
      )
      .option(
        "--json",
        "print the summary as JSON (for scripts): requeued, and leftAlone with source, region and code per key",
      ),
  ).action(async (flags: RetryFlags) => {
    if (!flags.failed) throw new ConfigError("retry needs --failed (the only kind of retry there is)");
    const config = configFrom(flags);
    const runtime = await openRuntime(config, "retry");
    const [{ campaignKmsLookup, checkCampaign }, { requeueFailed }] = await Promise.all([
      import("../../campaign/marker.js"),
      import("../../campaign/retry.js"),
    ]);
    try {
      // "0 failed keys re-queued" on a lost ledger would read as nothing left to do.
      const campaign = await checkCampaign(runtime.ledger, {
        url: redactUrl(config.redisUrl),
        kms: campaignKmsLookup(config),
      });
      if (!campaign.ok) throw new Error(campaign.message);
      const result = await requeueFailed(runtime.ledger, runtime.queues, {
        includePermanent: Boolean(flags.all),
      });
      for (const skipped of result.skipped)
        process.stderr.write(
          `left alone: ${skipped.source} (${skipped.region}): ${skipped.code}: a retry cannot cure it: ${skipped.hint} (--all re-queues it anyway)\n`,
        );
      process.stdout.write(
        flags.json
          ? `${JSON.stringify({ requeued: result.requeued, leftAlone: result.skipped }, null, 2)}\n`
          : `${result.requeued} failed keys re-queued, ${result.skipped.length} left alone\n`,
      );
      process.exitCode = result.skipped.length > 0 ? EXIT.failed : EXIT.ok;
    } finally {
      await runtime.close();
    }
  });
}
