import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, stop } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");

/**
 * The package as an operator gets it: `npm pack`, then `npm install ./hsm2kms-<version>.tgz` in an empty
 * folder, then the `hsm2kms` that npm linked. Sources are compiled with esbuild here instead of the `prepack`
 * script's tsc (the same output layout, a fraction of the time; `npm run typecheck` covers tsc itself), and
 * dependencies come from npm's cache where it has them (`--prefer-offline`). Install scripts are skipped:
 * pkcs11js's native build is not what `--version` and `--help` need, and it is what `npm ci` checks already.
 */
describe("the packed tarball, installed into an empty folder", () => {
  const work = mkdtempSync(join(tmpdir(), "hsm2kms-pack-"));
  const env = { PATH: process.env["PATH"], HOME: process.env["HOME"], npm_config_update_notifier: "false" };
  let files: string[] = [];
  let installed = "";

  beforeAll(async () => {
    const staging = join(work, "staging");
    mkdirSync(staging);
    for (const entry of ["package.json", "bin", "README.md", "SECURITY.md", "deploy"])
      cpSync(join(ROOT, entry), join(staging, entry), { recursive: true });
    const sources = readdirSync(join(ROOT, "src"), { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".ts"))
      .map((file) => join(ROOT, "src", file));
    await build({
      entryPoints: sources,
      outdir: join(staging, "dist"),
      outbase: join(ROOT, "src"),
      absWorkingDir: ROOT,
      tsconfig: join(ROOT, "tsconfig.json"),
      format: "esm",
      platform: "node",
      target: "node20",
      logLevel: "error",
    });
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], {
        cwd: staging,
        env,
        encoding: "utf8",
      }),
    ) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = packed[0]!.files.map((file) => file.path);
    const target = join(work, "operator");
    mkdirSync(target);
    writeFileSync(join(target, "package.json"), '{ "private": true }\n');
    execFileSync(
      "npm",
      [
        "install",
        "--prefer-offline",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        join(work, packed[0]!.filename),
      ],
      { cwd: target, env, stdio: ["ignore", "ignore", "pipe"] },
    );
    installed = join(target, "node_modules/.bin/hsm2kms");
  }, 240_000);

  afterAll(async () => {
    // esbuild's service process outlives build(): stop it (the leak guard reports it otherwise), whatever
    // happened before, and remove the folder even if stopping fails.
    try {
      await stop();
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("holds the compiled CLI, the deploy files and the docs, not the sources or the testkit", () => {
    expect(files).toContain("bin/hsm2kms.js");
    expect(files).toContain("dist/cli/main.js");
    expect(files).toContain("README.md");
    expect(files.some((file) => file.startsWith("deploy/iam/"))).toBe(true);
    expect(files.filter((file) => /^(src|test|bench)\//.test(file))).toEqual([]);
    expect(files.filter((file) => /^dist\/testkit\//.test(file))).toEqual([]);
  });

  it("runs `hsm2kms --version` and `--help` from the compiled files npm linked", () => {
    const run = (args: string[]) => execFileSync(installed, args, { env, encoding: "utf8" });
    const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string })
      .version;
    expect(run(["--version"]).trim()).toBe(version);
    const help = run(["--help"]);
    for (const command of ["inventory", "enqueue", "worker", "status", "report", "config"])
      expect(help).toMatch(new RegExp(`^  ${command}\\b`, "m"));
  });

  it("says the sandbox's commands need the testkit, which the package leaves out (exit 2)", () => {
    const refused = spawnSync(installed, ["kms-emulator", "--port", "0"], { env, encoding: "utf8" });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain("the testkit is not part of this build");
  });

  it("validates the configuration with nothing but its own dependencies", () => {
    const shown = execFileSync(installed, ["config"], {
      env: { ...env, REDIS_URL: "redis://:hunter2@127.0.0.1:6379" },
      encoding: "utf8",
    });
    expect(shown).toContain("127.0.0.1:6379");
    expect(shown).not.toContain("hunter2");
  });
});
