import { cp, mkdir, rm } from "node:fs/promises";
import { join, sep } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";

const ROOT = join(import.meta.dirname, "../..");

/**
 * The Docker image does not ship src/testkit (.dockerignore). bin/hsm2kms.js with src/ copied without its
 * testkit (inside the repository, so that node_modules still resolves; run through tsx, as no dist/ is
 * copied): every other command still loads, and the commands that need the testkit exit 2 saying why. (The
 * CLI the other tests spawn is one bundle, with no testkit folder to leave out.)
 */
let entry: string;
let copy: string;

beforeAll(async () => {
  copy = join(ROOT, ".tmp", `no-testkit-${process.pid}-${Date.now()}`);
  await mkdir(copy, { recursive: true });
  const testkit = join(ROOT, "src", "testkit");
  for (const part of ["bin", "src", "package.json", "tsconfig.json"])
    await cp(join(ROOT, part), join(copy, part), {
      recursive: true,
      filter: (source) => source !== testkit && !source.startsWith(testkit + sep),
    });
  entry = join(copy, "bin", "hsm2kms.js");
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
