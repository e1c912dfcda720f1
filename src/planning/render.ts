import { formatDuration } from "../shared/durations.js";
import type { CampaignPlan, GroupPlan } from "./plan.js";

/** How the account of a group without an `account` column reads. */
export const CALLER_ACCOUNT = "(caller)";

const number = (value: number) => (Number.isInteger(value) ? String(value) : value.toFixed(2));
const duration = (seconds: number) => formatDuration(seconds * 1000);
const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? "" : "s"}`;

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join("  ")
      .trimEnd(),
  );
}

function groupRow(group: GroupPlan, withDeadline: boolean): string[] {
  const row = [
    group.account ?? CALLER_ACCOUNT,
    group.region,
    String(group.keys),
    group.bottleneck.operation,
    `${number(group.bottleneck.quota)}/s`,
    duration(group.seconds),
  ];
  if (withDeadline) row.push(group.meetsDeadline ? "yes" : "NO");
  return row;
}

/** Where the wrap rate came from, for people. */
function rateSource(plan: CampaignPlan): string {
  switch (plan.hsm.source) {
    case "measured":
      return "measured on this host's token (--measure-hsm)";
    case "HSM2KMS_HSM_WRAP_RATE":
      return "HSM2KMS_HSM_WRAP_RATE";
    default:
      return "HSM2KMS_HSM_WRAP_RATE's default: an assumption; measure it with --measure-hsm on an HSM host";
  }
}

/**
 * The plan as people read it: one line per group (account, Region, keys, bottleneck, its quota, time), the
 * HSM side, the ETA, and with a deadline the quotas to request per group that misses it.
 */
export function renderPlan(plan: CampaignPlan, source: { manifest: string; quotas: string }): string {
  const withDeadline = plan.deadline !== undefined;
  const header = ["account", "region", "keys", "bottleneck", "quota", "time at quota"];
  if (withDeadline) header.push("meets deadline");
  const lines = [
    `${source.manifest}: ${plan.keys} keys in ${plural(plan.groups.length, "group")} (account, Region); quotas per account and Region: ${source.quotas}`,
    "",
    ...table([header, ...plan.groups.map((group) => groupRow(group, withDeadline))]),
    "",
  ];
  const accounts = new Map(plan.groups.filter((g) => g.account !== null).map((g) => [g.account!, g.roleArn]));
  for (const [account, roleArn] of accounts)
    lines.push(
      roleArn === null
        ? `Account ${account}: not in HSM2KMS_ACCOUNTS_FILE: reached with the caller's own credentials, which must be that account's`
        : `Account ${account}: through role ${roleArn}`,
    );
  if (accounts.size > 0) lines.push("");
  const { hsm } = plan;
  lines.push(
    `HSM: ${hsm.hosts} host(s) x ${number(hsm.wrapRatePerHost)} wraps/s (${rateSource(plan)}) = ${number(hsm.fleetWrapRate)} wraps/s: ${plan.keys} wraps in ${duration(hsm.seconds)}`,
    `HSM hosts to keep the HSM off the critical path: ${hsm.hostsNeeded} (the groups together ask ${number(hsm.peakDemand)} keys/s${withDeadline ? " at the deadline's pace" : ""}); one more as a spare for a host lost mid-run`,
  );
  const eta = `ETA: ${plan.boundBy === "hsm" && hsm.hosts < hsm.hostsNeeded ? "at least " : ""}${duration(plan.etaSeconds)}`;
  lines.push(
    plan.boundBy === "kms"
      ? `${eta}, set by the KMS quotas (slowest group ${duration(plan.kmsSeconds)})`
      : `${eta}, set by the HSM side: ${hsm.hosts} host(s) where ${hsm.hostsNeeded} are needed`,
  );
  if (plan.deadline) lines.push("", ...renderDeadline(plan));
  return `${lines.join("\n")}\n`;
}

function renderDeadline(plan: CampaignPlan): string[] {
  const deadline = plan.deadline!;
  const lines = [
    deadline.met
      ? `Deadline ${duration(deadline.seconds)}: met.`
      : `Deadline ${duration(deadline.seconds)}: MISSED. ${deadline.groupsMissing} of ${plan.groups.length} groups miss it at the configured quotas${deadline.hsmMeets ? "" : `; the HSM side needs ${duration(plan.hsm.seconds)} with ${plan.hsm.hosts} host(s)`}.`,
  ];
  for (const group of plan.groups) {
    if (group.increases.length === 0) continue;
    lines.push(
      `  ${group.account ?? CALLER_ACCOUNT} ${group.region}: ${duration(group.seconds)} at ${group.bottleneck.operation} ${number(group.bottleneck.quota)}/s; request in Service Quotas (AWS Key Management Service, ${group.region}):`,
    );
    for (const increase of group.increases)
      lines.push(
        `    "${increase.quotaName}": ${number(increase.quota)} -> ${increase.needed} requests/s (${increase.operation})`,
      );
  }
  if (!deadline.hsmMeets || plan.hsm.hosts < plan.hsm.hostsNeeded)
    lines.push(`  HSM: run ${plan.hsm.hostsNeeded} HSM host(s) (now ${plan.hsm.hosts}).`);
  const needed = new Map<string, number>();
  for (const increase of plan.groups.flatMap((group) => group.increases))
    needed.set(increase.operation, Math.max(needed.get(increase.operation) ?? 0, increase.needed));
  if (needed.size > 0)
    lines.push(
      `  Once AWS has raised them, set HSM2KMS_KMS_QUOTAS on every worker (e.g. ${[...needed].map(([op, value]) => `${op}=${value}`).join(",")}): it applies to every account and Region, so use the lowest value granted.`,
    );
  return lines;
}
