import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEPLOY, runPromTool } from "../helpers/prometheus.js";

const PROMETHEUS_DIR = join(DEPLOY, "prometheus");
const ALERTMANAGER_DIR = join(DEPLOY, "alertmanager");
const README = readFileSync(join(import.meta.dirname, "../..", "README.md"), "utf8");

/** GitHub's anchor of each Markdown heading of README.md. */
const README_ANCHORS = new Set(
  [...README.matchAll(/^#+ (.+)$/gm)].map((match) =>
    match[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\w\- ]/g, "")
      .replace(/ /g, "-"),
  ),
);

/** Runs amtool (Debian's prometheus-alertmanager); missing, it is a failure with the install line, not a skip. */
function runAmtool(args: string[]) {
  const result = spawnSync("amtool", args, { cwd: ALERTMANAGER_DIR, encoding: "utf8", timeout: 30_000 });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT")
    throw new Error(
      "amtool is not installed: `bash scripts/ensure-system.sh` (as root) or `sudo apt-get install --no-install-recommends prometheus-alertmanager`",
    );
  if (result.error) throw result.error;
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Each alert of alerts.yml with its severity and runbook_url (one rule per `- alert:` block). */
function alertRules(): Array<{ name: string; severity?: string; runbook?: string }> {
  const text = readFileSync(join(PROMETHEUS_DIR, "alerts.yml"), "utf8");
  return text
    .split(/^\s*- alert: /m)
    .slice(1)
    .map((block) => ({
      name: /^(\w+)/.exec(block)![1]!,
      severity: /^\s+severity: (\w+)$/m.exec(block)?.[1],
      runbook: /^\s+runbook_url: "([^"]+)"$/m.exec(block)?.[1],
    }));
}

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

  it("links every alert to the README section that says what to do", () => {
    const rules = alertRules();
    expect(rules.map((rule) => rule.name)).toEqual(alertNames());
    for (const { name, runbook } of rules) {
      expect(runbook, name).toBe(`README.md#${name.toLowerCase()}`);
      expect(README_ANCHORS.has(name.toLowerCase()), `README.md has a "#### ${name}" section`).toBe(true);
      const section = README.split(new RegExp(`^#### ${name}$`, "m"))[1]?.split(/^#/m)[0] ?? "";
      expect(section, `${name}'s section says what to do`).toMatch(/What to do/);
    }
  });
});

describe("deploy/alertmanager with amtool", () => {
  it("alertmanager.yml is a valid config", () => {
    const { code, output } = runAmtool(["check-config", "alertmanager.yml"]);
    expect(code, output).toBe(0);
    expect(output).toContain("SUCCESS");
  });

  it("routes every alert by its severity: pages to the pager, tickets to the tickets receiver", () => {
    const receiver = { page: "hsm2kms-pager", ticket: "hsm2kms-tickets" } as Record<string, string>;
    for (const { name, severity } of alertRules()) {
      expect(Object.keys(receiver), name).toContain(severity);
      const { code, output } = runAmtool([
        "config",
        "routes",
        "test",
        "--config.file=alertmanager.yml",
        `alertname=${name}`,
        `severity=${severity}`,
        "campaign=hsm2kms",
        "region=us-east-1",
      ]);
      expect(code, output).toBe(0);
      expect(output.split("\n")[0]?.trim(), name).toBe(receiver[severity!]);
    }
  });

  it("Prometheus sends its alerts to the Alertmanager of the compose stack", () => {
    const text = readFileSync(join(PROMETHEUS_DIR, "prometheus.yml"), "utf8");
    expect(text).toMatch(
      /alerting:\n\s+alertmanagers:\n\s+- static_configs:\n\s+- targets: \["alertmanager:9093"\]/,
    );
  });
});
