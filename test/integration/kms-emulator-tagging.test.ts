import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  type KMSClient,
  ListAliasesCommand,
  ListKeysCommand,
  ReplicateKeyCommand,
  ScheduleKeyDeletionCommand,
  UntagResourceCommand,
} from "@aws-sdk/client-kms";
import {
  GetResourcesCommand,
  type GetResourcesCommandInput,
  ResourceGroupsTaggingAPIClient,
} from "@aws-sdk/client-resource-groups-tagging-api";
import { afterEach, describe, expect, it } from "vitest";
import { createKmsAdapter } from "../../src/shared/kms/index.js";
import type { ResourceQuotaEvent } from "../../src/shared/kms/types.js";
import { type KmsEmulatorOptions, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { errorName, kmsClient } from "./kms-emulator-fixtures.js";

const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };
const opened: Array<{ close(): unknown }> = [];

afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close();
});

async function emulatorWith(options: KmsEmulatorOptions) {
  const emulator = await startKmsEmulator({ quotas: false, wrappingKeyPoolSize: 0, ...options });
  opened.push(emulator);
  const kms = kmsClient(emulator);
  const tagging = new ResourceGroupsTaggingAPIClient({
    region: "us-east-1",
    endpoint: emulator.url,
    credentials: CREDENTIALS,
    maxAttempts: 1,
  });
  opened.push({ close: () => kms.destroy() }, { close: () => tagging.destroy() });
  return { emulator, kms, tagging };
}

const tag = (TagKey: string, TagValue: string) => ({ TagKey, TagValue });

async function createTagged(kms: KMSClient, tags: Array<{ TagKey: string; TagValue: string }>) {
  const out = await kms.send(new CreateKeyCommand({ Origin: "EXTERNAL", Tags: tags }));
  return out.KeyMetadata!;
}

/** Every page of a GetResources query: the ARNs and tags, and how many calls it took. */
async function allPages(tagging: ResourceGroupsTaggingAPIClient, input: GetResourcesCommandInput) {
  const found: Array<{ arn: string; tags: Record<string, string> }> = [];
  let token: string | undefined;
  let calls = 0;
  do {
    const out = await tagging.send(new GetResourcesCommand({ ...input, PaginationToken: token }));
    calls++;
    for (const mapping of out.ResourceTagMappingList ?? [])
      found.push({
        arn: mapping.ResourceARN ?? "",
        tags: Object.fromEntries((mapping.Tags ?? []).map((t) => [t.Key, t.Value])),
      });
    token = out.PaginationToken || undefined;
  } while (token && calls < 100);
  return { found, calls };
}

