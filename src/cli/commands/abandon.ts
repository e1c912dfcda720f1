import type { Command } from "commander";
import type { AbandonLine } from "../../lifecycle/abandon.js";
import type { CleanupKmsPort } from "../../lifecycle/cleanup-kms.js";
import { redactUrl } from "../../shared/config.js";
import { EXIT } from "../exit-codes.js";
import { type CommonFlags, configFrom, openRuntime, withCommonFlags } from "../runtime.js";

interface AbandonFlags extends CommonFlags {
  all?: boolean;
  orphans?: boolean;
  yes?: boolean;
}

function lineText(line: AbandonLine): string {
  const key = line.keyId ? `KMS key ${line.keyId}` : "no KMS key";
  const orphan = line.kind === "orphan" ? " [orphan: not in the ledger]" : "";
  return `${line.result}: ${line.source} (${line.region}, ${key})${orphan}: ${line.detail}\n`;
}

/** `hsm2kms abandon`: give up a campaign's keys in KMS, listing first, acting with --yes. */
export async function runAbandon(flags: AbandonFlags): Promise<number> {
  const config = configFrom(flags);
  // Loaded here, not at start-up: they bring the AWS SDK and ioredis, which --version and --help never need.
  const { campaignKeysInKms, campaignKmsLookup, noCampaignMessage } = await import(
    "../../campaign/marker.js"
  );
  const { abandonCampaign } = await import("../../lifecycle/abandon.js");
  const { deleteCampaignState } = await import("../../lifecycle/campaign-state.js");
  const { createCleanupKms } = await import("../../lifecycle/cleanup-kms.js");
  const runtime = await openRuntime(config, "abandon");
  const { accountPortCache } = await import("../../shared/kms/account-ports.js");
  const ports = accountPortCache(config, createCleanupKms);
  const kms = (region: string, account?: string): CleanupKmsPort => ports.portFor(region, account);
  try {
    const prefix = config.queuePrefix;
    const known = (await runtime.ledger.campaign()) !== undefined || (await runtime.ledger.size()) > 0;
    if (!known && !flags.orphans) {
      const note = await campaignKeysInKms(prefix, campaignKmsLookup(config));
      process.stderr.write(
        `hsm2kms: ${noCampaignMessage(prefix, redactUrl(config.redisUrl))}.${note} To remove keys tagged with this campaign, run abandon --orphans\n`,
      );
      return EXIT.failed;
    }
    const act = flags.yes === true;
    const lines = await abandonCampaign(
      runtime.ledger,
      { kms },
      {
        prefix,
        all: flags.all === true,
        orphans: flags.orphans === true,
        act,
        regions: flags.region ? [flags.region] : undefined,
        defaultRegion: config.region,
        deletionWindowDays: config.deletionWindowDays,
      },
      (line) => process.stdout.write(lineText(line)),
    );
    const count = (result: AbandonLine["result"]) => lines.filter((line) => line.result === result).length;
    const failed = count("failed");
    let dropped = "";
    if (act && flags.all && !flags.region && failed === 0 && known) {
      let live = 0;
      for await (const record of runtime.ledger.records()) if (!record.abandonedAt) live++;
      if (live === 0) {
        const keys = await deleteCampaignState(runtime.redis, prefix);
        dropped = `; every key abandoned, so the campaign's Redis state (queues, ledger, marker: ${keys} keys) was deleted`;
      } else dropped = `; ${live} records not abandoned (see above), so the campaign's Redis state is kept`;
    }
    process.stderr.write(
      act
        ? `abandon: ${count("abandoned")} abandoned, ${count("already-abandoned")} already abandoned, ${count("left-alone")} left alone (not this campaign's), ${failed} failed${dropped}\n`
        : `abandon: dry run: ${count("would-abandon")} keys would be abandoned (material and alias deleted, deletion scheduled in ${config.deletionWindowDays} days), ${count("already-abandoned")} already abandoned, ${count("left-alone")} left alone; run again with --yes to act\n`,
    );
    return failed > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    ports.close();
    await runtime.close();
  }
}

export function registerAbandonCommand(program: Command): void {
  withCommonFlags(
    program
      .command("abandon")
      .summary(
        "Clean up a campaign in KMS: delete material and aliases, schedule its keys' deletion (--yes acts)",
      )
      .description(
        [
          "For the campaign's keys that are not migrated (with --all: every key it created, e.g. after a rehearsal in a real account): DeleteImportedKeyMaterial, DeleteAlias for the alias the campaign created (if it still names the key), ScheduleKeyDeletion with HSM2KMS_DELETION_WINDOW_DAYS (7-30), then the ledger record is marked abandoned (failed, code ABANDONED; retry --failed leaves it). A key whose hsm2kms:campaign tag (read from the key) is not this campaign's prefix is never touched: it is listed as left-alone.",
          "--orphans also sweeps the keys tagged hsm2kms:campaign=<prefix> that the ledger does not know, or knows with another KMS key (a late CreateKey from a host that lost its job), found through the Resource Groups Tagging API (eventually consistent: run again later to catch a key created moments ago). With --all --yes and no --region, once every record is abandoned, the campaign's queues, ledger and marker are deleted from Redis.",
          "Without --yes nothing changes: each key is listed with what would be done. Stop the campaign's workers first. Idempotent: a repeat skips what is done. Exit 0 when nothing failed, 1 when a key could not be abandoned (named, with the reason) or no campaign exists under the prefix (without --orphans), 2 on a usage or configuration error.",
        ].join("\n\n"),
      )
      .option("--all", "every key the campaign created, migrated ones too")
      .option("--orphans", "also keys tagged with this campaign that the ledger does not know")
      .option("--yes", "act (default: list what would be done)"),
  ).action(async (flags: AbandonFlags) => {
    process.exitCode = await runAbandon(flags);
  });
}
