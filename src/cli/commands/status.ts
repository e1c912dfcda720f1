import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import type { StatusReport } from "../../campaign/status.js";
import { redactUrl } from "../../shared/config.js";
import { formatDuration } from "../../shared/durations.js";
import { PHASES } from "../../shared/migration.js";
import { EXIT } from "../exit-codes.js";
import { secondsFlag } from "../flag-values.js";
import {
  type CommonFlags,
  configFrom,
  explainRedisFailure,
  openRuntime,
  withCommonFlags,
} from "../runtime.js";

interface StatusFlags extends CommonFlags {
  json?: boolean;
  watch?: boolean;
  interval?: string;
  metricsPort?: string;
}

const pad = (text: string | number, width: number) => String(text).padStart(width);

const seconds = (value: number) => formatDuration(value * 1000);
const percentText = (value: number) => `${Math.floor(value)}%`;

/** The per-Region lines (only with more than one Region: the first line already says it all for one). */
function regionLines(status: StatusReport): string[] {
  if (status.byRegion.length < 2) return [];
  const width = Math.max(6, ...status.byRegion.map((region) => region.region.length)) + 2;
  return [
    "",
    `${"Region".padEnd(width)}${pad("keys", 7)}${pad("migrated", 10)}${pad("failed", 8)}${pad("remaining", 11)}${pad("done", 6)}  at best`,
    ...status.byRegion.map(
      (region) =>
        `${region.region.padEnd(width)}${pad(region.total, 7)}${pad(region.migrated, 10)}${pad(region.failed, 8)}${pad(region.remaining, 11)}${pad(percentText(region.percentFinished), 6)}  ${seconds(region.quotaFloorSeconds)}`,
    ),
  ];
}

/**
 * The per-target lines (only when some keys go to another account): each account and Region has its own
 * quotas, so its own fastest finish.
 */
function targetLines(status: StatusReport): string[] {
  if (!status.byTarget.some((target) => target.account !== null)) return [];
  const width = Math.max(6, ...status.byTarget.map((target) => target.region.length)) + 2;
  return [
    "",
    `${"account".padEnd(14)}${"Region".padEnd(width)}${pad("keys", 7)}${pad("migrated", 10)}${pad("failed", 8)}${pad("remaining", 11)}${pad("done", 6)}  at best`,
    ...status.byTarget.map(
      (target) =>
        `${(target.account ?? "(caller)").padEnd(14)}${target.region.padEnd(width)}${pad(target.total, 7)}${pad(target.migrated, 10)}${pad(target.failed, 8)}${pad(target.remaining, 11)}${pad(percentText(target.percentFinished), 6)}  ${seconds(target.quotaFloorSeconds)}`,
    ),
  ];
}

/** The expiring material's lines (only when some key's material expires). */
function expiryLines(status: StatusReport): string[] {
  const expiry = status.expiringMaterial;
  if (!expiry || expiry.keys === 0) return [];
  const schedule = expiry.nextScheduledRun
    ? `scheduled renewal next runs ${expiry.nextScheduledRun}`
    : "NO scheduled renewal (no worker serves renew: run one on an HSM host, or hsm2kms renew)";
  const lines = [
    "",
    // The soonest key is due whenever any is: its next renewal is then already past.
    `expiring material: ${expiry.keys} ${expiry.keys === 1 ? "key" : "keys"}, ${expiry.due} due for renewal, ${expiry.expired} expired; soonest ValidTo ${expiry.soonestValidTo} (${expiry.soonestKey}), next renewal ${expiry.due > 0 ? `due now (was ${expiry.nextRenewal})` : expiry.nextRenewal}; ${schedule}`,
  ];
  if (expiry.renewalFailures > 0) {
    lines.push(`failed renewals: ${expiry.renewalFailures} (${expiry.urgentFailures} URGENT)`);
    for (const failure of expiry.failures)
      lines.push(
        `  ${failure.urgent ? "URGENT " : ""}${failure.source} (${failure.region}), ValidTo ${failure.validTo}: ${failure.code}: ${failure.message}`,
      );
  }
  return lines;
}

/** The status as people read it. */
export function formatStatus(status: StatusReport, paramsQuota: number): string {
  const s = status.byStatus;
  const elapsed =
    status.elapsedSeconds === undefined
      ? ""
      : `; started ${status.startedAt}, ${status.remaining === 0 ? "took" : "elapsed"} ${seconds(status.elapsedSeconds)}`;
  const lines = [
    `${status.total} keys in ${status.regions.join(", ") || "no Region yet"}: ${s["migrated"] ?? 0} migrated, ${s["failed"] ?? 0} failed, ${s["in_progress"] ?? 0} in progress, ${s["queued"] ?? 0} queued`,
    `${percentText(status.percentFinished)} finished (${percentText(status.percentMigrated)} migrated)${elapsed}`,
    ...regionLines(status),
    ...targetLines(status),
    "",
    `${"phase".padEnd(10)}${pad("waiting", 9)}${pad("running", 9)}${pad("retrying", 10)}${pad("failed", 9)}`,
  ];
  for (const phase of PHASES) {
    const row = status.phases[phase] ?? { waiting: 0, running: 0, retrying: 0, failed: 0 };
    lines.push(
      `${phase.padEnd(10)}${pad(row.waiting, 9)}${pad(row.running, 9)}${pad(row.retrying, 10)}${pad(row.failed, 9)}`,
    );
  }
  const eta =
    status.etaSeconds === undefined ? "unknown (nothing finished lately)" : seconds(status.etaSeconds);
  const basis =
    status.rateBasis === "window"
      ? `over the last ${status.windowMinutes} min`
      : `since the first key finished ${seconds(status.rateSeconds)} ago`;
  lines.push(
    "",
    status.remaining === 0
      ? // Finished: the rate over the whole run (the live rate would keep falling as time passes).
        `every key has finished${status.elapsedSeconds ? `: ${status.total} in ${seconds(status.elapsedSeconds)}, ${((status.total * 60) / status.elapsedSeconds).toFixed(1)} keys/min overall` : ""}`
      : `rate ${status.keysPerMinute.toFixed(1)} keys/min ${basis}; ${status.remaining} remaining; ETA ${eta}` +
          ` (at best ${seconds(status.quotaFloorSeconds)} at ${paramsQuota} GetParametersForImport/s per ${status.byTarget.some((target) => target.account !== null) ? "account and Region" : "Region"})`,
  );
  if (status.failures.length > 0) {
    lines.push("", "failures by reason:");
    for (const failure of status.failures) lines.push(`  ${pad(failure.count, 5)}  ${failure.code}`);
    lines.push("", "oldest failures (hsm2kms report has them all):");
    for (const failure of status.recentFailures)
      lines.push(`  ${failure.source} (${failure.region}): ${failure.code}: ${failure.message}`);
  }
  lines.push(...expiryLines(status));
  return `${lines.join("\n")}\n`;
}

