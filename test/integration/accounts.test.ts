import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KMSClient, ListKeysCommand } from "@aws-sdk/client-kms";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { describe, expect, it } from "vitest";
import { createFleetMetrics } from "../../src/campaign/fleet-metrics.js";
import { ledgerKey } from "../../src/shared/ledger/index.js";
import { PhaseQueues } from "../../src/shared/queues.js";
import { runCli } from "../helpers/cli.js";
import { withEmulator, withRedisPrefix, withToken } from "../helpers/fixtures.js";
import { cliEnvironment, ledgerRecords, testLedger } from "../helpers/fleet.js";
import type { KmsEmulator } from "../helpers/kms-emulator.js";
import { TEST_CREDENTIALS } from "../helpers/pipeline.js";

const ACCOUNTS = ["222222222222", "333333333333", "444444444444"];
/** In HSM2KMS_ACCOUNTS_FILE, but the emulator has no such role: STS refuses it (AccessDenied). */
const REFUSED = "555555555555";
const REGIONS = ["us-east-1", "eu-west-1"];
const KEYS = ["sample-ec-p256", "sample-hmac-256"] as const;
const role = (account: string) => `arn:aws:iam::${account}:role/hsm2kms-import`;

/** Every key id of `account` in `region`, listed with the account's own credentials (its role). */
async function keysOfAccount(emulator: KmsEmulator, account: string, region: string): Promise<string[]> {
  const sts = new STSClient({ region, endpoint: emulator.url, credentials: TEST_CREDENTIALS });
  const kms = new KMSClient({
    region,
    endpoint: emulator.url,
    credentials: async () => {
      const { Credentials: c } = await sts.send(
        new AssumeRoleCommand({ RoleArn: role(account), RoleSessionName: "accounts-test" }),
      );
      return {
        accessKeyId: c!.AccessKeyId!,
        secretAccessKey: c!.SecretAccessKey!,
        sessionToken: c!.SessionToken!,
      };
    },
  });
  try {
    return ((await kms.send(new ListKeysCommand({}))).Keys ?? []).map((key) => key.KeyId!).sort();
  } finally {
    kms.destroy();
    sts.destroy();
  }
}

