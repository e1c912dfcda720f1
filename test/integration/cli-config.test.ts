import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { CLI_ENTRY } from "../helpers/cli.js";

const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI_ENTRY, ...args], {
      env: { PATH: process.env["PATH"] ?? "", ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("hsm2kms config (CLI)", () => {
  it("exits 2 and names the variable on a bad value", async () => {
    const result = await cli(["config"], { HSM2KMS_DELETION_WINDOW_DAYS: "99" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("HSM2KMS_DELETION_WINDOW_DAYS");
  });

  it("prints every variable with its value, source, default and meaning, the PIN redacted", async () => {
    const env = {
      HSM2KMS_PKCS11_LIB: process.execPath,
      HSM2KMS_TOKEN_LABEL: "t",
      HSM2KMS_PKCS11_PIN: "crypto-user:pa55word",
    };
    const table = await cli(["config"], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^VARIABLE +VALUE +SOURCE +DEFAULT +MEANING$/m);
    expect(table.stdout).toMatch(/^HSM2KMS_PKCS11_PIN +\[redacted\] +environment +- +the user PIN itself/m);
    expect(table.stdout).toMatch(/^HSM2KMS_JOB_LOCK +1m00s +default +60s +how long a worker holds a job/m);
    const json = await cli(["config", "--json"], env);
    expect(json.code).toBe(0);
    const shown = JSON.parse(json.stdout) as { config: { hsm: { pin: string } }; variables: unknown[] };
    expect(shown.config.hsm.pin).toBe("[redacted]");
    expect(shown.variables).toContainEqual(
      expect.objectContaining({ name: "HSM2KMS_TOKEN_LABEL", value: "t", source: "environment" }),
    );
    expect(table.stdout + table.stderr + json.stdout + json.stderr).not.toContain("pa55word");
  });

  it("exits 2 on an unknown command and 0 on --help", async () => {
    expect((await cli(["frobnicate"], {})).code).toBe(2);
    const help = await cli(["--help"], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Exit codes");
  });
});