export function registerStatusCommand(program: Command): void {
  withCommonFlags(
    program
      .command("status")
      .description(
        "Show progress (percent finished, elapsed time, per Region, and per account and Region when keys go to other accounts), jobs per phase (waiting, running, retrying), the rate, the ETA (from the current rate, measured since the first key finished while the run is younger than 5 minutes, and from the GetParametersForImport quota) and failures with reasons; for keys whose material expires (expires_at), how many, how many due (within HSM2KMS_RENEW_BEFORE) or expired, the soonest ValidTo and next renewal, when the scheduled renewal runs next, and failed renewals (URGENT when the HSM key is gone or the material expired). Exit 1 when no campaign exists under the prefix (nothing enqueued, or its ledger was lost); --watch shows a Redis outage and keeps watching.",
      )
      .option("--json", "print JSON (for scripts)")
      .option("--watch", "refresh until interrupted")
      .option("--interval <seconds>", "refresh interval for --watch", "2")
      .option(
        "--metrics-port <port>",
        "instead of printing, serve the fleet's progress from the ledger on /metrics (HSM2KMS_METRICS_HOST) until SIGTERM/SIGINT",
      ),
  ).action(async (flags: StatusFlags) => {
    const config = configFrom(flags);
    const [
      { campaignKmsLookup, checkCampaign },
      { parseMetricsPort, serveFleetMetrics },
      { collectStatus, expiringMaterialReader },
      { nextScheduledRenewal },
    ] = await Promise.all([
      import("../../campaign/marker.js"),
      import("../../campaign/fleet-metrics.js"),
      import("../../campaign/status.js"),
      import("../../lifecycle/renew-schedule.js"),
    ]);
    // A floor keeps --watch from hammering Redis (an interval of 0 or "abc" used to spin).
    const intervalMs = secondsFlag("--interval", flags.interval ?? "2", 200, 3_600_000);
    const metricsPort = flags.metricsPort === undefined ? undefined : parseMetricsPort(flags.metricsPort);
    const runtime = await openRuntime(config, "status");
    if (metricsPort !== undefined) {
      try {
        const server = await serveFleetMetrics(runtime, { port: metricsPort, host: config.metricsHost });
        await new Promise((stopped) => {
          process.once("SIGTERM", stopped);
          process.once("SIGINT", stopped);
        });
        await server.close();
        process.exitCode = EXIT.ok;
      } finally {
        await runtime.close();
      }
      return;
    }
    const paramsQuota = config.kmsQuotas["GetParametersForImport"] ?? 1;
    // Expiring material changes slowly: --watch reads it (a scan of the ledger) at most every 30 s.
    const expiringMaterial = expiringMaterialReader(runtime.ledger, {
      beforeMs: config.renewBeforeMs,
      nextScheduledRun: () => nextScheduledRenewal(runtime.redis, config.queuePrefix),
      cacheMs: 30_000,
    });
    const url = redactUrl(config.redisUrl);
    let interrupted = false;
    const onSignal = () => {
      interrupted = true;
    };
    process.once("SIGINT", onSignal);
    const show = (text: string) =>
      process.stdout.write(flags.watch && process.stdout.isTTY ? `\x1b[2J\x1b[H${text}` : text);
    try {
      let code: number = EXIT.ok;
      do {
        try {
          const campaign = await checkCampaign(runtime.ledger, { url, kms: campaignKmsLookup(config) });
          if (!campaign.ok) {
            // No ledger to count from: "0 keys" would read as a campaign with nothing in it.
            if (!flags.watch) process.stderr.write(`hsm2kms: ${campaign.message}\n`);
            else show(`${new Date().toISOString()}  ${campaign.message}\n`);
            code = EXIT.failed;
          } else {
            const status = await collectStatus(runtime.ledger, runtime.queues, {
              paramsQuota,
              expiringMaterial,
            });
            show(flags.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status, paramsQuota));
            code = EXIT.ok;
          }
        } catch (error) {
          // --watch is for watching an outage too: say so on screen and keep watching.
          if (!flags.watch) throw error;
          show(
            `${new Date().toISOString()}  ${explainRedisFailure(error) ?? `Redis at ${url}: ${(error as Error).message}`}\n(still watching)\n`,
          );
          code = EXIT.failed;
        }
        if (flags.watch) await sleep(intervalMs);
      } while (flags.watch && !interrupted);
      process.exitCode = code;
    } finally {
      process.off("SIGINT", onSignal);
      await runtime.close();
    }
  });
}