describe("Resource Groups Tagging API GetResources on the emulator, through the SDK", () => {
  it("filters by tags (AND across keys, OR across values, any value when none given) and by resource type", async () => {
    const { kms, tagging } = await emulatorWith({ tagIndexDelayMs: 0 });
    const a = await createTagged(kms, [tag("team", "pay"), tag("env", "prod")]);
    const b = await createTagged(kms, [tag("team", "pay"), tag("env", "dev")]);
    const c = await createTagged(kms, [tag("team", "ops"), tag("env", "prod")]);
    await createTagged(kms, []);
    const arns = async (input: GetResourcesCommandInput) =>
      (await allPages(tagging, input)).found.map((entry) => entry.arn).sort();

    expect(await arns({ TagFilters: [{ Key: "team", Values: ["pay"] }] })).toEqual([a.Arn, b.Arn].sort());
    expect(
      await arns({
        TagFilters: [
          { Key: "team", Values: ["pay"] },
          { Key: "env", Values: ["prod"] },
        ],
      }),
    ).toEqual([a.Arn]);
    expect(await arns({ TagFilters: [{ Key: "env", Values: ["dev", "prod"] }] })).toHaveLength(3);
    expect(await arns({ TagFilters: [{ Key: "team" }] })).toEqual([a.Arn, b.Arn, c.Arn].sort());
    expect(
      await arns({ TagFilters: [{ Key: "team", Values: ["ops"] }], ResourceTypeFilters: ["kms:key"] }),
    ).toEqual([c.Arn]);
    expect(
      await arns({ TagFilters: [{ Key: "team", Values: ["ops"] }], ResourceTypeFilters: ["ec2:instance"] }),
    ).toEqual([]);
    const [mapping] = (await allPages(tagging, { TagFilters: [{ Key: "team", Values: ["ops"] }] })).found;
    expect(mapping?.tags).toEqual({ team: "ops", env: "prod" });
  });

  it("a key whose tags were all removed is still listed without filters, with an empty tag set", async () => {
    const { kms, tagging } = await emulatorWith({ tagIndexDelayMs: 0 });
    const key = await createTagged(kms, [tag("team", "pay")]);
    await kms.send(new UntagResourceCommand({ KeyId: key.KeyId, TagKeys: ["team"] }));
    const { found } = await allPages(tagging, {});
    expect(found.find((entry) => entry.arn === key.Arn)?.tags).toEqual({});
    expect((await allPages(tagging, { TagFilters: [{ Key: "team" }] })).found).toEqual([]);
  });

  it("pages with ResourcesPerPage (a page may hold fewer results, even none, but the token leads to all)", async () => {
    const { kms, tagging } = await emulatorWith({ tagIndexDelayMs: 0 });
    const arns = new Set<string>();
    for (let i = 0; i < 7; i++) arns.add((await createTagged(kms, [tag("batch", "one")])).Arn!);
    const first = await tagging.send(
      new GetResourcesCommand({ TagFilters: [{ Key: "batch" }], ResourcesPerPage: 2 }),
    );
    expect(first.ResourceTagMappingList!.length).toBeLessThanOrEqual(2);
    const { found, calls } = await allPages(tagging, { TagFilters: [{ Key: "batch" }], ResourcesPerPage: 2 });
    expect(new Set(found.map((entry) => entry.arn))).toEqual(arns);
    expect(calls).toBeGreaterThanOrEqual(4);
    const last = await allPages(tagging, { TagFilters: [{ Key: "batch" }], ResourcesPerPage: 100 });
    expect(last.found).toHaveLength(7);
  });

  it("refuses bad parameters with InvalidParameterException", async () => {
    const { tagging } = await emulatorWith({ tagIndexDelayMs: 0 });
    const name = (input: GetResourcesCommandInput) => errorName(tagging.send(new GetResourcesCommand(input)));
    expect(await name({ PaginationToken: "made-up" })).toBe("InvalidParameterException");
    expect(await name({ ResourcesPerPage: 101 })).toBe("InvalidParameterException");
    expect(await name({ TagsPerPage: 99 })).toBe("InvalidParameterException");
    expect(await name({ ResourcesPerPage: 10, TagsPerPage: 100 })).toBe("InvalidParameterException");
    expect(
      await name({
        ResourceARNList: ["arn:aws:kms:us-east-1:111122223333:key/x"],
        TagFilters: [{ Key: "a" }],
      }),
    ).toBe("InvalidParameterException");
    expect(await name({ TagFilters: [{ Key: "a", Values: Array(21).fill("v") }] })).toBe(
      "InvalidParameterException",
    );
  });

  it("is eventually consistent: a new key's tags show only after the index delay", async () => {
    const { kms, tagging } = await emulatorWith({ tagIndexDelayMs: 1500 });
    const key = await createTagged(kms, [tag("hsm2kms:migration-id", "m-1")]);
    const query = { TagFilters: [{ Key: "hsm2kms:migration-id", Values: ["m-1"] }] };
    expect((await allPages(tagging, query)).found).toEqual([]);
    let seen: string[] = [];
    for (let i = 0; i < 60 && seen.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      seen = (await allPages(tagging, query)).found.map((entry) => entry.arn);
    }
    expect(seen).toEqual([key.Arn]);
  });

  it("an injected fault answers InternalServiceException (HTTP 500), which the KMS port retries", async () => {
    const { emulator } = await emulatorWith({ tagIndexDelayMs: 0, faultRate: 1 });
    const port = createKmsAdapter({
      region: "us-east-1",
      endpoint: emulator.url,
      credentials: CREDENTIALS,
      maxAttempts: 1,
    });
    opened.push(port);
    await expect(port.findKeysByTag("hsm2kms:migration-id", "x")).rejects.toMatchObject({
      kind: "retryable",
      details: { awsError: "InternalServiceException", httpStatus: 500 },
    });
  });

  it("answers over its quota with ThrottledException, which the KMS port treats as a throttle", async () => {
    const { emulator } = await emulatorWith({ tagIndexDelayMs: 0, quotas: { GetResources: 1 } });
    const port = createKmsAdapter({ region: "us-east-1", endpoint: emulator.url, credentials: CREDENTIALS });
    opened.push(port);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 4 }, () => port.findKeysByTag("hsm2kms:migration-id", "x")),
    );
    const rejected = outcomes.filter((outcome) => outcome.status === "rejected");
    expect(rejected.length).toBeGreaterThan(0);
    for (const outcome of rejected)
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({
        kind: "throttled",
        details: { awsError: "ThrottledException" },
      });
    expect(emulator.stats().regions["us-east-1"]?.["GetResources"]?.throttled).toBeGreaterThan(0);
  });
});

