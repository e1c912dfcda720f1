import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { CreateKeyCommand, DescribeKeyCommand, KMSClient, ListKeysCommand } from "@aws-sdk/client-kms";
import {
  GetResourcesCommand,
  ResourceGroupsTaggingAPIClient,
} from "@aws-sdk/client-resource-groups-tagging-api";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/shared/errors.js";
import { readCredentialsFile } from "../../src/testkit/kms-emulator/flags.js";
import { CLI_ENTRY } from "../helpers/cli.js";
import { errorName, kmsClient } from "./kms-emulator-fixtures.js";

const children: ChildProcess[] = [];
const directory = mkdtempSync(join(tmpdir(), "kms-emulator-cli-"));

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  rmSync(directory, { recursive: true, force: true });
});

/** The CLI transpiled once per run (bin/hsm2kms.js itself is covered by the sandbox demo test). */
function run(args: string[]) {
  const child = spawn(process.execPath, [CLI_ENTRY, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return child;
}

/** The first stdout line; rejects with stderr when the process exits first (e.g. a broken import). */
function firstLine(child: ChildProcess): Promise<string> {
  let stderr = "";
  child.stderr!.on("data", (chunk) => {
    stderr += String(chunk);
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) =>
      reject(new Error(`kms-emulator exited (${code}) before printing its URL:\n${stderr}`)),
    );
  });
}

describe("hsm2kms kms-emulator", () => {
  it("prints its URL, answers the SDK, and exits 0 on SIGTERM", async () => {
    const child = run(["kms-emulator", "--port", "0", "--no-quotas", "--log-level", "warn"]);
    const url = await firstLine(child);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const client = kmsClient({
      url,
      port: 0,
      close: async () => {},
      stats: () => ({ regions: {}, total: { calls: 0, throttled: 0, faults: 0 } }),
      allKeyIds: () => [],
      advanceClock: () => {},
    });
    try {
      const created = await client.send(new CreateKeyCommand({ Description: "from the CLI test" }));
      const described = await client.send(new DescribeKeyCommand({ KeyId: created.KeyMetadata!.KeyId }));
      expect(described.KeyMetadata?.Description).toBe("from the CLI test");
    } finally {
      client.destroy();
    }
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
  });

  it("--credentials-file replaces the default access keys; a broken file is refused without echoing it", async () => {
    const file = join(directory, "credentials.json");
    writeFileSync(file, JSON.stringify([{ accessKeyId: "AKIDCLI", secretAccessKey: "cli-secret-42" }]), {
      mode: 0o600,
    });
    const child = run(["kms-emulator", "--no-quotas", "--log-level", "warn", "--credentials-file", file]);
    const url = await firstLine(child);
    const client = (accessKeyId: string, secretAccessKey: string) =>
      new KMSClient({
        region: "us-east-1",
        endpoint: url,
        credentials: { accessKeyId, secretAccessKey },
        maxAttempts: 1,
      });
    const known = client("AKIDCLI", "cli-secret-42");
    const defaults = client("test", "test");
    try {
      expect((await known.send(new ListKeysCommand({}))).Keys).toEqual([]);
      await expect(defaults.send(new ListKeysCommand({}))).rejects.toMatchObject({
        name: "UnrecognizedClientException",
      });
    } finally {
      known.destroy();
      defaults.destroy();
      child.kill("SIGTERM");
      await once(child, "exit");
    }
    const broken = join(directory, "broken.json");
    writeFileSync(broken, '[{"accessKeyId": "AKIDCLI", "secretAccessKey": ""}, "hunter2-secret"]');
    let message = "";
    try {
      readCredentialsFile(broken);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toContain(`--credentials-file ${broken}: entry 1 needs a non-empty secretAccessKey`);
    expect(message).not.toContain("hunter2");
  });

  it("a bad flag exits 2 naming it", async () => {
    const child = run(["kms-emulator", "--fault-rate", "1.5"]);
    let stderr = "";
    child.stderr!.on("data", (chunk) => {
      stderr += String(chunk);
    });
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(2);
    expect(stderr).toContain("--fault-rate");
  });

  it("--seed-keys, --max-keys and --tag-index-delay-ms: a full account that answers GetResources", async () => {
    const child = run([
      "kms-emulator",
      "--no-quotas",
      "--log-level",
      "warn",
      "--seed-keys",
      "40",
      "--max-keys",
      "41",
      "--tag-index-delay-ms",
      "0",
    ]);
    const url = await firstLine(child);
    const emulator = {
      url,
      port: 0,
      close: async () => {},
      stats: () => ({ regions: {}, total: { calls: 0, throttled: 0, faults: 0 } }),
      allKeyIds: () => [],
      advanceClock: () => {},
    };
    const client = kmsClient(emulator);
    const tagging = new ResourceGroupsTaggingAPIClient({
      region: "us-east-1",
      endpoint: url,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      maxAttempts: 1,
    });
    try {
      const keys = await client.send(new ListKeysCommand({ Limit: 100 }));
      expect(keys.Keys).toHaveLength(40);
      const tagged = await client.send(
        new CreateKeyCommand({ Tags: [{ TagKey: "hsm2kms:migration-id", TagValue: "cli" }] }),
      );
      expect(await errorName(client.send(new CreateKeyCommand({})))).toBe("LimitExceededException");
      const found = await tagging.send(
        new GetResourcesCommand({ TagFilters: [{ Key: "hsm2kms:migration-id", Values: ["cli"] }] }),
      );
      expect(found.ResourceTagMappingList?.map((mapping) => mapping.ResourceARN)).toEqual([
        tagged.KeyMetadata?.Arn,
      ]);
    } finally {
      client.destroy();
      tagging.destroy();
      child.kill("SIGTERM");
    }
  });

  it("a bad --max-keys exits 2 naming it", async () => {
    const child = run(["kms-emulator", "--max-keys", "0"]);
    let stderr = "";
    child.stderr!.on("data", (chunk) => {
      stderr += String(chunk);
    });
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(2);
    expect(stderr).toContain("--max-keys");
  });
});