describe("a manifest over several accounts (HSM2KMS_ACCOUNTS_FILE)", () => {
  it("migrates each key into its account and Region, paced per account and Region, and fails only the keys of an account whose role is refused", async () => {
    await withToken({ keys: [...KEYS] }, (token) =>
      // AWS's default request quotas: GetParametersForImport 1/s in each account and Region.
      withEmulator(
        { acceptKwpZeroPadding: true, roles: ACCOUNTS.map((account) => ({ roleArn: role(account) })) },
        (emulator) =>
          withRedisPrefix("accounts", async (prefix) => {
            const accountsFile = join(token.dir, "accounts.csv");
            await writeFile(
              accountsFile,
              `account,role_arn\n${[...ACCOUNTS, REFUSED].map((a) => `${a},${role(a)}`).join("\n")}\n`,
            );
            const manifest = join(token.dir, "accounts-manifest.csv");
            const rows = [
              ...ACCOUNTS.flatMap((account) =>
                REGIONS.flatMap((region) => KEYS.map((key) => `${key},${account},${region}`)),
              ),
              `sample-ec-p256,${REFUSED},us-east-1`,
              `sample-hmac-256,${REFUSED},eu-west-1`,
            ];
            await writeFile(manifest, `source_label,account,region\n${rows.join("\n")}\n`);
            const report = join(token.dir, "accounts-report.csv");
            const env = cliEnvironment(token.env, emulator.url, prefix, {
              HSM2KMS_ACCOUNTS_FILE: accountsFile,
            });

            const run = await runCli(["migrate", manifest, "--out", report], env);
            expect(run.code, run.output).toBe(1); // the refused account's two keys

            const all = await ledgerRecords(prefix);
            expect(all).toHaveLength(14);
            const failed = all.filter((record) => record.status === "failed");
            expect(
              failed.map((record) => [record.account, record.region, record.error?.code]).sort(),
            ).toEqual([
              [REFUSED, "eu-west-1", "ACCOUNT_ROLE_REFUSED"],
              [REFUSED, "us-east-1", "ACCOUNT_ROLE_REFUSED"],
            ]);
            for (const record of failed)
              expect(record.error?.message).toContain(
                `account ${REFUSED}: STS refused AssumeRole of ${role(REFUSED)} (AccessDenied)`,
              );

            // Every other key is in its own account and Region: by its ARN, and by listing each account.
            const migrated = all.filter((record) => record.status === "migrated");
            expect(migrated).toHaveLength(12);
            for (const account of ACCOUNTS)
              for (const region of REGIONS) {
                const group = migrated.filter((r) => r.account === account && r.region === region);
                expect(group.map((r) => r.source.label).sort(), `${account} ${region}`).toEqual([...KEYS]);
                for (const record of group)
                  expect(record.kmsKeyArn).toBe(`arn:aws:kms:${region}:${account}:key/${record.kmsKeyId}`);
                expect(await keysOfAccount(emulator, account, region)).toEqual(
                  group.map((record) => record.kmsKeyId).sort(),
                );
              }
            // The same HSM key in two accounts and Regions has a migration id per account and Region.
            expect(new Set(all.map((record) => record.id)).size).toBe(14);
            // Nothing went to the caller's own account.
            for (const region of REGIONS) expect(emulator.allKeyIds(region)).toEqual([]);

            // Paced per account and Region: each pair has its own params queue, so its own fleet-wide BullMQ
            // limiter at KMS's 1/s (the limiter itself: queues.test.ts), and nothing went through the caller's
            // own queue. Each key had its parameters accepted once (a throttled call, paced again, is not
            // counted: jitter between a job's start and its request can make one arrive early).
            const { redis } = testLedger(prefix);
            const queues = new PhaseQueues(redis, prefix);
            try {
              for (const account of ACCOUNTS)
                for (const region of REGIONS)
                  expect(
                    (await queues.queue("params", { account, region }).getJobCounts("completed")).completed,
                    `params queue of ${account} ${region}`,
                  ).toBe(KEYS.length);
              expect((await queues.queue("params", "us-east-1").getJobCounts("completed")).completed).toBe(0);
            } finally {
              await queues.close();
              redis.disconnect();
            }
            for (const region of REGIONS) {
              const params = emulator.stats().regions[region]?.["GetParametersForImport"];
              expect((params?.calls ?? 0) - (params?.throttled ?? 0), region).toBe(
                ACCOUNTS.length * KEYS.length,
              );
            }

            // audit reaches each key in its account through its role: every migrated key identical, named with it.
            const audit = await runCli(["audit", "--out", join(token.dir, "audit.csv")], env);
            expect(audit.code, audit.output).toBe(1); // the refused account's keys are not migrated
            const audited = (await readFile(join(token.dir, "audit.csv"), "utf8")).trim().split("\n");
            expect(audited[0]).toMatch(/,detail,account$/);
            expect(
              audited
                .slice(1)
                .map((line) => [line.split(",")[5], line.split(",").at(-1)])
                .sort(),
            ).toEqual(ACCOUNTS.flatMap((account) => Array(4).fill(["identical", account])).sort());
            // The evidence pack names each key's account (and the ones not migrated, with theirs).
            const pack = join(token.dir, "evidence");
            expect((await runCli(["evidence", "--out", pack], env)).code).toBe(1);
            const packManifest = JSON.parse(await readFile(join(pack, "manifest.json"), "utf8"));
            expect(packManifest.notMigrated.map((entry: { account: string }) => entry.account)).toEqual([
              REFUSED,
              REFUSED,
            ]);
            for (const entry of packManifest.records) {
              const evidence = JSON.parse(await readFile(join(pack, entry.file), "utf8"));
              expect(evidence.kms.account).toBe(entry.account);
              expect(evidence.kms.keyArn).toContain(`:${entry.account}:key/`);
            }
            expect(packManifest.records).toHaveLength(12);

            // status has a line per account and Region (each its own quota), from the ledger's per-target counters.
            const expectedTargets = [
              ...ACCOUNTS.flatMap((account) =>
                REGIONS.map((region) => [account, region, KEYS.length, KEYS.length, 0]),
              ),
              [REFUSED, "eu-west-1", 1, 0, 1],
              [REFUSED, "us-east-1", 1, 0, 1],
            ].sort();
            const byTarget = async () => {
              const status = await runCli(["status", "--json"], env);
              expect(status.code, status.output).toBe(0);
              const parsed = JSON.parse(status.output.slice(status.output.indexOf("{"))) as {
                byTarget: Array<{
                  account: string;
                  region: string;
                  total: number;
                  migrated: number;
                  failed: number;
                }>;
              };
              return parsed.byTarget
                .map((target) => [
                  target.account,
                  target.region,
                  target.total,
                  target.migrated,
                  target.failed,
                ])
                .sort();
            };
            expect(await byTarget()).toEqual(expectedTargets);
            const text = await runCli(["status"], env);
            expect(text.output).toMatch(
              new RegExp(`^${REFUSED}\\s+us-east-1\\s+1\\s+0\\s+1\\s+0\\s+100%`, "m"),
            );
            // Finished: the whole run's rate (while keys remain, the quota's basis is per account and Region:
            // test/unit/status-format.test.ts).
            expect(text.output).toContain("every key has finished: 14 in ");

            // A ledger written before the per-target counters (a campaign in flight during an upgrade): its records
            // join them once, at their next save or when status first counts them, never twice.
            const { redis: old, ledger } = testLedger(prefix);
            try {
              const counters = await old.hkeys(ledgerKey(prefix, "counts"));
              await old.hdel(
                ledgerKey(prefix, "counts"),
                ...counters.filter((field) => field.startsWith("target")),
              );
              await old.del(ledgerKey(prefix, "targets-counted"));
              for (const record of all) await old.hdel(ledger.recordKey(record.id), "target");
              const refused = (await ledger.get(failed[0]!.id))!;
              await ledger.save(refused.record, refused.rev);
              expect((await ledger.counts()).byTarget).toEqual({
                [`${REFUSED}-${failed[0]!.region}|failed`]: 1,
              });
              expect(await byTarget()).toEqual(expectedTargets);

              // The exporter: another account's series carry its account, the caller's own none (0 here).
              const fleet = createFleetMetrics({
                ledger,
                queues: new PhaseQueues(old, prefix),
                defaultRegion: "us-east-1",
              });
              const exported = await fleet.metrics.registry.metrics();
              expect(exported).toContain(`hsm2kms_fleet_keys{status="migrated",region="us-east-1"} 0`);
              expect(exported).toContain(
                `hsm2kms_fleet_keys{status="migrated",region="eu-west-1",account="${ACCOUNTS[0]}"} ${KEYS.length}`,
              );
              expect(exported).toContain(
                `hsm2kms_fleet_failures{code="ACCOUNT_ROLE_REFUSED",region="us-east-1",account="${REFUSED}"} 1`,
              );
              expect(exported).not.toMatch(
                /hsm2kms_fleet_failures\{code="ACCOUNT_ROLE_REFUSED",region="[^"]+"\}/,
              );
            } finally {
              old.disconnect();
            }

            // The report names each key's account after error (the renewal's three columns follow, empty here).
            const lines = (await readFile(report, "utf8")).trim().split("\n");
            expect(lines[0]).toMatch(/,error,account,material_expires_at,next_renewal,renewal_error$/);
            expect(lines.slice(1).filter((line) => line.endsWith(`,${REFUSED},,,`))).toHaveLength(2);
            for (const account of ACCOUNTS)
              expect(
                lines.filter((line) => line.includes(",migrated,") && line.endsWith(`,${account},,,`)),
              ).toHaveLength(4);
          }),
      ),
    );
  }, 120_000);
});