describe("resource quotas on the emulator", () => {
  it("--max-keys: CreateKey and ReplicateKey beyond the quota answer LimitExceededException (keys pending deletion count)", async () => {
    const { emulator, kms } = await emulatorWith({ maxKeysPerRegion: 2 });
    const mrk = await kms.send(new CreateKeyCommand({ MultiRegion: true }));
    const other = await kms.send(new CreateKeyCommand({}));
    await kms.send(
      new ScheduleKeyDeletionCommand({ KeyId: other.KeyMetadata!.KeyId, PendingWindowInDays: 7 }),
    );
    expect(await errorName(kms.send(new CreateKeyCommand({})))).toBe("LimitExceededException");
    const west = kmsClient(emulator, "eu-west-1");
    opened.push({ close: () => west.destroy() });
    await west.send(new CreateKeyCommand({}));
    await west.send(new CreateKeyCommand({}));
    expect(
      await errorName(
        kms.send(new ReplicateKeyCommand({ KeyId: mrk.KeyMetadata!.KeyId, ReplicaRegion: "eu-west-1" })),
      ),
    ).toBe("LimitExceededException");
  });

  it("the KMS port fails a full Region clearly, then stops sending CreateKey there (one probe per hold)", async () => {
    const { emulator } = await emulatorWith({ maxKeysPerRegion: 1 });
    const events: ResourceQuotaEvent[] = [];
    const port = createKmsAdapter({
      region: "us-east-1",
      endpoint: emulator.url,
      credentials: CREDENTIALS,
      onResourceQuota: (event) => events.push(event),
    });
    opened.push(port);
    const input = {
      keySpec: "SYMMETRIC_DEFAULT",
      keyUsage: "ENCRYPT_DECRYPT",
      tags: {},
      multiRegion: false,
    } as const;
    await port.createKey(input);
    const refused = await port.createKey(input).catch((error: unknown) => error);
    expect(refused).toMatchObject({ kind: "fatal", code: "KMS_RESOURCE_QUOTA_EXCEEDED" });
    expect((refused as Error).message).toContain('"AWS KMS keys"');
    expect((refused as Error).message).toContain("Service Quotas");
    expect((refused as Error).message).toContain("us-east-1");
    for (let i = 0; i < 3; i++)
      await expect(port.createKey(input)).rejects.toMatchObject({
        code: "KMS_RESOURCE_QUOTA_EXCEEDED",
        details: { held: true },
      });
    expect(emulator.stats().regions["us-east-1"]?.["CreateKey"]?.calls).toBe(2);
    expect(events).toEqual([
      { region: "us-east-1", quota: "AWS KMS keys", state: "exceeded", operation: "CreateKey" },
    ]);
  });

  it("a key holds at most 50 aliases", async () => {
    const { kms } = await emulatorWith({});
    const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    for (let i = 0; i < 50; i++)
      await kms.send(new CreateAliasCommand({ AliasName: `alias/many/${i}`, TargetKeyId: key.KeyId }));
    expect(
      await errorName(
        kms.send(new CreateAliasCommand({ AliasName: "alias/many/50", TargetKeyId: key.KeyId })),
      ),
    ).toBe("LimitExceededException");
  });
});

describe("--seed-keys", () => {
  it("starts a Region with 10,000 unrelated keys of mixed origins, some tagged and aliased", async () => {
    const { kms, tagging } = await emulatorWith({ seedKeys: 10_000 });
    let keys = 0;
    let marker: string | undefined;
    do {
      const page = await kms.send(new ListKeysCommand({ Limit: 1000, Marker: marker }));
      keys += page.Keys?.length ?? 0;
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    expect(keys).toBe(10_000);
    const aliases = await kms.send(new ListAliasesCommand({ Limit: 100 }));
    expect(aliases.Aliases?.length).toBe(100);
    const tagged = (await allPages(tagging, { TagFilters: [{ Key: "team" }], ResourcesPerPage: 100 })).found;
    expect(tagged.length).toBe(3334);
    const origins = new Set<string>();
    for (const mapping of tagged.slice(0, 8)) {
      const described = await kms.send(new DescribeKeyCommand({ KeyId: mapping.arn }));
      origins.add(described.KeyMetadata!.Origin!);
    }
    expect(origins).toEqual(new Set(["AWS_KMS", "EXTERNAL"]));
  });
});
