import {
  CreateAliasCommand,
  CreateKeyCommand,
  KMSClient,
  ListAliasesCommand,
  ListKeysCommand,
} from "@aws-sdk/client-kms";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountCredentials } from "../../src/shared/account-credentials.js";
import { parseAccountsFile } from "../../src/shared/accounts.js";
import { type KmsEmulator, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { errorName } from "./kms-emulator-fixtures.js";

const HOME = "111122223333";
const APP = "222222222222";
const OTHER = "333333333333";
const APP_ROLE = `arn:aws:iam::${APP}:role/hsm2kms-import`;
const OTHER_ROLE = `arn:aws:iam::${OTHER}:role/team/hsm2kms-import`;

let emulator: KmsEmulator;
const clients: Array<{ destroy(): void }> = [];

beforeAll(async () => {
  emulator = await startKmsEmulator({
    wrappingKeyPoolSize: 0,
    quotas: { CreateKey: 1 },
    roles: [{ roleArn: APP_ROLE }, { roleArn: OTHER_ROLE, externalId: "campaign-7" }],
  });
});
afterAll(async () => {
  for (const client of clients) client.destroy();
  await emulator?.close();
});

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
const HOME_CREDENTIALS: Credentials = { accessKeyId: "test", secretAccessKey: "test" };

function sts(credentials: Credentials = HOME_CREDENTIALS): STSClient {
  const client = new STSClient({ region: "us-east-1", endpoint: emulator.url, credentials, maxAttempts: 1 });
  clients.push(client);
  return client;
}
function kms(credentials: Credentials, region = "us-east-1"): KMSClient {
  const client = new KMSClient({ region, endpoint: emulator.url, credentials, maxAttempts: 1 });
  clients.push(client);
  return client;
}
async function assume(roleArn: string, externalId?: string): Promise<Credentials> {
  const answer = await sts().send(
    new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "hsm2kms-test", ExternalId: externalId }),
  );
  const c = answer.Credentials!;
  return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
}
async function keyIds(client: KMSClient): Promise<string[]> {
  return ((await client.send(new ListKeysCommand({}))).Keys ?? []).map((key) => key.KeyId!);
}

