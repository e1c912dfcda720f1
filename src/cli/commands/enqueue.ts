import { dirname } from "node:path";
import { setFlagsFromString } from "node:v8";
import type { Command } from "commander";
import { type EnqueueSummary, enqueueSummaryLine } from "../../campaign/enqueue.js";
import type { previewPreflight } from "../../campaign/preview.js";
import { readKeyPolicy } from "../../manifest/key-policy.js";
import { formatProblem, ManifestFileError } from "../../manifest/read.js";
import { openManifestFile } from "../../manifest/source.js";
import { ConfigError } from "../../shared/errors.js";
import { EXIT } from "../exit-codes.js";
import { type CommonFlags, configFrom, openHsm, openRuntime, withCommonFlags } from "../runtime.js";

export interface EnqueueFlags extends CommonFlags {
  dryRun?: boolean;
  preflight?: boolean;
  keyPolicy?: string;
  /** Print the summary (and --preflight's lines) as one JSON object instead of text. */
  json?: boolean;
}

/** The --key-policy file, checked before anything is enqueued (a bad one is a usage error: exit 2). */
async function keyPolicyFlag(path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined;
  const read = await readKeyPolicy(path);
  if ("problem" in read) throw new ConfigError(`--key-policy: ${read.problem}`);
  return read.policy;
}

/**
 * Enqueue's live memory is bounded (a few chunks and the duplicate check's ~40 bytes per row), but V8 lets its
 * heap grow up to ~4x what survived the last full collection before it collects again, so by default the peak
 * RSS of a 100k-row manifest was 1.3x that of a 10k-row one with the same live set (BENCHMARKS.md, enqueue).
 * Letting the heap grow by at most half per full collection keeps the peak with the live set. Measured on 100k
 * rows (2 cores, quiet; BENCHMARKS.md): 7 full collections and 6.7 s of CPU by default (RSS 1.31x of 10k
 * rows'), 43 at 50% (1.07x, 10.8k rows/s), 52 and 8.6 s of CPU at 10% (no flatter, 8.3k rows/s). This is
 * a growth factor, not a limit: nothing that needs the memory is refused it. V8 reads the flag at every full
 * collection, so setting it now takes effect.
 */
function preferSmallHeap(): void {
  setFlagsFromString("--heap-growing-percent=50");
}

const openManifest = (path: string) => openManifestFile(path, "a CSV file with a header row");

/** Enqueues a manifest; returns the exit code. Shared with `migrate`. */
export async function runEnqueue(path: string, flags: EnqueueFlags): Promise<number> {
  preferSmallHeap();
  const config = configFrom(flags);
  const keyPolicy = await keyPolicyFlag(flags.keyPolicy);
  const dryRun = Boolean(flags.dryRun || flags.preflight);
  const runtime = dryRun ? undefined : await openRuntime(config, "producer", { checkDurability: true });
  const { enqueueManifest } = await import("../../campaign/enqueue.js");
  const progress = process.stderr.isTTY
    ? (summary: EnqueueSummary) =>
        process.stderr.write(`\r${summary.accepted} rows accepted, ${summary.rejected} rejected...`)
    : undefined;
  const rows: Array<{
    line: number;
    label?: string | undefined;
    idHex?: string | undefined;
    request: Parameters<typeof previewPreflight>[1][number]["request"];
  }> = [];
  try {
    const summary = await enqueueManifest(await openManifest(path), {
      defaultRegion: config.region,
      accounts: config.accounts,
      dryRun,
      baseDir: dirname(path),
      ...(keyPolicy ? { keyPolicy } : {}),
      ledger: runtime?.ledger,
      queues: runtime?.queues,
      onProblem: (problem) => process.stderr.write(`${path}: ${formatProblem(problem)}\n`),
      onProgress: progress,
      onValidRow: flags.preflight
        ? (row) =>
            rows.push({
              line: row.line,
              label: row.sourceLabel,
              idHex: row.sourceIdHex,
              request: {
                keySpec: row.keySpec,
                keyUsage: row.keyUsage,
                tags: row.tags,
                multiRegion: row.multiRegion,
              },
            })
        : undefined,
    });
    if (progress) process.stderr.write("\n");
    if (!flags.json) process.stdout.write(`${enqueueSummaryLine(summary, dryRun)}\n`);
    let failedPreflight = 0;
    const preflightLines: Array<{ ok: boolean; text: string }> = [];
    if (flags.preflight) {
      const [{ createLogger }, { previewPreflight }] = await Promise.all([
        import("../../shared/logger.js"),
        import("../../campaign/preview.js"),
      ]);
      const logger = createLogger({
        level: config.logLevel,
        format: config.logFormat,
        base: { component: "preflight-preview" },
      });
      const hsm = await openHsm(config, logger);
      try {
        for await (const line of previewPreflight(hsm, rows, config.wrappingKeySpec)) {
          if (!line.ok) failedPreflight++;
          if (flags.json) preflightLines.push({ ok: line.ok, text: line.text });
          else process.stdout.write(`${line.text}\n`);
        }
      } finally {
        await hsm.close();
      }
    }
    if (flags.json) {
      const shown = { dryRun, ...summary, ...(flags.preflight ? { preflight: preflightLines } : {}) };
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    }
    return summary.rejected > 0 || failedPreflight > 0 ? EXIT.failed : EXIT.ok;
  } catch (error) {
    if (error instanceof ManifestFileError) throw new ConfigError(`${path}: ${error.message}`);
    throw error;
  } finally {
    await runtime?.close();
  }
}

export function registerEnqueueCommand(program: Command): void {
  withCommonFlags(
    program
      .command("enqueue")
      .argument("<manifest>", "manifest CSV (header row; see README for the columns)")
      .description(
        "Validate a manifest and enqueue one migration per key. Bad rows are reported by line and column and the good rows are still enqueued. Re-running the same or an overlapping manifest adds nothing twice. A row's account column sends its key to that AWS account, through the role HSM2KMS_ACCOUNTS_FILE names for it (a row naming an account the file lacks is rejected). Exit 1 if any row was rejected, 2 if the file is unusable.",
      )
      .option("--dry-run", "validate only; touch nothing in Redis")
      .option(
        "--key-policy <file>",
        "JSON key policy for every key whose row has no key_policy column value (checked before anything is enqueued)",
      )
      .option(
        "--preflight",
        "validate, then run preflight against the HSM and print per key the KeySpec and wrapping algorithm it would use, or why it cannot be migrated (implies --dry-run)",
      )
      .option(
        "--json",
        "print the summary as JSON (for scripts): dryRun, accepted, rejected, queued, alreadyKnown, and with --preflight one {ok, text} per key; rejected rows still go to standard error",
      ),
  ).action(async (path: string, flags: EnqueueFlags) => {
    process.exitCode = await runEnqueue(path, flags);
  });
}
