import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { registerCommands } from "../../src/cli/commands/index.js";

const ROOT = join(import.meta.dirname, "../..");
const run = promisify(execFile);

interface ComposeService {
  image?: string;
  build?: string | { context: string };
  pull_policy?: string;
  restart?: string;
  healthcheck?: { test: string[] };
  ports?: string[];
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(readFileSync(join(ROOT, "docker-compose.yml"), "utf8"), { merge: true }) as {
  name?: string;
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const services = Object.entries(compose.services);
/** The service that builds our image from ./Dockerfile. */
const builders = services.filter(([, service]) => service.build !== undefined);
const IMAGE = builders[0]?.[1].image;
/** The services that run our image's commands (the builder only checks that it runs). */
const ours = services.filter(([, service]) => service.image === IMAGE && service.build === undefined);
/** Services that run once and exit. */
const ONE_SHOTS = ["image", "sandbox-init", "inventory", "enqueue"];

/** The variables src/shared/config.ts reads (every quoted REDIS_URL, AWS_ or HSM2KMS_ name in it). */
const CONFIG_VARIABLES = new Set(
  [
    ...readFileSync(join(ROOT, "src/shared/config.ts"), "utf8").matchAll(
      /"((?:HSM2KMS|AWS)_[A-Z0-9_]+|REDIS_URL)"/g,
    ),
  ].map((match) => match[1]!),
);

/** The CLI's commands as `hsm2kms` registers them (the same commander program bin/hsm2kms.js runs). */
const cli = new Command().name("hsm2kms");
registerCommands(cli);

/**
 * `hsm2kms <path...> --help` as commander prints it; the path grows while the next word is a subcommand. Read
 * in-process: one CLI process per service cost minutes on a loaded machine, for the same text.
 */
function helpOf(command: string[]): { path: string[]; help: string } {
  const path: string[] = [];
  let current = cli;
  for (const word of command) {
    const sub = current.commands.find((candidate) => candidate.name() === word);
    if (!sub) break;
    path.push(word);
    current = sub;
  }
  return { path, help: current.helpInformation() };
}

function option(command: string[], name: string): string | undefined {
  const index = command.indexOf(name);
  return index >= 0 ? command[index + 1] : undefined;
}

describe("docker-compose.yml", () => {
  it("builds our image once, from ./Dockerfile; every other hsm2kms service runs it after, never pulling it", () => {
    for (const [name, service] of services) expect(service.image ?? service.build, name).toBeDefined();
    expect(builders.map(([name]) => name)).toEqual(["image"]);
    expect(builders[0]![1].build).toBe(".");
    expect(IMAGE).toBe("hsm2kms:local");
    expect(builders[0]![1].command).toEqual(["--version"]);
    expect(ours.map(([name]) => name).sort()).toEqual(
      ["enqueue", "inventory", "kms-emulator", "sandbox-init", "status-exporter", "worker"].sort(),
    );
    for (const [name, service] of ours) {
      expect(service.pull_policy, name).toBe("never");
      expect(service.depends_on?.["image"]?.condition, name).toBe("service_completed_successfully");
    }
  });

  it("has no top-level name (docker-compose 1.29 refuses it); restarts and health-checks what runs long", () => {
    expect(compose.name).toBeUndefined();
    expect(readFileSync(join(ROOT, "docker-compose.yml"), "utf8")).not.toMatch(/^name:/m);
    for (const [name, service] of services) {
      if (ONE_SHOTS.includes(name)) {
        expect(service.restart, name).toBe("no");
        continue;
      }
      expect(service.restart, name).toBe("unless-stopped");
      const test = service.healthcheck?.test ?? [];
      expect(test[0], `${name} healthcheck`).toBe("CMD");
      // The probe asks the port the service listens on.
      const port =
        option(service.command ?? [], "--port") ??
        option(service.command ?? [], "--metrics-port") ??
        service.environment?.["HSM2KMS_METRICS_PORT"] ??
        service.ports?.[0]?.split(":").at(-1) ??
        "6379";
      expect(test.join(" "), name).toMatch(
        port === "6379" ? /redis-cli ping/ : new RegExp(`127\\.0\\.0\\.1:${port}/`),
      );
    }
    // enqueue starts once the status exporter is healthy: its series exist at 0 before any key fails.
    expect(compose.services["enqueue"]?.depends_on?.["status-exporter"]?.condition).toBe("service_healthy");
  });

  it("is a valid compose file for the compose tool Debian ships (docker-compose config -q)", async () => {
    const result = await run(
      "docker-compose",
      ["--project-directory", ROOT, "-f", join(ROOT, "docker-compose.yml"), "config", "-q"],
      {
        cwd: ROOT,
      },
    ).catch((error: NodeJS.ErrnoException & { stderr?: string }) => {
      if (error.code === "ENOENT")
        throw new Error(
          "docker-compose is not installed: `bash scripts/ensure-system.sh` (as root) or `sudo apt-get install --no-install-recommends docker-compose`",
        );
      throw new Error(
        `docker-compose config -q refused docker-compose.yml:\n${error.stderr ?? error.message}`,
      );
    });
    expect(result.stderr).toBe("");
  });

  it("runs real hsm2kms subcommands with flags they have", () => {
    const checks = ours.map(([name, service]) => {
      const command = service.command ?? [];
      expect(command.length, name).toBeGreaterThan(0);
      const { path, help } = helpOf(command);
      expect(path[0], `${name}: ${command.join(" ")}`).toBe(command[0]);
      expect(help, name).toContain(`Usage: hsm2kms ${path.join(" ")}`);
      for (const flag of command.filter((word) => word.startsWith("--")))
        expect(help, `${name}: ${flag} in \`hsm2kms ${path.join(" ")} --help\``).toMatch(
          new RegExp(`(^|[\\s,])${flag}\\b`, "m"),
        );
      return path.join(" ");
    });
    expect(checks.sort()).toEqual(
      ["enqueue", "inventory", "kms-emulator", "sandbox init", "status", "worker"].sort(),
    );
  });

  it("sets only variables hsm2kms reads (or SoftHSM2/AWS SDK ones), never a PIN", () => {
    expect(CONFIG_VARIABLES.has("HSM2KMS_METRICS_PORT")).toBe(true);
    for (const [name, service] of ours)
      for (const variable of Object.keys(service.environment ?? {})) {
        const known =
          CONFIG_VARIABLES.has(variable) || variable === "SOFTHSM2_CONF" || variable.startsWith("AWS_");
        expect(known, `${name}: ${variable}`).toBe(true);
        expect(variable, name).not.toBe("HSM2KMS_PKCS11_PIN");
      }
  });

  it("wires services together on consistent hosts and ports", () => {
    const service = (name: string) => {
      const found = compose.services[name];
      expect(found, `service ${name}`).toBeDefined();
      return found!;
    };
    const emulator = service("kms-emulator").command!;
    expect(option(emulator, "--host")).toBe("0.0.0.0");
    expect(emulator).toContain("--accept-kwp-zero-padding");
    for (const [name, { environment = {} }] of ours) {
      if (environment["HSM2KMS_KMS_ENDPOINT"])
        expect(environment["HSM2KMS_KMS_ENDPOINT"], name).toBe(
          `http://kms-emulator:${option(emulator, "--port")}`,
        );
      if (environment["REDIS_URL"]) expect(new URL(environment["REDIS_URL"]).host, name).toBe("redis:6379");
    }
    const redis = service("redis").command!.join(" ");
    expect(redis).toMatch(/--appendonly yes/);
    expect(redis).toMatch(/--maxmemory-policy noeviction/);

    // The worker reads the token sandbox-init made, in the same volume.
    const worker = service("worker");
    const init = service("sandbox-init");
    const dir = option(init.command!, "--dir")!;
    expect(worker.depends_on?.["sandbox-init"]?.condition).toBe("service_completed_successfully");
    expect(worker.volumes).toContain(`sandbox:${dir}`);
    expect(init.volumes).toContain(`sandbox:${dir}`);
    expect(worker.environment?.["SOFTHSM2_CONF"]).toBe(`${dir}/softhsm2.conf`);
    expect(worker.environment?.["HSM2KMS_PKCS11_PIN_FILE"]).toBe(`${dir}/user.pin`);

    // Prometheus scrapes the ports the worker and the exporter serve.
    const prometheus = parse(readFileSync(join(ROOT, "deploy/prometheus/prometheus.yml"), "utf8")) as {
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = Object.fromEntries(
      prometheus.scrape_configs.map((job) => [job.job_name, job.static_configs.flatMap((c) => c.targets)]),
    );
    expect(targets["hsm2kms-workers"]).toEqual([`worker:${worker.environment?.["HSM2KMS_METRICS_PORT"]}`]);
    expect(targets["hsm2kms-status"]).toEqual([
      `status-exporter:${option(service("status-exporter").command!, "--metrics-port")}`,
    ]);

    // Prometheus and Grafana mount what exists, where their configs look.
    for (const [name, { volumes = [] }] of services)
      for (const volume of volumes) {
        const source = volume.split(":")[0]!;
        if (source.startsWith(".")) expect(existsSync(join(ROOT, source)), `${name}: ${volume}`).toBe(true);
        else expect(compose.volumes, `${name}: named volume ${source}`).toHaveProperty(source);
      }
    expect(service("prometheus").volumes).toContain("./deploy/prometheus:/etc/prometheus:ro");
    // Prometheus sends alerts to the alertmanager service, which reads deploy/alertmanager.
    expect(readFileSync(join(ROOT, "deploy/prometheus/prometheus.yml"), "utf8")).toContain(
      'targets: ["alertmanager:9093"]',
    );
    const alertmanager = service("alertmanager");
    expect(alertmanager.volumes).toContain("./deploy/alertmanager:/etc/alertmanager:ro");
    expect(alertmanager.command).toContain("--config.file=/etc/alertmanager/alertmanager.yml");
    const provider = parse(
      readFileSync(join(ROOT, "deploy/grafana/provisioning/dashboards/hsm2kms.yml"), "utf8"),
    ) as { providers: Array<{ options: { path: string } }> };
    expect(service("grafana").volumes).toContain(
      `./deploy/grafana/dashboards:${provider.providers[0]!.options.path}:ro`,
    );
    const datasource = parse(
      readFileSync(join(ROOT, "deploy/grafana/provisioning/datasources/prometheus.yml"), "utf8"),
    ) as { datasources: Array<{ url: string; type: string }> };
    expect(datasource.datasources[0]).toMatchObject({ type: "prometheus", url: "http://prometheus:9090" });
    expect(service("prometheus").command).toContain("--web.listen-address=0.0.0.0:9090");
  });
});

describe("Dockerfile", () => {
  const text = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  const stages = text.split(/^FROM /m).slice(1);
  const final = stages.at(-1) ?? "";

  it("builds pkcs11js in a build stage and runs from a slim, non-root runtime stage", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]).toMatch(/python3/);
    expect(stages[0]).toMatch(/\bmake\b/);
    expect(stages[0]).toMatch(/g\+\+/);
    expect(stages[0]).toMatch(/RUN npm ci\b/);
    expect(final).toMatch(/^node:22-bookworm-slim\s/);
    expect(final).toMatch(/softhsm2/);
    expect(final).not.toMatch(/g\+\+|python3/);
    const user = /^USER (\S+)/m.exec(final)?.[1];
    expect(user).toBeDefined();
    expect(["root", "0"]).not.toContain(user);
  });

  it("runs bin/hsm2kms.js, from sources it copies", () => {
    expect(/^ENTRYPOINT (.+)$/m.exec(final)?.[1]).toBe('["node", "bin/hsm2kms.js"]');
    for (const [, sources] of final.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
      for (const source of sources!.split(" ")) expect(existsSync(join(ROOT, source)), source).toBe(true);
    const ignored = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n");
    for (const entry of ["node_modules", ".git", ".sandbox"]) expect(ignored).toContain(entry);
  });
});