describe("the KMS emulator serves several accounts (STS AssumeRole)", () => {
  it("gives an assumed role credentials that act in the role's account: its own keys, aliases and ARNs", async () => {
    const app = await assume(APP_ROLE);
    expect(app.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    const identity = await sts(app).send(new GetCallerIdentityCommand({}));
    expect(identity).toMatchObject({
      Account: APP,
      Arn: `arn:aws:sts::${APP}:assumed-role/hsm2kms-import/hsm2kms-test`,
    });
    expect((await sts().send(new GetCallerIdentityCommand({}))).Account).toBe(HOME);
    const appKms = kms(app);
    const created = await appKms.send(new CreateKeyCommand({ Origin: "EXTERNAL" }));
    expect(created.KeyMetadata?.Arn).toBe(`arn:aws:kms:us-east-1:${APP}:key/${created.KeyMetadata?.KeyId}`);
    expect(created.KeyMetadata?.AWSAccountId).toBe(APP);
    await appKms.send(
      new CreateAliasCommand({ AliasName: "alias/app/one", TargetKeyId: created.KeyMetadata!.KeyId! }),
    );
    expect(await keyIds(appKms)).toEqual([created.KeyMetadata!.KeyId]);
    // The caller's own account sees neither the key nor the alias.
    const home = kms(HOME_CREDENTIALS);
    expect(await keyIds(home)).not.toContain(created.KeyMetadata!.KeyId);
    const homeAliases = (await home.send(new ListAliasesCommand({}))).Aliases ?? [];
    expect(homeAliases.map((alias) => alias.AliasName)).not.toContain("alias/app/one");
    expect(emulator.allKeyIds("us-east-1", APP)).toEqual([created.KeyMetadata!.KeyId]);
    expect(emulator.allKeyIds("us-east-1")).not.toContain(created.KeyMetadata!.KeyId);
  });

  it("holds request quotas per account and Region", async () => {
    const app = kms(await assume(APP_ROLE), "eu-west-1");
    const other = kms(await assume(OTHER_ROLE, "campaign-7"), "eu-west-1");
    const home = kms(HOME_CREDENTIALS, "eu-west-1");
    // CreateKey at 1/s: each account's first call in eu-west-1 passes, a second one at once in the same
    // account is throttled, and that does not take another account's turn.
    expect(await errorName(app.send(new CreateKeyCommand({})))).toBe("no error");
    expect(await errorName(app.send(new CreateKeyCommand({})))).toBe("ThrottlingException");
    expect(await errorName(other.send(new CreateKeyCommand({})))).toBe("no error");
    expect(await errorName(home.send(new CreateKeyCommand({})))).toBe("no error");
  });

  it("refuses a role it does not know, a wrong or missing external id, and a session token that is not the credentials'", async () => {
    const refused = async (roleArn: string, externalId?: string) => {
      try {
        await assume(roleArn, externalId);
        return "no error";
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    };
    expect(await refused(`arn:aws:iam::${APP}:role/someone-else`)).toMatch(
      /^AccessDenied: .*not authorized to perform: sts:AssumeRole/,
    );
    expect(await refused(OTHER_ROLE)).toMatch(/^AccessDenied/);
    expect(await refused(OTHER_ROLE, "campaign-8")).toMatch(/^AccessDenied/);
    expect(await refused("not-an-arn")).toMatch(/^ValidationError/);
    const app = await assume(APP_ROLE);
    expect(
      await errorName(kms({ ...app, sessionToken: `${app.sessionToken}x` }).send(new ListKeysCommand({}))),
    ).toBe("UnrecognizedClientException");
    const { sessionToken: _, ...withoutToken } = app;
    expect(await errorName(kms(withoutToken).send(new ListKeysCommand({})))).toBe(
      "UnrecognizedClientException",
    );
  });
});

describe("AccountCredentials (workers' STS AssumeRole per account)", () => {
  it("assumes each account's role once, shares the credentials, refreshes them before they expire, and fails only a refused account", async () => {
    let clock = Date.now();
    const roles = parseAccountsFile(
      `account,role_arn,external_id\n${APP},${APP_ROLE},\n${OTHER},${OTHER_ROLE},wrong-id\n`,
    );
    const credentials = new AccountCredentials(roles, {
      region: "us-east-1",
      endpoint: emulator.url,
      baseCredentials: HOME_CREDENTIALS,
      now: () => clock,
    });
    clients.push(credentials);
    const assumeCalls = () => emulator.stats().regions["us-east-1"]?.["AssumeRole"]?.calls ?? 0;
    const before = assumeCalls();
    expect(credentials.provider(HOME)).toBeUndefined(); // not in the file: the caller's own credentials
    const appKms = new KMSClient({
      region: "ap-south-1",
      endpoint: emulator.url,
      credentials: credentials.provider(APP)!,
      maxAttempts: 1,
    });
    clients.push(appKms);
    const [one, two] = await Promise.all([
      appKms.send(new CreateKeyCommand({ Origin: "EXTERNAL" })),
      credentials.credentials(roles.get(APP)!),
    ]);
    expect(one.KeyMetadata?.Arn).toMatch(new RegExp(`^arn:aws:kms:ap-south-1:${APP}:key/`));
    expect(two.accessKeyId).toMatch(/^ASIA/);
    await credentials.credentials(roles.get(APP)!);
    expect(assumeCalls() - before).toBe(1);
    // Less than the 5-minute margin left: the next use assumes the role again.
    clock += 3600_000 - 4 * 60_000;
    const renewed = await credentials.credentials(roles.get(APP)!);
    expect(renewed.accessKeyId).not.toBe(two.accessKeyId);
    expect(assumeCalls() - before).toBe(2);
    // A role that refuses (here: a wrong external id) fails that account alone, saying which and why.
    const refused = await credentials.credentials(roles.get(OTHER)!).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: "ACCOUNT_ROLE_REFUSED", kind: "fatal" });
    expect((refused as Error).message).toContain(
      `account ${OTHER}: STS refused AssumeRole of ${OTHER_ROLE} (AccessDenied)`,
    );
    expect((refused as Error).message).not.toContain("wrong-id");
    // The renewed credentials (an hour from the emulator's real clock) are shared again once time is back.
    clock = Date.now();
    expect((await credentials.credentials(roles.get(APP)!)).accessKeyId).toBe(renewed.accessKeyId);
    expect(assumeCalls() - before).toBe(3); // the refused attempt counts, nothing else
  });
});
