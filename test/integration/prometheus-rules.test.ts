import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEPLOY, runPromTool } from "../helpers/prometheus.js";

const PROMETHEUS_DIR = join(DEPLOY, "prometheus");

/** The alert names of alerts.yml, read without a YAML parser (one `- alert: Name` per rule). */
function alertNames(): string[] {
  const text = readFileSync(join(PROMETHEUS_DIR, "alerts.yml"), "utf8");
  return [...text.matchAll(/^\s*- alert: (\w+)\s*$/gm)].map((match) => match[1]!);
}

describe("deploy/prometheus with promtool", () => {
  it("prometheus.yml is a valid config that loads alerts.yml", () => {
    const { code, output } = runPromTool("promtool", ["check", "config", "prometheus.yml"], PROMETHEUS_DIR);
    expect(code, output).toBe(0);
    expect(output).toContain("SUCCESS: prometheus.yml is valid prometheus config file syntax");
    expect(output).toMatch(/SUCCESS: 1 rule files found/);
  });

  it("alerts.yml has valid rules, one per alert", () => {
    const { code, output } = runPromTool("promtool", ["check", "rules", "alerts.yml"], PROMETHEUS_DIR);
    expect(code, output).toBe(0);
    expect(output).toContain(`SUCCESS: ${alertNames().length} rules found`);
  });

  it("rules.test.yml passes and tests every alert, firing and not firing", () => {
    const { code, output } = runPromTool("promtool", ["test", "rules", "rules.test.yml"], PROMETHEUS_DIR);
    expect(code, output).toBe(0);
    expect(output).toContain("SUCCESS");

    // promtool passes a file that forgets an alert: check that each has a firing case and a quiet case.
    const tests = readFileSync(join(PROMETHEUS_DIR, "rules.test.yml"), "utf8");
    const cases = [...tests.matchAll(/alertname: (\w+)\n\s+exp_alerts:( \[\])?/g)].map((match) => ({
      alert: match[1]!,
      fires: match[2] === undefined,
    }));
    for (const alert of alertNames()) {
      expect(cases.filter((c) => c.alert === alert && c.fires).length, `${alert} firing`).toBeGreaterThan(0);
      expect(cases.filter((c) => c.alert === alert && !c.fires).length, `${alert} quiet`).toBeGreaterThan(0);
    }
    expect(alertNames().length).toBeGreaterThanOrEqual(7);
  });
});
