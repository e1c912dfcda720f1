import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { enqueueManifest } from "../../src/campaign/enqueue.js";
import { type ManifestEntry, type RowProblem, readManifest } from "../../src/manifest/read.js";
import { CampaignWorkload, planCampaign } from "../../src/planning/index.js";
import { credentialsForAccount } from "../../src/shared/account-credentials.js";
import { parseAccountsFile } from "../../src/shared/accounts.js";
import { loadConfig } from "../../src/shared/config.js";
import { ConfigError } from "../../src/shared/errors.js";

const dir = mkdtempSync(join(tmpdir(), "h2k-accounts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ROLE = (account: string) => `arn:aws:iam::${account}:role/hsm2kms-import`;

function refusal(text: string): string {
  try {
    parseAccountsFile(text);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  return "accepted";
}

describe("HSM2KMS_ACCOUNTS_FILE", () => {
  it("maps each account to its role, optional external id and session name", () => {
    const roles = parseAccountsFile(
      [
        "account,role_arn,external_id,session_name",
        `222222222222,${ROLE("222222222222")},campaign-7,hsm2kms-eu`,
        "",
        `333333333333,arn:aws:iam::333333333333:role/team/hsm2kms-import,,`,
      ].join("\n"),
    );
    expect([...roles.keys()]).toEqual(["222222222222", "333333333333"]);
    const first = roles.get("222222222222")!;
    expect(first).toMatchObject({ roleArn: ROLE("222222222222"), sessionName: "hsm2kms-eu" });
    expect(first.externalId?.reveal()).toBe("campaign-7");
    expect(JSON.stringify(first)).not.toContain("campaign-7");
    expect(roles.get("333333333333")).toMatchObject({ externalId: undefined, sessionName: "hsm2kms" });
  });

  it("names the line and what is wrong, without repeating an external id", () => {
    const head = "account,role_arn,external_id\n";
    expect(refusal("account,role\n")).toMatch(/line 1: expected the header account,role_arn/);
    expect(refusal(`${head}22222222222,${ROLE("22222222222")},\n`)).toMatch(
      /line 2: account is not 12 digits/,
    );
    expect(refusal(`${head}222222222222,${ROLE("444444444444")},\n`)).toMatch(
      /line 2: role_arn is a role of account 444444444444, not of 222222222222/,
    );
    expect(refusal(`${head}\n222222222222,${ROLE("222222222222")},x\n`)).toMatch(
      /line 3: external_id of account 222222222222/,
    );
    expect(refusal(`${head}222222222222,${ROLE("222222222222")},bad id!\n`)).not.toContain("bad id!");
    expect(
      refusal(`${head}222222222222,${ROLE("222222222222")},\n222222222222,${ROLE("222222222222")},\n`),
    ).toMatch(/line 3: account 222222222222 is already on line 2/);
    expect(refusal(`${head}222222222222\n`)).toMatch(/line 2: has 1 fields; expected 3/);
  });

  it("is read once into the configuration, and a bad file stops the start naming the variable", () => {
    const file = join(dir, "accounts.csv");
    writeFileSync(file, `account,role_arn\n222222222222,${ROLE("222222222222")}\n`);
    expect(loadConfig({ HSM2KMS_ACCOUNTS_FILE: file }).accounts?.get("222222222222")?.roleArn).toBe(
      ROLE("222222222222"),
    );
    expect(loadConfig({}).accounts).toBeUndefined();
    expect(() => loadConfig({ HSM2KMS_ACCOUNTS_FILE: join(dir, "missing.csv") })).toThrow(
      /HSM2KMS_ACCOUNTS_FILE=/,
    );
  });
});

async function read(text: string): Promise<{ entries: ManifestEntry[]; error: unknown }> {
  const entries: ManifestEntry[] = [];
  try {
    for await (const entry of readManifest(toChunks(text), { defaultRegion: "us-east-1" }))
      entries.push(entry);
    return { entries, error: undefined };
  } catch (error) {
    return { entries, error };
  }
}

describe("manifest column account", () => {
  it("is read for plan: 12 digits, a bad one rejects its row by line, and one key may go to two accounts", async () => {
    const { entries, error } = await read(
      "source_label,account,region\nk1,222222222222,us-east-1\nk1,333333333333,us-east-1\nk2,12345,us-east-1\nk3,,us-east-1\n",
    );
    expect(error).toBeUndefined();
    expect(entries.map((e) => (e.kind === "row" ? e.row.account : e.problems))).toEqual([
      "222222222222",
      "333333333333",
      [
        {
          line: 4,
          column: "account",
          message: '"12345" is not an AWS account id; expected 12 digits, e.g. 123456789012',
        },
      ],
      undefined,
    ]);
  });

  it("is enqueued only for accounts HSM2KMS_ACCOUNTS_FILE names: another row is rejected by line, naming the account and the fix", async () => {
    const problems: RowProblem[] = [];
    const ids: string[] = [];
    const summary = await enqueueManifest(
      toChunks("source_label,account\nk1,222222222222\nk1,333333333333\nk1,\n"),
      {
        defaultRegion: "us-east-1",
        dryRun: true,
        accounts: parseAccountsFile(`account,role_arn\n222222222222,${ROLE("222222222222")}\n`),
        onProblem: (problem) => problems.push(problem),
        onValidRow: (_row, id) => ids.push(id),
      },
    );
    expect(summary).toMatchObject({ accepted: 2, rejected: 1 });
    expect(problems).toEqual([
      {
        line: 3,
        column: "account",
        message: expect.stringContaining(
          "account 333333333333 is not in HSM2KMS_ACCOUNTS_FILE: expected a line 333333333333,arn:aws:iam::333333333333:role/",
        ),
      },
    ]);
    // The same key in the caller's own account and in another has two migration ids.
    expect(new Set(ids).size).toBe(2);
  });

  it("groups a plan by account and Region, naming the role that reaches each account", async () => {
    const workload = new CampaignWorkload();
    for (const account of ["222222222222", "333333333333"])
      for (const region of ["us-east-1", "eu-west-1"])
        workload.add({ account, region, alias: undefined, replicaRegions: [] });
    const plan = planCampaign({
      groups: workload.groups(),
      quotas: { GetParametersForImport: 1 },
      roles: parseAccountsFile(`account,role_arn\n222222222222,${ROLE("222222222222")}\n`),
      hsm: { hosts: 1, wrapRatePerHost: 10, source: "default" },
    });
    expect(plan.groups.map((g) => [g.account, g.region, g.roleArn, g.seconds])).toEqual([
      ["222222222222", "eu-west-1", ROLE("222222222222"), 1],
      ["222222222222", "us-east-1", ROLE("222222222222"), 1],
      ["333333333333", "eu-west-1", null, 1],
      ["333333333333", "us-east-1", null, 1],
    ]);
    // Four account-Region groups at 1/s each run in parallel: the campaign takes as long as one.
    expect(plan.etaSeconds).toBe(1);
  });
});

async function* toChunks(text: string): AsyncGenerator<Buffer> {
  yield Buffer.from(text);
}

describe("credentialsForAccount (which credentials a KMS client of an account signs with)", () => {
  it("the caller's own for its own account; for an account the worker's file lacks, a refusal of that account's calls only", async () => {
    const base = { accessKeyId: "test", secretAccessKey: "test" };
    expect(credentialsForAccount(undefined, undefined, base)).toBe(base);
    const missing = credentialsForAccount(undefined, "222222222222", base);
    expect(missing).not.toBe(base);
    await expect((missing as () => Promise<unknown>)()).rejects.toMatchObject({
      code: "ACCOUNT_NOT_CONFIGURED",
      kind: "fatal",
      message: expect.stringContaining(
        "account 222222222222: this worker's HSM2KMS_ACCOUNTS_FILE is not set",
      ),
    });
  });
});
