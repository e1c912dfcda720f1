import {
  findOrphans,
  heldKeysOf,
  holdsMaterial,
  ORPHAN_WITH_MATERIAL,
  orphanReason,
  sourceKeyOf,
} from "../lifecycle/orphans.js";
import { formatCsvLine } from "../shared/csv.js";
import type { Ledger } from "../shared/ledger/index.js";
import {
  AUDIT_COLUMNS,
  type AuditLine,
  type AuditPorts,
  type AuditSummary,
  auditMigration,
  isAuditProblem,
  type ManifestExpectations,
} from "./audit.js";
import { neutraliseFormula } from "./report-csv.js";

/** `mismatch: label (us-east-1, KMS key 1234...): detail` */
function problemLine(line: AuditLine): string {
  const who = line.source_label || line.source_id || "a manifest row";
  const where = [
    line.account && `account ${line.account}`,
    line.region,
    line.kms_key_id && `KMS key ${line.kms_key_id}`,
  ]
    .filter(Boolean)
    .join(", ");
  return `${line.result}: ${who}${where ? ` (${where})` : ""}: ${line.detail}\n`;
}

const keys = (count: number) => `${count} ${count === 1 ? "key" : "keys"}`;

const csvLine = (line: AuditLine) =>
  formatCsvLine(AUDIT_COLUMNS.map((column) => neutraliseFormula(line[column])));

export interface WriteAuditOptions {
  /** The campaign's ledger: its records, and its counts for the progress lines. */
  ledger: Ledger;
  /** The campaign (queue prefix): its KMS keys carry it in their `hsm2kms:campaign` tag (orphans). */
  prefix: string;
  ports: AuditPorts;
  /** HSM work at once (HSM2KMS_HSM_CONCURRENCY). */
  concurrency: number;
  /** What the manifest asks for (`audit --manifest`), if given. */
  manifest?: ManifestExpectations | undefined;
  /** Where the CSV goes. */
  out: NodeJS.WritableStream;
  /** When given, the lines are collected here instead of written as CSV (`audit --json`). */
  keys?: AuditLine[] | undefined;
  /** Where each problem and the progress go, one line each. */
  err: NodeJS.WritableStream;
}

/** Audits every key of the ledger: the CSV (header first) to `out`, problems and progress to `err`. */
export async function writeAudit(options: WriteAuditOptions): Promise<AuditSummary> {
  const { out, err, keys: collected } = options;
  const write = (text: string) =>
    collected
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) =>
          out.write(text, (error) => (error ? reject(error) : resolve())),
        );
  const summary: AuditSummary = { audited: 0, byResult: {}, notMigrated: 0, problems: 0 };
  const counts = await options.ledger.counts();
  const total = Object.values(counts.byStatus).reduce((sum, count) => sum + count, 0);
  await write(formatCsvLine(AUDIT_COLUMNS));
  const lines = auditMigration(
    options.ledger.records(),
    options.ports,
    summary,
    options.concurrency,
    options.manifest,
  );
  for await (const line of lines) {
    collected?.push(line);
    await write(csvLine(line));
    if (isAuditProblem(line.result)) err.write(problemLine(line));
    if (summary.audited % 200 === 0)
      err.write(`audit: ${summary.audited + summary.notMigrated} of ${total} keys read\n`);
  }
  for (const line of await orphanLines(options.ledger, options.ports, options.prefix)) {
    collected?.push(line);
    await write(csvLine(line));
    err.write(problemLine(line));
    summary.byResult.orphan = (summary.byResult.orphan ?? 0) + 1;
    summary.problems++;
  }
  return summary;
}

const GONE_STATES = new Set(["PendingDeletion", "PendingReplicaDeletion"]);

/**
 * The campaign's live orphans in each target (account, Region) of its ledger: keys tagged with this campaign that
 * the ledger does not track (`abandon --orphans` removes those without material and leaves the others). One
 * already pending deletion was cleaned up and is left out.
 */
async function orphanLines(ledger: Ledger, ports: AuditPorts, prefix: string): Promise<AuditLine[]> {
  const lines: AuditLine[] = [];
  const held = heldKeysOf(ledger);
  for (const target of await ledger.targets())
    for (const orphan of await findOrphans(
      ledger,
      ports.kms(target.region, target.account),
      target,
      prefix,
      held,
    )) {
      const { region, account } = target;
      const info = await ports.kms(region, account).describeKey(orphan.keyId);
      if (!info || GONE_STATES.has(info.keyState)) continue;
      const source = sourceKeyOf(orphan.record, orphan.tags);
      lines.push({
        source_label: source.label,
        source_id: source.idHex,
        region,
        kms_key_id: orphan.keyId,
        key_spec: info.keySpec ?? "",
        result: "orphan",
        account: account ?? "",
        detail: holdsMaterial(info.keyState)
          ? `${info.keyState} KMS key tagged with this campaign that its ledger does not track (${orphanReason(orphan)}): ${ORPHAN_WITH_MATERIAL}`
          : `${info.keyState} KMS key tagged with this campaign that its ledger does not track (${orphanReason(orphan)}; a late CreateKey from a host that lost its job): remove it with hsm2kms abandon --orphans --yes`,
      });
    }
  return lines;
}

/** The audit's last line: how many keys are identical, not comparable, problems, not migrated. */
export function auditSummaryLine(summary: AuditSummary): string {
  const { byResult } = summary;
  return `audit: ${keys(byResult.identical ?? 0)} identical in the HSM and KMS, ${byResult["not-comparable"] ?? 0} not comparable outside KMS (AES), ${summary.problems} ${summary.problems === 1 ? "problem" : "problems"}; ${keys(summary.notMigrated)} not migrated (not audited)\n`;
}
