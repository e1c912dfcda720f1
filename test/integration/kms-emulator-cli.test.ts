import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { CreateKeyCommand, DescribeKeyCommand } from "@aws-sdk/client-kms";
import { afterAll, describe, expect, it } from "vitest";
import { kmsClient } from "./kms-emulator-fixtures.js";

const BIN = join(import.meta.dirname, "../../bin/hsm2kms.js");
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
});

function run(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
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
});
