import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { inject } from "vitest";
import { ownerMark } from "./leak-registry.js";

/** The CLI as users run it (through tsx). */
export const BIN = join(import.meta.dirname, "../../bin/hsm2kms.js");

/**
 * What the helpers spawn: the same sources transpiled once per run by the global setup (see buildTestCli),
 * or bin/hsm2kms.js where no global setup provided one.
 */
export const CLI_ENTRY = inject("cliEntry") ?? BIN;

export interface SpawnOptions {
  /** The entry script. @defaultValue CLI_ENTRY */
  bin?: string;
}

export interface CliProcess {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

/**
 * Spawns `hsm2kms ...` with exactly this environment (plus PATH), capturing its output. The test Redis has no
 * persistence, so HSM2KMS_ALLOW_VOLATILE_REDIS=true unless `env` says otherwise.
 */
export function spawnCli(
  args: string[],
  env: Record<string, string>,
  options: SpawnOptions = {},
): CliProcess {
  const child = spawn(process.execPath, [options.bin ?? CLI_ENTRY, ...args], {
    env: {
      PATH: process.env["PATH"] ?? "",
      NODE_NO_WARNINGS: "1",
      HSM2KMS_ALLOW_VOLATILE_REDIS: "true",
      ...ownerMark(),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const chunks: string[] = [];
  child.stdout?.on("data", (chunk) => chunks.push(String(chunk)));
  child.stderr?.on("data", (chunk) => chunks.push(String(chunk)));
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return { child, output: () => chunks.join(""), exited };
}

/** Runs `hsm2kms ...` to the end; returns its exit code and output. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<{ code: number | string; output: string }> {
  const cli = spawnCli(args, env, options);
  const code = await cli.exited;
  return { code, output: cli.output() };
}
