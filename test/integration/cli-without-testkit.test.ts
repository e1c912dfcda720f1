import { cp, mkdir, rm } from "node:fs/promises";
import { basename, dirname, join, sep } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, CLI_ENTRY, runCli } from "../helpers/cli.js";

const ROOT = join(import.meta.dirname, "../..");

/**
 * The Docker image does not ship src/testkit (.dockerignore). The same CLI the other tests spawn, copied
 * without its testkit (inside the repository, so that node_modules still resolves): every other command
 * still loads, and the commands that need the testkit exit 2 saying why.
 */
let entry: string;
let copy: string;

beforeAll(async () => {
  copy = join(ROOT, ".tmp", `no-testkit-${process.pid}-${Date.now()}`);
  await mkdir(copy, { recursive: true });
  // bin/hsm2kms.js (through tsx) sits one folder below src/'s parent; the transpiled entry beside it.
  const base = CLI_ENTRY === BIN ? ROOT : dirname(CLI_ENTRY);
  const parts =
    CLI_ENTRY === BIN
      ? ["bin", "src", "package.json", "tsconfig.json"]
      : [basename(CLI_ENTRY), "src", "package.json"];
  const testkit = join(base, "src", "testkit");
  for (const part of parts)
    await cp(join(base, part), join(copy, part), {
      recursive: true,
      filter: (source) => source !== testkit && !source.startsWith(testkit + sep),
    });
  entry = CLI_ENTRY === BIN ? join(copy, "bin", "hsm2kms.js") : join(copy, basename(CLI_ENTRY));
});

afterAll(async () => {
  if (copy) await rm(copy, { recursive: true, force: true });
});

describe("a build without the testkit", () => {
  it.each([
    ["kms-emulator", "--port", "0"],
    ["sandbox", "init", "--dir", "unused"],
    ["sandbox", "demo", "--dir", "unused"],
  ])("`hsm2kms %s %s` exits 2: the testkit is not part of this build", async (...args) => {
    const { code, output } = await runCli(args, {}, { bin: entry });
    expect(output).toContain(
      "hsm2kms: the testkit is not part of this build; run from a clone of the repository",
    );
    expect(code).toBe(2);
  });

  it("still loads every command (the others never import the testkit)", async () => {
    const help = await runCli(["--help"], {}, { bin: entry });
    expect(help.code).toBe(0);
    for (const command of ["worker", "enqueue", "status", "report", "audit", "kms-emulator", "sandbox"])
      expect(help.output).toMatch(new RegExp(`^\\s+${command}\\b`, "m"));
  });
});
