import { afterAll, describe, expect, it } from "vitest";
import { ERROR_CODES, type ErrorCode } from "../../src/shared/error-codes.js";
import { type MigrationRecord, newMigrationRecord } from "../../src/shared/migration.js";
import { runCli } from "../helpers/cli.js";
import { cliEnvironment, testLedger } from "../helpers/fleet.js";
import { deletePrefix, randomPrefix } from "../helpers/redis.js";

/**
 * `hsm2kms retry --failed` through the real CLI and Redis: it reads the error-code table, so keys that failed
 * with a code no retry can cure stay failed, named with their code and fix, while curable ones go back to
 * preflight. The failed records are written straight into the ledger (no HSM can be made to answer
 * CKR_KEY_NOT_WRAPPABLE or CKR_KEY_FUNCTION_NOT_PERMITTED on demand); the command under test is the real one.
 */
const prefix = randomPrefix("retry");
// Nothing here reaches KMS: the campaign marker exists, so the command never needs to look keys up there.
const env = cliEnvironment({}, "http://127.0.0.1:9", prefix);

afterAll(async () => {
  await deletePrefix(prefix);
  await deletePrefix(`{${prefix}.ledger}`);
});

function failedRecord(label: string, code: ErrorCode): MigrationRecord {
  const at = new Date().toISOString();
  const record = newMigrationRecord(
    `k-${label}`,
    "us-east-1",
    { label },
    { tags: {}, multiRegion: false },
    new Date(),
  );
  return {
    ...record,
    phase: "wrap",
    status: "failed",
    generation: 2,
    error: { code, kind: ERROR_CODES[code].kind, phase: "wrap", message: `${label} failed`, at },
    completedAt: at,
  };
}

describe("retry --failed reads the error-code table", () => {
  it("re-queues what a fix can cure, leaves the rest failed naming the key, code and fix; --all re-queues them", async () => {
    const { redis, ledger } = testLedger(prefix);
    try {
      await ledger.ensureCampaign();
      const failures: Array<[string, ErrorCode]> = [
        ["not-wrappable", "SOURCE_KEY_NOT_WRAPPABLE"],
        ["not-permitted", "SOURCE_KEY_FUNCTION_NOT_PERMITTED"],
        ["denied", "KMS_ACCESS_DENIED"],
      ];
      for (const [label, code] of failures) {
        // Created in progress and saved failed, as a worker does, so the ledger indexes the failure.
        const failed = failedRecord(label, code);
        expect(await ledger.create({ ...failed, status: "in_progress", error: undefined })).toBe(true);
        await ledger.save(failed, (await ledger.get(failed.id))?.rev ?? -1);
      }

      const retry = await runCli(["retry", "--failed"], env);
      expect(retry.code, retry.output).toBe(1);
      expect(retry.output).toContain("1 failed keys re-queued, 2 left alone");
      for (const [label, code] of failures.slice(0, 2)) {
        const line = retry.output.split("\n").find((text) => text.startsWith(`left alone: ${label} `));
        expect(line, retry.output).toContain(
          `(us-east-1): ${code}: a retry cannot cure it: ${ERROR_CODES[code].hint}`,
        );
      }
      expect(retry.output).not.toContain("left alone: denied");
      const denied = (await ledger.get("k-denied"))?.record;
      expect(denied).toMatchObject({ status: "queued", phase: "preflight", generation: 3 });
      expect(denied?.error).toBeUndefined();
      expect((await ledger.get("k-not-wrappable"))?.record.status).toBe("failed");

      const all = await runCli(["retry", "--failed", "--all"], env);
      expect(all.code, all.output).toBe(0);
      expect(all.output).toContain("2 failed keys re-queued, 0 left alone");
      for (const [label] of failures)
        expect((await ledger.get(`k-${label}`))?.record.status, label).toBe("queued");
    } finally {
      redis.disconnect();
    }
  });
});
