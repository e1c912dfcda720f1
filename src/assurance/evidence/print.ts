import type { PackVerification } from "./verify-pack.js";

/** Prints what `evidence verify` found: warnings on stderr, problems and the summary line on stdout. */
export function printVerification(dir: string, result: PackVerification): void {
  for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
  for (const problem of result.problems) process.stdout.write(`${problem}\n`);
  const signature =
    result.signature.status === "absent"
      ? "not signed"
      : `signature ${result.signature.status} (key ${result.signature.keyArn}, public key SHA-256 ${result.signature.publicKeySha256}${result.signature.pinned ? ", pinned" : ", NOT pinned"})`;
  process.stdout.write(
    `evidence pack ${dir}: ${result.records} records, ${result.notMigrated} ${result.notMigrated === 1 ? "key" : "keys"} without a record, ${signature}, ${result.signaturesReverified} record signatures verified again offline: ${
      result.problems.length === 0
        ? "OK"
        : `${result.problems.length} problem${result.problems.length === 1 ? "" : "s"}`
    }\n`,
  );
}
