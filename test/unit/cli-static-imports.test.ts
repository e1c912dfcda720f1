import { join } from "node:path";
import { build, type Plugin, stop } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");

/** Packages that cost start-up time or need a native binary: only a command's action may load them. */
const HEAVY = /^(@aws-sdk\/|@smithy\/|bullmq$|ioredis$|pkcs11js$|prom-client$)/;

/**
 * Walks src/cli/main.ts's STATIC import graph with esbuild (nothing is written): `await import()` is left
 * out, every package is left out, and each heavy package reached is recorded with the module that imports it.
 */
async function heavyStaticImports(): Promise<string[]> {
  const found: string[] = [];
  const trace: Plugin = {
    name: "static-graph",
    setup(on) {
      on.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === "dynamic-import") return { path: args.path, external: true };
        if (args.path.startsWith(".") || args.path.startsWith("/") || args.kind === "entry-point") return;
        const name = args.path.startsWith("@")
          ? args.path.split("/").slice(0, 2).join("/")
          : args.path.split("/")[0]!;
        if (HEAVY.test(name) || HEAVY.test(`${name}/`))
          found.push(`${name} <- ${args.importer.slice(ROOT.length + 1)}`);
        return { path: args.path, external: true };
      });
    },
  };
  await build({
    entryPoints: [join(ROOT, "src/cli/main.ts")],
    absWorkingDir: ROOT,
    tsconfig: join(ROOT, "tsconfig.json"),
    bundle: true,
    write: false,
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "silent",
    plugins: [trace],
  });
  return [...new Set(found)].sort();
}

describe("hsm2kms start-up (issue #15: --version and --help load no heavy module)", () => {
  afterAll(() => stop());

  it("reaches no AWS SDK, BullMQ, ioredis, pkcs11js or prom-client module through static imports", async () => {
    expect(await heavyStaticImports()).toEqual([]);
  });
});
