import { cp, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";

const ROOT = join(import.meta.dirname, "../..");

/**
 * Transpiles src/ once per test run into `outDir` (src/ mirrored, package.json beside it so that the output is
 * ESM and `../../package.json` still resolves, packages from the worktree's node_modules) and returns the
 * entry to spawn instead of bin/hsm2kms.js. Why: bin/hsm2kms.js compiles through tsx's loader hooks at every
 * start, which costs about as much CPU again as loading the CLI itself (~0.8 s of ~1.7 s), and the suites
 * start a few hundred CLI processes on a 2-core machine. Same sources, same compiler (esbuild) and the
 * settings tsx uses (tsconfig.json, keepNames); bin/hsm2kms.js itself is still run by the tests that pass
 * `{ bin: BIN }` or spawn it directly (sandbox demo, deploy-compose).
 */
export async function buildTestCli(outDir: string): Promise<string> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const sources = (await readdir(join(ROOT, "src"), { recursive: true }))
    .filter((file) => file.endsWith(".ts"))
    .map((file) => join(ROOT, "src", file));
  await build({
    entryPoints: sources,
    outdir: join(outDir, "src"),
    outbase: join(ROOT, "src"),
    absWorkingDir: ROOT,
    tsconfig: join(ROOT, "tsconfig.json"),
    format: "esm",
    platform: "node",
    target: `node${process.versions.node}`,
    keepNames: true,
    sourcemap: "inline",
    logLevel: "error",
  });
  await cp(join(ROOT, "package.json"), join(outDir, "package.json"));
  const entry = join(outDir, "hsm2kms.js");
  // What bin/hsm2kms.js does, minus registering tsx.
  await writeFile(
    entry,
    'process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";\nawait import("./src/cli/main.js");\n',
  );
  return entry;
}
