import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const UNIT = join(ROOT, "deploy/systemd/hsm2kms-worker.service");
const STATUS_UNIT = join(ROOT, "deploy/systemd/hsm2kms-status.service");

/** `Key=value` lines of a unit's [Service] section (repeated keys keep the last value). */
function serviceSection(text: string): Record<string, string> {
  const section = text.split(/^\[Service\]$/m)[1]?.split(/^\[/m)[0] ?? "";
  return Object.fromEntries(
    section
      .split("\n")
      .filter((line) => /^\w+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

function seconds(text: string | undefined): number {
  const match = /^(\d+)(s|min)?$/.exec(text ?? "");
  if (!match) return Number.NaN;
  return Number(match[1]) * (match[2] === "min" ? 60 : 1);
}

describe("deploy/systemd", () => {
  const unit = serviceSection(readFileSync(UNIT, "utf8"));

  it("runs the worker with its settings from /etc/hsm2kms and the PIN from a file", () => {
    expect(unit["ExecStart"]).toMatch(/\bbin\/hsm2kms\.js worker$/);
    expect(unit["EnvironmentFile"]).toBe("/etc/hsm2kms/worker.env");
    expect(unit["User"]).toBe("hsm2kms");
    expect(unit["ExecStart"]).not.toMatch(/PIN/i);
    expect(unit["Restart"]).toBe("on-failure");
  });

  it("stops with SIGTERM and waits longer than the worker's 30 s shutdown deadline", () => {
    expect(unit["KillSignal"]).toBe("SIGTERM");
    expect(seconds(unit["TimeoutStopSec"])).toBeGreaterThan(30);
  });

  it("is hardened", () => {
    expect(unit).toMatchObject({
      NoNewPrivileges: "yes",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      CapabilityBoundingSet: "",
      RestrictAddressFamilies: "AF_UNIX AF_INET AF_INET6",
      ReadWritePaths: "/opt/cloudhsm/run",
    });
    // V8's JIT writes executable memory: this one would kill node at start.
    expect(unit["MemoryDenyWriteExecute"]).toBeUndefined();
  });

  it("passes systemd-analyze verify and scores well in systemd-analyze security, where systemd is installed", () => {
    const verify = spawnSync("systemd-analyze", ["verify", UNIT], { encoding: "utf8" });
    if ((verify.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") return; // static checks above suffice
    expect(verify.status, verify.stderr).toBe(0);
    // verify exits 0 on unknown keys; it only warns.
    expect(`${verify.stdout}${verify.stderr}`).not.toMatch(/Unknown (key|lvalue)|Failed to parse|Invalid/i);
    const security = spawnSync("systemd-analyze", ["security", "--offline=true", "--no-pager", UNIT], {
      encoding: "utf8",
    });
    const exposure = /Overall exposure level for \S+: ([\d.]+)/.exec(`${security.stdout}${security.stderr}`);
    if (exposure) expect(Number(exposure[1])).toBeLessThan(3);
  });

  describe("the status exporter's unit, beside the worker's", () => {
    const status = serviceSection(readFileSync(STATUS_UNIT, "utf8"));

    it("serves the fleet's progress on the port Prometheus's hsm2kms-status job scrapes, from status.env", () => {
      expect(status["ExecStart"]).toMatch(/\bbin\/hsm2kms\.js status --metrics-port 9465$/);
      const prometheus = readFileSync(join(ROOT, "deploy/prometheus/prometheus.yml"), "utf8");
      expect(prometheus).toMatch(
        /job_name: hsm2kms-status\n\s+static_configs:\n\s+- targets: \["[\w-]+:9465"\]/,
      );
      expect(status["EnvironmentFile"]).toBe("/etc/hsm2kms/status.env");
      expect(status["User"]).toBe("hsm2kms");
      expect(status["Restart"]).toBe("on-failure");
      expect(status["KillSignal"]).toBe("SIGTERM");
    });

    it("is hardened like the worker's, and writes nowhere", () => {
      for (const key of Object.keys(unit).filter((key) =>
        /^(Protect|Restrict|Private|NoNew|Capability|SystemCall|Lock|RemoveIPC)/.test(key),
      ))
        expect(status[key], key).toBe(unit[key]);
      expect(status["ReadWritePaths"]).toBeUndefined();
      expect(status["MemoryDenyWriteExecute"]).toBeUndefined();
    });

    it("passes systemd-analyze verify and scores well in systemd-analyze security, where systemd is installed", () => {
      const verify = spawnSync("systemd-analyze", ["verify", STATUS_UNIT], { encoding: "utf8" });
      if ((verify.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") return; // the checks above suffice
      expect(verify.status, verify.stderr).toBe(0);
      expect(`${verify.stdout}${verify.stderr}`).not.toMatch(/Unknown (key|lvalue)|Failed to parse|Invalid/i);
      const security = spawnSync(
        "systemd-analyze",
        ["security", "--offline=true", "--no-pager", STATUS_UNIT],
        {
          encoding: "utf8",
        },
      );
      const exposure = /Overall exposure level for \S+: ([\d.]+)/.exec(
        `${security.stdout}${security.stderr}`,
      );
      if (exposure) expect(Number(exposure[1])).toBeLessThan(3);
    });

    it("has an example status.env with only variables hsm2kms reads, and nothing of the HSM", () => {
      const config = readFileSync(join(ROOT, "src/shared/config.ts"), "utf8");
      const names = readFileSync(join(ROOT, "deploy/systemd/status.env.example"), "utf8")
        .split("\n")
        .filter((line) => line && !line.startsWith("#"))
        .map((line) => line.slice(0, line.indexOf("=")));
      for (const name of names) expect(config, name).toContain(`"${name}"`);
      expect(names).toEqual(expect.arrayContaining(["REDIS_URL", "HSM2KMS_QUEUE_PREFIX", "AWS_REGION"]));
      expect(names.filter((name) => name.includes("PKCS11") || name.includes("PIN"))).toEqual([]);
    });
  });

  it("has an example worker.env with only variables hsm2kms reads and no inline PIN", () => {
    const config = readFileSync(join(ROOT, "src/shared/config.ts"), "utf8");
    const lines = readFileSync(join(ROOT, "deploy/systemd/worker.env.example"), "utf8")
      .split("\n")
      .filter((line) => line && !line.startsWith("#"));
    const names = lines.map((line) => line.slice(0, line.indexOf("=")));
    for (const name of names) expect(config, name).toContain(`"${name}"`);
    expect(names).toContain("HSM2KMS_PKCS11_PIN_FILE");
    expect(names).not.toContain("HSM2KMS_PKCS11_PIN");
    expect(names).toContain("HSM2KMS_METRICS_PORT");
    for (const line of lines)
      expect(line, "systemd EnvironmentFile: no export, no quotes").not.toMatch(/^export |["']/);
  });
});

interface PolicyStatement {
  Effect: "Allow" | "Deny";
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

function policy(name: string): PolicyStatement[] {
  const document = JSON.parse(readFileSync(join(ROOT, "deploy/iam", name), "utf8")) as {
    Version: string;
    Statement: PolicyStatement[];
  };
  expect(document.Version).toBe("2012-10-17");
  return document.Statement;
}

const actions = (statement: PolicyStatement) => [statement.Action].flat();

describe("deploy/iam", () => {
  it("has JSON policies only for the roles, the evidence signer and the campaign cleanup", () => {
    expect(
      readdirSync(join(ROOT, "deploy/iam"))
        .filter((file) => file.endsWith(".json"))
        .sort(),
    ).toEqual([
      "campaign-cleanup.json",
      "evidence-signer.json",
      "hsm-worker-params.json",
      "hsm-worker.json",
      "kms-worker-assume-roles.json",
      "kms-worker.json",
      "producer.json",
      "target-account-trust.json",
    ]);
  });

  it("lets KMS workers assume the target accounts' import roles, and those roles trust only them, with the external id", () => {
    const assume = policy("kms-worker-assume-roles.json");
    expect(assume.flatMap(actions)).toEqual(["sts:AssumeRole"]);
    for (const resource of [assume[0]!.Resource].flat())
      expect(resource).toMatch(/^arn:aws:iam::\d{12}:role\/hsm2kms-import$/);
    const trust = policy("target-account-trust.json") as Array<
      PolicyStatement & { Principal: { AWS: string } }
    >;
    expect(trust).toHaveLength(1);
    expect(trust[0]).toMatchObject({ Effect: "Allow", Action: "sts:AssumeRole" });
    expect(trust[0]!.Principal.AWS).toMatch(/^arn:aws:iam::111122223333:role\/hsm2kms-kms-worker$/);
    expect(Object.keys(trust[0]!.Condition?.["StringEquals"] ?? {})).toEqual(["sts:ExternalId"]);
  });

  it("lets the evidence signer make exactly the calls of its signer, on one key", () => {
    const signer = readFileSync(join(ROOT, "src/assurance/evidence/signer.ts"), "utf8");
    const methods: Record<string, string> = {
      describeKey: "kms:DescribeKey",
      getPublicKey: "kms:GetPublicKey",
      sign: "kms:Sign",
    };
    const called = [...signer.matchAll(/\bkms\.(\w+)\(/g)].map(
      (match) => methods[match[1] ?? ""] ?? match[1],
    );
    const statements = policy("evidence-signer.json");
    expect(statements.flatMap(actions).sort()).toEqual([...new Set(called)].sort());
    for (const statement of statements) {
      expect(statement.Effect).toBe("Allow");
      expect(statement.Resource).toMatch(/^arn:aws:kms:[^:*]+:\d{12}:key\/[^*]+$/);
    }
  });

  it("allows KMS workers every call the KMS port makes (KMS and tag lookups), and nothing else", () => {
    const adapter = readFileSync(join(ROOT, "src/shared/kms/kms-adapter.ts"), "utf8");
    const tagLookup = readFileSync(join(ROOT, "src/shared/kms/tag-lookup.ts"), "utf8");
    const called = new Set([
      ...[...adapter.matchAll(/new (\w+)Command\(/g)].map((match) => `kms:${match[1]}`),
      // The Resource Groups Tagging API's actions are in the `tag` namespace.
      ...[...tagLookup.matchAll(/new (\w+)Command\(/g)].map((match) => `tag:${match[1]}`),
    ]);
    expect(called.has("tag:GetResources")).toBe(true);
    expect(called.has("kms:ListKeys")).toBe(false);
    // CreateKey with Tags needs TagResource too.
    if (/CreateKeyCommand\(\{[^}]*Tags:/s.test(adapter)) called.add("kms:TagResource");
    const statements = policy("kms-worker.json");
    const allowed = new Set(statements.filter((s) => s.Effect === "Allow").flatMap(actions));
    expect([...allowed].sort()).toEqual([...called].sort());
    expect([...allowed].some((action) => action.includes("*"))).toBe(false);
    // A Deny only takes away: it may name a call the code never makes (UntagResource).
    for (const statement of statements.filter((s) => s.Effect === "Deny"))
      for (const action of actions(statement))
        expect(["kms:TagResource", "kms:UntagResource"]).toContain(action);
  });

  it("accounts for every AWS SDK command the product sends, in a policy or as needing no permission", () => {
    const sources = readdirSync(join(ROOT, "src"), { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".ts") && !file.startsWith("testkit"))
      .map((file) => readFileSync(join(ROOT, "src", file), "utf8"));
    const commands = new Set(
      sources.flatMap((text) => [...text.matchAll(/new (\w+)Command\(/g)].map((m) => m[1]!)),
    );
    const everyPolicy = readdirSync(join(ROOT, "deploy/iam"))
      .filter((file) => file.endsWith(".json"))
      .flatMap((file) =>
        policy(file)
          .filter((s) => s.Effect === "Allow")
          .flatMap(actions),
      );
    // STS GetCallerIdentity needs no permission (AWS STS API Reference, GetCallerIdentity).
    const noPermission = new Set(["GetCallerIdentity"]);
    for (const command of commands)
      if (!noPermission.has(command))
        expect(
          everyPolicy.some((action) => action.endsWith(`:${command}`)),
          `${command} in deploy/iam`,
        ).toBe(true);
    expect(commands.size).toBeGreaterThanOrEqual(15);
  });

  it("lets abandon delete material, schedule deletion and delete aliases only of keys a campaign made", () => {
    const statements = policy("campaign-cleanup.json");
    for (const action of ["kms:DeleteImportedKeyMaterial", "kms:ScheduleKeyDeletion"])
      for (const statement of statements.filter((s) => actions(s).includes(action))) {
        expect(statement.Condition?.["StringEquals"]?.["kms:KeyOrigin"], action).toBe("EXTERNAL");
        expect(statement.Condition?.["Null"]?.["aws:ResourceTag/hsm2kms:campaign"], action).toBe("false");
      }
    // DeleteAlias: on a key only with the campaign's tag; the alias half (no tags on aliases) names aliases only.
    for (const statement of statements.filter((s) => actions(s).includes("kms:DeleteAlias"))) {
      const resource = String(statement.Resource);
      if (resource.includes(":key/"))
        expect(statement.Condition?.["Null"]?.["aws:ResourceTag/hsm2kms:campaign"]).toBe("false");
      else expect(resource).toMatch(/:alias\//);
    }
    expect(statements.some((s) => s.Effect === "Allow" && actions(s).includes("kms:CreateKey"))).toBe(false);
  });

  it("lets workers create only imported keys, tag them only at creation, and roll back or use only keys hsm2kms made", () => {
    const statements = policy("kms-worker.json");
    const allowing = (action: string) =>
      statements.filter((s) => s.Effect === "Allow" && actions(s).includes(action));
    const create = statements.find((statement) => actions(statement).includes("kms:CreateKey"));
    expect(create?.Condition?.["StringEquals"]?.["kms:KeyOrigin"]).toBe("EXTERNAL");
    for (const action of [
      "kms:ScheduleKeyDeletion",
      "kms:DeleteImportedKeyMaterial",
      "kms:ImportKeyMaterial",
    ]) {
      const statement = statements.find((s) => actions(s).includes(action));
      expect(statement?.Condition?.["StringEquals"]?.["kms:KeyOrigin"], action).toBe("EXTERNAL");
    }
    // Rollback and every call that uses a key's material: only on keys carrying the provenance tag.
    for (const action of [
      "kms:ScheduleKeyDeletion",
      "kms:DeleteImportedKeyMaterial",
      "kms:Sign",
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:GenerateMac",
      "kms:GetPublicKey",
      "kms:DeriveSharedSecret",
    ])
      for (const statement of allowing(action))
        expect(statement.Condition?.["Null"]?.["aws:ResourceTag/hsm2kms:migration-id"], action).toBe("false");

    // TagResource: only a request that carries the provenance tag, on a key that does not carry it yet (creation).
    const tagging = allowing("kms:TagResource");
    expect(tagging).toHaveLength(1);
    expect(actions(tagging[0]!)).toEqual(["kms:TagResource"]);
    expect(tagging[0]!.Condition?.["Null"]).toEqual({
      "aws:RequestTag/hsm2kms:migration-id": "false",
      "aws:ResourceTag/hsm2kms:migration-id": "true",
    });
    expect(allowing("kms:UntagResource")).toEqual([]);
    // Deny changing or removing hsm2kms's tags on a key that has them, whatever else allows it.
    const denies = statements.filter((s) => s.Effect === "Deny");
    const retag = denies.find((s) => actions(s).includes("kms:TagResource"));
    expect(retag?.Condition?.["ForAnyValue:StringLike"]?.["aws:TagKeys"]).toEqual(["hsm2kms:*"]);
    expect(retag?.Condition?.["Null"]?.["aws:ResourceTag/hsm2kms:migration-id"]).toBe("false");
    const untag = denies.find((s) => actions(s).includes("kms:UntagResource"));
    expect(untag?.Condition?.["ForAnyValue:StringLike"]?.["aws:TagKeys"]).toEqual(["hsm2kms:*"]);
    expect(untag?.Resource).toBe("*");

    // tag:GetResources has no resource-level permissions: it needs "*"; Denies may cover every key.
    for (const statement of statements.filter((s) => s.Effect === "Allow"))
      if (!actions(statement).some((action) => ["kms:CreateKey", "tag:GetResources"].includes(action)))
        expect(statement.Resource, actions(statement).join()).not.toBe("*");
  });

  it("lets HSM hosts with HSM2KMS_PARAMS_ON_HSM_HOST fetch import parameters and nothing else", () => {
    const source = readFileSync(join(ROOT, "src/workers/phases/params.ts"), "utf8");
    const start = source.indexOf("export async function fetchImportParameters");
    const body = source.slice(start, source.indexOf("\n}\n", start));
    const methods: Record<string, string> = {
      describeKey: "kms:DescribeKey",
      getParametersForImport: "kms:GetParametersForImport",
    };
    const called = [...body.matchAll(/\bkms\.(\w+)\(/g)].map((match) => methods[match[1] ?? ""] ?? match[1]);
    expect(called.length).toBeGreaterThan(0);
    const statements = policy("hsm-worker-params.json");
    expect(statements.flatMap(actions).sort()).toEqual([...new Set(called)].sort());
    for (const statement of statements) {
      expect(statement.Effect).toBe("Allow");
      expect(statement.Resource).toBe("arn:aws:kms:*:111122223333:key/*");
      expect(statement.Condition?.["Null"]?.["aws:ResourceTag/hsm2kms:migration-id"]).toBe("false");
    }
    // The wrap phase reaches KMS only through that function.
    const wrap = readFileSync(join(ROOT, "src/workers/phases/wrap.ts"), "utf8");
    expect(wrap).not.toMatch(/\bkms\.\w+\(/);
    expect(wrap).toContain("fetchImportParameters(ctx, record)");
  });

  it("gives the HSM-only workers and the producer no KMS access at all", () => {
    // The HSM phases (preflight, wrap) and the producer never call KMS.
    for (const file of [
      "src/workers/phases/preflight.ts",
      "src/workers/phases/wrap.ts",
      "src/campaign/enqueue.ts",
    ])
      expect(readFileSync(join(ROOT, file), "utf8"), file).not.toMatch(/\bkms\.\w+\(/);
    for (const name of ["hsm-worker.json", "producer.json"])
      expect(policy(name), name).toEqual([
        expect.objectContaining({ Effect: "Deny", Action: "kms:*", Resource: "*" }),
      ]);
  });
});
