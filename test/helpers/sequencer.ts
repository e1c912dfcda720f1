import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Rough seconds per file on an idle 2-core machine, for the files that take long enough to matter: with 2
 * workers, a long file started last is the wall time's tail. Only an order hint, never asserted; vitest's
 * own record of the last run (node_modules/.vite) wins where it exists, but a fresh `npm ci` (CI) has none,
 * and vitest would then start the largest files first, which are not the slowest.
 */
const SECONDS: Record<string, number> = {
  "test/integration/sandbox-demo.test.ts": 80,
  "test/integration/fleet.test.ts": 60,
  "test/integration/reliability-worker-kills.test.ts": 60,
  "test/integration/evidence.test.ts": 45,
  "test/integration/params-on-hsm-host.test.ts": 40,
  "test/integration/fleet-hosts.test.ts": 35,
  "test/integration/reliability-token-expiry.test.ts": 30,
  "test/integration/redis-cluster.test.ts": 30,
  "test/integration/redis-durability.test.ts": 30,
  "test/integration/reliability-consistency.test.ts": 50,
  "test/integration/reliability-aws-like.test.ts": 20,
  "test/integration/fleet-shutdown.test.ts": 25,
};

/** A file not listed and not yet run: integration files start processes and take seconds, unit files do not. */
const UNKNOWN_INTEGRATION_SECONDS = 20;
const UNKNOWN_UNIT_SECONDS = 1;

/** Longest files first, so that both workers finish together. */
export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const expectedMs = (spec: TestSpecification): number => {
      const path = relative(root, spec.moduleId);
      const last = this.ctx.cache.getFileTestResults(`${spec.project.name}:${path}`);
      if (last && !last.failed && last.duration > 0) return last.duration;
      const seconds =
        SECONDS[path] ??
        (path.startsWith("test/integration/") ? UNKNOWN_INTEGRATION_SECONDS : UNKNOWN_UNIT_SECONDS);
      return seconds * 1000;
    };
    const expected = new Map(files.map((spec) => [spec, expectedMs(spec)]));
    return [...files].sort((a, b) => (expected.get(b) ?? 0) - (expected.get(a) ?? 0));
  }
}
