import { type ManifestEntry, ManifestFileError, readManifest } from "../../src/manifest/read.js";

/** The fixed "now" of the manifest tests. */
export const NOW = new Date("2026-06-01T00:00:00Z");

export const ALL_COLUMNS =
  "source_label,source_id,key_spec,key_usage,alias,description,tags,region,multi_region,expires_at,replica_regions,key_policy";

export interface ReadResult {
  entries: ManifestEntry[];
  error: unknown;
}

/** Reads a whole manifest, collecting its entries and the error it ended with (if any). */
export async function readAll(
  input: string | Buffer | Array<string | Buffer>,
  options: { defaultRegion?: string | undefined } = { defaultRegion: "eu-west-1" },
): Promise<ReadResult> {
  const { defaultRegion } = options;
  const chunks = Array.isArray(input) ? input : [input];
  const entries: ManifestEntry[] = [];
  try {
    for await (const entry of readManifest(toIterable(chunks), { defaultRegion, now: NOW }))
      entries.push(entry);
    return { entries, error: undefined };
  } catch (error) {
    return { entries, error };
  }
}

async function* toIterable(chunks: Array<string | Buffer>): AsyncGenerator<string | Buffer> {
  for (const chunk of chunks) yield chunk;
}

/** The message of the ManifestFileError a manifest is refused with; fails on anything else. */
export async function fileErrorOf(input: string | Buffer | Array<string | Buffer>): Promise<string> {
  const { error } = await readAll(input);
  if (!(error instanceof ManifestFileError))
    throw new Error(`expected a ManifestFileError, got ${error === undefined ? "no error" : String(error)}`);
  return error.message;
}

/** Valid rows by line, and rejected lines with their problems. */
export function summarise(entries: readonly ManifestEntry[]) {
  return entries.map((entry) =>
    entry.kind === "row"
      ? { line: entry.row.line, label: entry.row.sourceLabel }
      : { line: entry.line, problems: entry.problems.map((p) => [p.column, p.message]) },
  );
}
