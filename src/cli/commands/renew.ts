import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import type { RenewLine } from "../../lifecycle/renew.js";
import { formatDuration, parseDurationMs } from "../../shared/durations.js";
import { ConfigError, fatal } from "../../shared/errors.js";
import type { HsmPort } from "../../shared/hsm/types.js";
import type { KmsPort } from "../../shared/kms/types.js";
import { describeTarget } from "../../shared/targets.js";
import { phaseSettingsOf, retryLimitsOf } from "../../workers/settings.js";
import { EXIT } from "../exit-codes.js";
import {
  type CommonFlags,
  configFrom,
  openHsm,
  openRuntime,
  TOOL_VERSION,
  withCommonFlags,
} from "../runtime.js";

interface RenewFlags extends CommonFlags {
  before?: string;
  renewFor?: string;
  dryRun?: boolean;
}

function durationFlag(name: string, text: string): number {
  const ms = parseDurationMs(text);
  if (!ms) throw new ConfigError(`${name}: "${text}" is not a duration such as 14d, 12h or 90m`);
  return ms;
}

function lineText(line: RenewLine): string {
  const urgent = line.urgent ? "URGENT " : "";
  const next = line.newValidTo ? `, new ValidTo ${line.newValidTo}` : "";
  return `${urgent}${line.result}: ${line.source} (${describeTarget(line)}, KMS key ${line.keyId}): ValidTo ${line.validTo}${next}, next renewal ${line.nextRenewal}: ${line.detail}\n`;
}

/** `hsm2kms renew`: import the same HSM key again, with a later ValidTo, into keys whose material expires soon. */
export async function runRenew(flags: RenewFlags): Promise<number> {
  const config = configFrom(flags);
  // The flags win; without them, the scheduled renewal's own settings.
  const beforeMs = flags.before === undefined ? config.renewBeforeMs : durationFlag("--before", flags.before);
  const renewForMs =
    flags.renewFor === undefined ? config.renewForMs : durationFlag("--renew-for", flags.renewFor);
  if (renewForMs !== undefined && renewForMs > 365 * 86_400_000)
    throw new ConfigError(
      `--renew-for: "${flags.renewFor}" is beyond 365 days, the longest ValidTo KMS accepts`,
    );
  const beforeText = flags.before ?? formatDuration(beforeMs);
  // Loaded here, not at start-up: they bring the AWS SDK, BullMQ and pkcs11js, which --version never needs.
  const { renewExpiringMaterial } = await import("../../lifecycle/renew.js");
  const { createKmsAdapter } = await import("../../shared/kms/index.js");
  const runtime = await openRuntime(config, "renew");
  const { accountPortCache } = await import("../../shared/kms/account-ports.js");
  const ports = accountPortCache(config, createKmsAdapter);
  const kms = (region: string, account?: string): KmsPort => ports.portFor(region, account);
  let hsm: HsmPort | undefined;
  try {
    // A dry run only reads: it needs no HSM.
    if (!flags.dryRun) hsm = await openHsm(config, runtime.logger);
    const context = {
      hsm: () => {
        if (!hsm) throw fatal("HSM_NOT_CONFIGURED", "renew --dry-run does not open the HSM");
        return hsm;
      },
      kms,
      lookup: async (id: string) => (await runtime.ledger.get(id))?.record,
      now: () => new Date(),
      randomBytes,
      logger: runtime.logger,
      settings: phaseSettingsOf(config, TOOL_VERSION),
    };
    const limits = retryLimitsOf(config);
    const lines = await renewExpiringMaterial(
      runtime.ledger,
      context,
      limits,
      { beforeMs, renewForMs, dryRun: flags.dryRun === true },
      (line) => (line.result === "failed" ? process.stderr : process.stdout).write(lineText(line)),
    );
    const count = (result: RenewLine["result"]) => lines.filter((line) => line.result === result).length;
    const urgent = lines.filter((line) => line.urgent).length;
    const busy = count("busy") > 0 ? `, ${count("busy")} being renewed by another host` : "";
    process.stderr.write(
      flags.dryRun
        ? `renew: dry run: ${count("would-renew")} keys due (expiring within ${beforeText}), ${count("not-due")} not due${busy}, ${urgent} urgent\n`
        : `renew: ${count("renewed")} renewed, ${count("not-due")} not due${busy}, ${count("failed")} failed (${urgent} urgent)\n`,
    );
    return count("failed") > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await hsm?.close();
    ports.close();
    await runtime.close();
  }
}

export function registerRenewCommand(program: Command): void {
  withCommonFlags(
    program
      .command("renew")
      .summary("Import the same HSM key again, with a later ValidTo, before KMS deletes expiring material")
      .description(
        [
          "Keys migrated with expires_at (KEY_MATERIAL_EXPIRES) become unusable at ValidTo: KMS deletes the material and the key waits in PendingImport until the SAME material is imported again. For each migrated key whose material expires within --before (or has expired), renew runs the migration's own phases again on an HSM host: GetParametersForImport, wrap of the same HSM key inside the HSM (its fingerprint checked against the one preflight recorded), ImportKeyMaterial with ValidTo = now + --renew-for (default: HSM2KMS_RENEW_FOR, else the period the key was last imported or renewed for; at most 365 days), and verify against the HSM's public key or MAC. The ledger keeps the new ValidTo (the report's material_expires_at).",
          "One line per expiring key: ValidTo, next renewal (ValidTo less --before) and what was done. A key whose HSM key is gone or changed is an URGENT failure naming the key and when KMS deletes its material. Each key is claimed in the ledger while it is renewed, so a worker's scheduled renewal (HSM2KMS_RENEW_INTERVAL) running at the same time skips it, and this run skips one a worker is renewing ('busy'). Needs the HSM settings (not with --dry-run) and KMS GetParametersForImport, ImportKeyMaterial and the verify calls.",
          "Exit 0 when every due key was renewed, 1 when one failed, 2 on a usage or configuration error.",
        ].join("\n\n"),
      )
      .option(
        "--before <duration>",
        "renew material that expires within this long, e.g. 14d, 12h (default: HSM2KMS_RENEW_BEFORE, 14d)",
      )
      .option(
        "--renew-for <duration>",
        "new ValidTo = now + this, at most 365d (default: HSM2KMS_RENEW_FOR, else the key's last period)",
      )
      .option("--dry-run", "list the keys due and what would be done; change nothing, open no HSM"),
  ).action(async (flags: RenewFlags) => {
    process.exitCode = await runRenew(flags);
  });
}
