import { resolve } from "node:path";
import { readKeyPolicy } from "../manifest/key-policy.js";
import { type ManifestRow, type RowProblem, readManifest } from "../manifest/read.js";
import { migrationRecordsOf } from "../manifest/records.js";
import type { AccountRoles } from "../shared/accounts.js";
import type { Ledger } from "../shared/ledger/index.js";
import type { MigrationRecord } from "../shared/migration.js";
import type { PhaseQueues } from "../shared/queues.js";

/** Chunks written at once: enough to keep Redis busy while the next chunk is parsed (measured: 4 of 100 keys). */
const WRITES_IN_FLIGHT = 4;

export interface EnqueueSummary {
  /** Rows that passed validation. */
  accepted: number;
  /** Rows rejected, each reported with its line. */
  rejected: number;
  /** Of the accepted rows: keys newly queued. */
  queued: number;
  /** Of the accepted rows: keys the ledger already knew (queued, running, migrated or failed). */
  alreadyKnown: number;
}

/** The line `enqueue` prints when it is done. */
export function enqueueSummaryLine(summary: EnqueueSummary, dryRun: boolean): string {
  return dryRun
    ? `${summary.accepted} rows valid, ${summary.rejected} rejected (dry run: nothing enqueued)`
    : `${summary.accepted} rows accepted (${summary.queued} queued, ${summary.alreadyKnown} already known), ${summary.rejected} rejected`;
}

export interface EnqueueOptions {
  defaultRegion: string | undefined;
  /** Validate only: nothing is written. */
  dryRun?: boolean;
  /** Ledger and queues; required unless dryRun. */
  ledger?: Ledger;
  queues?: PhaseQueues;
  now?: () => Date;
  /**
   * Records per write (one ledger script and one addBulk): small enough that a chunk dies young in V8's heap
   * instead of being promoted while its round trip is in flight. @defaultValue 100
   */
  chunkSize?: number;
  onProblem?: (problem: RowProblem) => void;
  /**
   * The roles of HSM2KMS_ACCOUNTS_FILE: a row whose `account` is not among them is rejected (workers could not
   * reach that account). @defaultValue none: every row with an account is rejected
   */
  accounts?: AccountRoles | undefined;
  /** Key policy (checked JSON) for rows without their own `key_policy`. */
  keyPolicy?: string;
  /** Folder `key_policy` paths are relative to (the manifest's). @defaultValue the working directory */
  baseDir?: string;
  onValidRow?: (row: ManifestRow, id: string) => void;
  onProgress?: (summary: EnqueueSummary) => void;
}

/**
 * Streams a manifest, reports every bad row, and enqueues one migration per good row: a ledger record
 * (created only if the key is unknown) and its preflight job (deterministic id), in chunks. Re-running the
 * same or an overlapping manifest adds nothing already known. Memory stays flat in the manifest's size.
 */
export async function enqueueManifest(
  input: NodeJS.ReadableStream | AsyncIterable<Buffer | string>,
  options: EnqueueOptions,
): Promise<EnqueueSummary> {
  const summary: EnqueueSummary = { accepted: 0, rejected: 0, queued: 0, alreadyKnown: 0 };
  const now = options.now ?? (() => new Date());
  const chunkSize = options.chunkSize ?? 100;
  let chunk: MigrationRecord[] = [];
  // Each policy file is read once, however many rows name it.
  const policies = new Map<string, Awaited<ReturnType<typeof readKeyPolicy>>>();
  const policyOf = async (row: ManifestRow): Promise<string | undefined | RowProblem> => {
    if (!row.keyPolicyPath) return options.keyPolicy;
    const path = resolve(options.baseDir ?? ".", row.keyPolicyPath);
    let read = policies.get(path);
    if (!read) {
      read = await readKeyPolicy(path);
      policies.set(path, read);
    }
    return "policy" in read ? read.policy : { line: row.line, column: "key_policy", message: read.problem };
  };

  let marker: Promise<unknown> | undefined;
  const write = async (batch: MigrationRecord[]) => {
    const { ledger, queues } = options;
    if (!ledger || !queues) throw new Error("enqueueManifest needs a ledger and queues unless dryRun");
    // The marker goes first: a record never exists without it, so its absence beside records means loss.
    // Chunks are written concurrently: every one waits for the marker the first one writes.
    marker ??= ledger.ensureCampaign(now());
    await marker;
    const created = await ledger.createMany(batch);
    const known = batch.filter((_, index) => !created[index]);
    // A known key still waiting for preflight may have lost its job in a crash between the two writes:
    // adding it again is a no-op when it exists.
    const stored = known.length > 0 ? await ledger.getMany(known.map((record) => record.id)) : [];
    const waiting = stored.flatMap((entry) =>
      entry?.record.status === "queued" && entry.record.phase === "preflight" ? [entry.record] : [],
    );
    await queues.addManyFor([...batch.filter((_, index) => created[index]), ...waiting]);
    summary.queued += batch.length - known.length;
    summary.alreadyKnown += known.length;
    options.onProgress?.(summary);
  };
  // Up to WRITES_IN_FLIGHT chunks are written while the next is parsed (memory stays that many chunks), so
  // parsing does not wait on Redis round trips: a single connection sends them in file order, and each chunk's
  // records go in before their jobs. The first failure stops the run once the chunks in flight have settled.
  const inFlight: Array<Promise<void>> = [];
  const flush = async () => {
    if (chunk.length === 0 || options.dryRun) return;
    const batch = chunk;
    chunk = [];
    if (inFlight.length >= WRITES_IN_FLIGHT) await inFlight.shift();
    const writing = write(batch);
    // Awaited by a later flush or at the end; this only keeps a failure from counting as unhandled meanwhile.
    writing.catch(() => undefined);
    inFlight.push(writing);
  };

  try {
    for await (const entry of readManifest(input, { defaultRegion: options.defaultRegion, now: now() })) {
      if (entry.kind === "rejected") {
        summary.rejected++;
        for (const problem of entry.problems) options.onProblem?.(problem);
        continue;
      }
      const unreachable = accountProblem(entry.row, options.accounts);
      if (unreachable) {
        summary.rejected++;
        options.onProblem?.(unreachable);
        continue;
      }
      const policy = await policyOf(entry.row);
      if (typeof policy === "object") {
        summary.rejected++;
        options.onProblem?.(policy);
        continue;
      }
      summary.accepted++;
      const records = migrationRecordsOf(entry.row, { now: now(), policy });
      options.onValidRow?.(entry.row, records[0]!.id);
      chunk.push(...records);
      if (chunk.length >= chunkSize) await flush();
    }
    await flush();
  } finally {
    // A manifest that turns out broken mid-way still leaves every chunk before it wholly written.
    await Promise.allSettled(inFlight);
  }
  await Promise.all(inFlight);
  return summary;
}

/** A row naming an account HSM2KMS_ACCOUNTS_FILE does not list: workers would have no role to reach it. */
function accountProblem(row: ManifestRow, accounts: AccountRoles | undefined): RowProblem | undefined {
  if (row.account === undefined || accounts?.has(row.account)) return undefined;
  return {
    line: row.line,
    column: "account",
    message: `account ${row.account} is not in ${accounts ? "HSM2KMS_ACCOUNTS_FILE" : "HSM2KMS_ACCOUNTS_FILE (not set)"}: expected a line ${row.account},arn:aws:iam::${row.account}:role/<role hsm2kms assumes there> in that file (the same file on every worker), or an empty account cell for the caller's own account`,
  };
}
