import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const BIOME = join(ROOT, "node_modules/.bin/biome");
const run = promisify(execFile);

/**
 * The product cannot import the testkit: biome.json's noRestrictedImports override (src/** but src/testkit
 * and the one loader, src/cli/testkit.ts). `npm run lint` checks the real tree; this checks that the rule
 * really fires, with the repository's biome.json, on probe files laid out as in src/.
 */
// The probes' specifiers are built from parts: they point into the probe tree, not into this repository
// (test/unit/repository-standalone.test.ts checks every path this repository names).
const UP = "..";
const PROBES: Record<string, string> = {
  // Forbidden: static, type-only and dynamic imports, from any depth.
  "src/campaign/static.ts": `import { SAMPLE_KEYS } from "${UP}/testkit/sample-keys.js";\n\nexport const k = SAMPLE_KEYS;\n`,
  "src/shared/hsm/type-only.ts": `import type { SampleKey } from "${UP}/${UP}/testkit/sample-keys.js";\n\nexport type K = SampleKey;\n`,
  "src/workers/dynamic.ts": `export const load = () => import("${UP}/testkit/softhsm.js");\n`,
  // Allowed: the testkit itself, and the loader the sandbox and kms-emulator commands use.
  "src/testkit/sample-keys.ts": "export const SAMPLE_KEYS = 1;\n",
  "src/testkit/demo/inside.ts": `import { SAMPLE_KEYS } from "${UP}/sample-keys.js";\n\nexport const k = SAMPLE_KEYS;\n`,
  "src/cli/testkit.ts": `export const load = () => import("${UP}/testkit/sample-keys.js");\n`,
};

let dir: string;
let report: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hsm2kms-testkit-boundary-"));
  await copyFile(join(ROOT, "biome.json"), join(dir, "biome.json"));
  for (const [path, text] of Object.entries(PROBES)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  // A temporary directory is no git checkout: lint it without biome.json's VCS integration.
  const lint = await run(BIOME, ["lint", "--vcs-enabled=false", "--max-diagnostics=50", "."], {
    cwd: dir,
  }).catch((error: { stdout: string; stderr: string }) => error);
  report = lint.stdout + lint.stderr;
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the product cannot import the testkit (biome noRestrictedImports)", () => {
  it.each(["src/campaign/static.ts:1", "src/shared/hsm/type-only.ts:1", "src/workers/dynamic.ts:1"])(
    "fires on %s",
    (where) => {
      const diagnostic = report.split(/\n(?=\S)/).find((block) => block.startsWith(`${where}:`));
      expect(diagnostic, report).toBeDefined();
      expect(diagnostic).toContain("lint/style/noRestrictedImports");
      expect(diagnostic).toContain("The product must not import the testkit");
    },
  );

  it("lets the testkit import itself and src/cli/testkit.ts load it", () => {
    expect(report).not.toMatch(/^src\/testkit\//m);
    expect(report).not.toMatch(/^src\/cli\/testkit\.ts/m);
    expect(report).toMatch(/Found 3 errors/);
  });
});
