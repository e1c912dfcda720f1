import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

export const DEPLOY = join(import.meta.dirname, "../../deploy");
export const DASHBOARD_PATH = join(DEPLOY, "grafana/dashboards/hsm2kms.json");

const INSTALL_HINT =
  "install it with `bash scripts/ensure-system.sh` (as root), or `sudo apt-get install --no-install-recommends prometheus`";

/**
 * Runs a Prometheus tool (`promtool`, `prometheus`) and returns its output. A missing tool is a failure
 * with the install hint, never a skip: these tests are how the deploy/ artifacts are known to work.
 */
export function runPromTool(tool: "promtool" | "prometheus", args: string[], cwd = DEPLOY) {
  const result = spawnSync(tool, args, { cwd, encoding: "utf8", timeout: 30_000 });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT")
    throw new Error(`${tool} is not installed (it comes with Debian's prometheus package): ${INSTALL_HINT}`);
  if (result.error) throw result.error;
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

/** One instant-vector sample of /api/v1/query. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface RunningPrometheus {
  url: string;
  /** Evaluates PromQL now; throws with Prometheus's error when the query is invalid. */
  query(expr: string): Promise<PromSample[]>;
  /** GET a path of the HTTP API, returning `data`. */
  api<T>(path: string): Promise<T>;
  output(): string;
  close(): Promise<void>;
}

export interface ScrapeJob {
  job: string;
  targets: string[];
}

/**
 * A real Prometheus on a free port of 127.0.0.1, scraping `jobs` every second and evaluating `ruleFiles`,
 * with its config and TSDB in a temporary directory that `close()` removes.
 */
export async function startPrometheus(
  jobs: ScrapeJob[],
  ruleFiles: string[] = [],
): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), "hsm2kms-prometheus-"));
  const port = await freePort();
  const config = {
    global: { scrape_interval: "1s", evaluation_interval: "1s", scrape_timeout: "1s" },
    rule_files: ruleFiles,
    scrape_configs: jobs.map(({ job, targets }) => ({ job_name: job, static_configs: [{ targets }] })),
  };
  // JSON is YAML: no YAML writer needed.
  await writeFile(join(dir, "prometheus.yml"), JSON.stringify(config, null, 2));
  let child: ChildProcess;
  const chunks: string[] = [];
  try {
    child = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout?.on("data", (chunk) => chunks.push(String(chunk)));
    child.stderr?.on("data", (chunk) => chunks.push(String(chunk)));
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (error: NodeJS.ErrnoException) =>
        reject(error.code === "ENOENT" ? new Error(`prometheus is not installed: ${INSTALL_HINT}`) : error),
      );
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`Prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  };
  const query = async (expr: string): Promise<PromSample[]> => {
    const data = await api<{
      resultType: string;
      result: Array<{ metric: Record<string, string>; value: [number, string] }>;
    }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
    if (data.resultType !== "vector") throw new Error(`${expr}: a ${data.resultType}, not an instant vector`);
    return data.result.map((sample) => ({ metric: sample.metric, value: Number(sample.value[1]) }));
  };
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ready = await fetch(`${url}/-/ready`).then(
        (response) => response.ok,
        () => false,
      );
      if (ready) break;
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`Prometheus did not become ready:\n${chunks.join("")}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { url, query, api, output: () => chunks.join(""), close };
}

/** A PromQL expression of the dashboard, and where it is. */
export interface DashboardQuery {
  where: string;
  expr: string;
}

interface DashboardJson {
  panels: Array<{ title: string; type: string; targets?: Array<{ expr: string; refId: string }> }>;
  templating: { list: Array<{ name: string; type: string; query: string | { query: string } }> };
  annotations: { list: Array<{ name: string; expr?: string }> };
}

/** The dashboard JSON as Grafana reads it. */
export function readDashboard(path = DASHBOARD_PATH): DashboardJson {
  return JSON.parse(readFileSync(path, "utf8")) as DashboardJson;
}

/** Every panel target and annotation query of the dashboard. */
export function dashboardQueries(dashboard: DashboardJson): DashboardQuery[] {
  return [
    ...dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        where: `${panel.title} [${target.refId}]`,
        expr: target.expr,
      })),
    ),
    ...dashboard.annotations.list.flatMap((annotation) =>
      annotation.expr ? [{ where: `annotation ${annotation.name}`, expr: annotation.expr }] : [],
    ),
  ];
}

/** The dashboard's query variables, as `label_values(selector, label)`. */
export function dashboardVariables(
  dashboard: DashboardJson,
): Array<{ name: string; selector: string; label: string }> {
  return dashboard.templating.list
    .filter((variable) => variable.type === "query")
    .map((variable) => {
      const text = typeof variable.query === "string" ? variable.query : variable.query.query;
      const match = /^label_values\((.+),\s*(\w+)\)$/.exec(text);
      if (!match) throw new Error(`variable ${variable.name}: ${text} is not label_values(selector, label)`);
      return { name: variable.name, selector: match[1]!, label: match[2]! };
    });
}

/** Substitutes Grafana's variables as Grafana would: `$var`/`${var}` by a value, `$__rate_interval` by a range. */
export function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (whole, braced: string | undefined, bare: string | undefined) => {
      const name = braced ?? bare ?? "";
      const value = values[name];
      if (value === undefined) throw new Error(`no value for ${whole} in ${expr}`);
      return value;
    },
  );
}
