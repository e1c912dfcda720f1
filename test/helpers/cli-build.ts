import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build, type Plugin } from "esbuild";

const ROOT = join(import.meta.dirname, "../..");

/**
 * CommonJS packages bundled into ES modules still call require() and read __dirname: each output file
 * defines them, as Node defines them for a CommonJS file.
 */
const COMMONJS_GLOBALS = [
  'import { createRequire as __h2kCreateRequire } from "node:module";',
  'import { fileURLToPath as __h2kFileURLToPath } from "node:url";',
  'import { dirname as __h2kDirname } from "node:path";',
  "const require = __h2kCreateRequire(import.meta.url);",
  "const __filename = __h2kFileURLToPath(import.meta.url);",
  "const __dirname = __h2kDirname(__filename);",
].join(" ");

/**
 * A package the sources import dynamically (`await import("@aws-sdk/client-sts")`) stays a real import() that
 * Node resolves: a CommonJS package bundled behind a split point would offer only its default export, where
 * Node's import() also gives the named ones.
 */
const dynamicPackagesStayOutside: Plugin = {
  name: "dynamic-packages-stay-outside",
  setup(bundle) {
    bundle.onResolve({ filter: /^[^./]/ }, (args) =>
      args.kind === "dynamic-import" ? { path: args.path, external: true } : undefined,
    );
  },
};

/**
 * Bundles the CLI once per test run into `outDir` and returns the entry to spawn instead of bin/hsm2kms.js.
 * Why: the suites start a few hundred CLI processes on a 2-core machine, and a CLI process spends most of its
 * CPU loading modules, not running. Measured per process (`report`, `status`, `worker --until-idle` on an
 * empty campaign, Node 20): through tsx's loader hooks (bin/hsm2kms.js) ~1.7 s; src/ transpiled file by file
 * ~0.7 / 0.65 / 1.0 s; bundled (one module graph, no per-file resolution, no CommonJS export scanning, no
 * source maps) 0.29 / 0.32 / 0.44 s. Same sources, same compiler (esbuild, tsconfig.json, keepNames) as tsx;
 * the commands' lazy imports stay lazy (code splitting). Only pkcs11js stays outside: a native addon.
 * package.json sits at `outDir` so that src/cli's `../../package.json` still resolves from the output in
 * `outDir/src/cli`. bin/hsm2kms.js itself is still run by the tests that pass `{ bin: BIN }` or spawn it
 * directly (sandbox demo, deploy-compose), and the packed dist/ by package-install.
 */
export async function buildTestCli(outDir: string): Promise<string> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [join(ROOT, "src", "cli", "main.ts")],
    outdir: join(outDir, "src", "cli"),
    absWorkingDir: ROOT,
    tsconfig: join(ROOT, "tsconfig.json"),
    bundle: true,
    splitting: true,
    external: ["pkcs11js"],
    plugins: [dynamicPackagesStayOutside],
    banner: { js: COMMONJS_GLOBALS },
    format: "esm",
    platform: "node",
    target: `node${process.versions.node}`,
    keepNames: true,
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
