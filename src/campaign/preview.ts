import { randomBytes } from "node:crypto";
import { isMigrationError } from "../shared/errors.js";
import type { HsmPort } from "../shared/hsm/types.js";
import type { WrappingKeySpec } from "../shared/key-specs.js";
import { silentLogger } from "../shared/logger.js";
import { type MigrationRequest, newMigrationRecord } from "../shared/migration.js";
import { preflight } from "../workers/phases/preflight.js";

export interface PreviewRow {
  line: number;
  label?: string | undefined;
  idHex?: string | undefined;
  request: MigrationRequest;
}

/**
 * Runs the preflight phase (read-only: it only reads the HSM) for manifest rows and says, per key, what
 * the migration would do or why it cannot be done. Nothing is written anywhere.
 */
export async function* previewPreflight(
  hsm: HsmPort,
  rows: PreviewRow[],
  wrappingKeySpec: WrappingKeySpec,
): AsyncIterable<{ ok: boolean; text: string }> {
  const ctx = {
    hsm: () => hsm,
    kms: () => {
      throw new Error("preflight preview does not call KMS");
    },
    now: () => new Date(),
    // Preflight asks the HSM for an HMAC key's MAC of a random message (its proof for verify).
    randomBytes,
    checkpoint: async () => {},
    lookup: async () => undefined,
    logger: silentLogger(),
    settings: { tokenSafetyMarginMs: 0, deletionWindowDays: 7, wrappingKeySpec, toolVersion: "preview" },
  };
  for (const row of rows) {
    const name = row.label ?? row.idHex ?? "";
    const record = newMigrationRecord(
      "preview",
      "preview",
      { label: row.label, idHex: row.idHex },
      row.request,
      new Date(),
      row.line,
    );
    try {
      const { patch } = await preflight(ctx, record);
      yield {
        ok: true,
        text: `line ${row.line}, ${name}: ${patch.sourceKey?.keySpec} ${patch.sourceKey?.keyUsage}, wrapped as ${patch.wrapPlan?.wrappingAlgorithm} (${patch.wrapPlan?.hsmPath})`,
      };
    } catch (error) {
      yield {
        ok: false,
        text: `line ${row.line}, ${name}: cannot be migrated: ${isMigrationError(error) ? `${error.code}: ${error.message}` : String(error)}`,
      };
    }
  }
}
