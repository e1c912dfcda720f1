import { execFileSync } from "node:child_process";
import { constants } from "node:fs";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkPackTarget } from "../../src/assurance/evidence/write-pack.js";
import { openOutFile } from "../../src/cli/out-file.js";
import { loadMapping } from "../../src/inventory/mapping.js";
import { readKeyPolicy } from "../../src/manifest/key-policy.js";
import { readManifest } from "../../src/manifest/read.js";
import { openManifestFile } from "../../src/manifest/source.js";
import { firstInvalidUtf8, readFileBounded, readFileBoundedSync } from "../../src/shared/bounded-read.js";
import { loadConfig } from "../../src/shared/config.js";
import { ConfigError } from "../../src/shared/errors.js";
import { locateJsonError, parseJsonText } from "../../src/shared/json-syntax.js";
import { silentLogger } from "../../src/shared/logger.js";
import { startMetricsServer } from "../../src/shared/metrics-server.js";

const SECRET = "Pa55w0rd!";
let dir: string;
let pinFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "h2k-file-inputs-"));
  pinFile = join(dir, "user.pin");
  await writeFile(pinFile, `cu1:${SECRET}\n`);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const messageOf = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected an error");
};

describe("bounded reads", () => {
  it("stop one byte past the cap, whatever the file claims (/dev/zero has size 0)", async () => {
    expect(readFileBoundedSync("/dev/zero", 100, "a test")).toEqual({
      problem: "is larger than 100 bytes, the limit for a test",
    });
    expect(await readFileBounded("/dev/zero", 4096, "a test")).toEqual({
      problem: "is larger than 4 KiB, the limit for a test",
    });
    expect(await readFileBounded(dir, 4096, "a test")).toEqual({ problem: "is a folder" });
    expect(readFileBoundedSync(join(dir, "none"), 10, "a test")).toEqual({
      problem: "cannot be read (ENOENT: no such file)",
    });
    const read = await readFileBounded(pinFile, 4096, "a test");
    expect("bytes" in read && read.bytes.toString()).toBe(`cu1:${SECRET}\n`);
  });

  it("cap the manifest, and refuse a folder before reading", async () => {
    await expect(openManifestFile(dir, "a CSV file")).rejects.toThrow(`manifest ${dir} is a folder`);
    const input = await openManifestFile("/dev/zero", "a CSV file", 1000);
    const reading = readManifest(input, { defaultRegion: "us-east-1" });
    await expect(reading.next()).rejects.toThrow(
      "the file is larger than 1000 bytes, the limit for a manifest",
    );
    const manifest = join(dir, "big.csv");
    await writeFile(manifest, `source_label\n${"k\n".repeat(600)}`);
    const entries = readManifest(await openManifestFile(manifest, "a CSV file", 1000), {
      defaultRegion: "us-east-1",
    });
    await expect(
      (async () => {
        for await (const _ of entries);
      })(),
    ).rejects.toThrow("the file is larger than 1000 bytes, the limit for a manifest");
  });

  it("refuse a PIN file that is endless, and name the variable", () => {
    const env = {
      HSM2KMS_PKCS11_LIB: process.execPath,
      HSM2KMS_TOKEN_LABEL: "t",
      HSM2KMS_PKCS11_PIN_FILE: "/dev/zero",
    };
    expect(messageOf(() => loadConfig(env))).toBe(
      'HSM2KMS_PKCS11_PIN_FILE="/dev/zero" is larger than 4 KiB, the limit for a PIN file: expected a readable file holding only the PIN',
    );
  });
});

describe("parse errors never carry the file", () => {
  it("JSON: line, column, what was expected; JSON.parse's own message (which quotes) is dropped", () => {
    expect(parseJsonText(`cu1:${SECRET}`)).toEqual({
      problem:
        "is not valid JSON: line 1, column 1: expected a JSON value (object, array, string, number, true, false or null), found a letter",
    });
    expect(parseJsonText('{\n  "Statement": [\n    {"Effect": "Allow" "x": 1}\n  ]\n}')).toEqual({
      problem: "is not valid JSON: line 3, column 24: expected ',' or '}', found '\"'",
    });
    expect(parseJsonText(`{"a": "${SECRET}`)).toEqual({
      problem: "is not valid JSON: line 1, column 17: expected a closing '\"', found the end of the file",
    });
    // Deep nesting is located without recursion.
    expect(locateJsonError("[".repeat(200_000))?.offset).toBe(200_000);
  });

  it("the locator agrees with JSON.parse on what is valid", () => {
    const alphabet = [
      "{",
      "}",
      "[",
      "]",
      ",",
      ":",
      '"',
      "1",
      "a",
      "t",
      "rue",
      "n",
      "ull",
      " ",
      "\\",
      "-",
      ".",
      "e",
      "0",
    ];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let round = 0; round < 5_000; round++) {
      let text = "";
      for (let length = next() % 9; length > 0; length--) text += alphabet[next() % alphabet.length];
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      expect(locateJsonError(text) === undefined, text).toBe(valid);
    }
  });

  it("key policy, mapping (JSON and YAML) and regular expressions name the place, not the text", async () => {
    const policy = await readKeyPolicy(pinFile);
    expect("problem" in policy && policy.problem).toContain(
      `key policy ${pinFile} is not valid JSON: line 1, column 1`,
    );
    const yaml = join(dir, "broken.yaml");
    await writeFile(yaml, `rules:\n  - alias: "${SECRET}\n    tags: [\n`);
    const yamlMessage = messageOf(() => loadMapping(yaml));
    expect(yamlMessage).toMatch(/^--mapping .*broken\.yaml is not valid YAML: line \d+, column \d+: /);
    const regex = join(dir, "regex.json");
    await writeFile(regex, JSON.stringify({ rules: [{ match: { label: `(${SECRET}` } }] }));
    const regexMessage = messageOf(() => loadMapping(regex));
    expect(regexMessage).toContain("rules[0].match.label: Invalid regular expression (Unterminated group)");
    for (const message of [JSON.stringify(policy), yamlMessage, regexMessage])
      expect(message).not.toContain(SECRET);
  });

  it("a key policy holds only the characters KMS allows in one (named by place)", async () => {
    const path = join(dir, "emoji-policy.json");
    await writeFile(path, '{\n  "Version": "2012-10-17",\n  "Statement": [{"Sid": "ok é \u{1F511}"}]\n}');
    expect(await readKeyPolicy(path)).toEqual({
      problem: `key policy ${path} holds a character KMS does not allow in key policies at line 3, column 31; expected printable ASCII or Latin-1 characters, tab, line feed and carriage return`,
    });
    await writeFile(path, '{"Version": "2012-10-17", "Statement": [{"Sid": "Latin-1 é ñ"}]}');
    expect(await readKeyPolicy(path)).toEqual({
      policy: '{"Version":"2012-10-17","Statement":[{"Sid":"Latin-1 é ñ"}]}',
    });
  });

  it("names a mapping rule or field of the wrong shape", async () => {
    const cases: Array<[unknown, string]> = [
      [
        { rules: [null] },
        "mapping rules[0] is null; expected an object with match, alias, description, tags",
      ],
      [
        { rules: [{ match: null }] },
        "mapping rules[0].match is null; expected an object with label, keySpec",
      ],
      [
        { rules: [{ tags: ["a"] }] },
        "mapping rules[0].tags is a list; expected an object of tag name: template",
      ],
      [
        { rules: [{ tag: {} }] },
        'mapping rules[0] has an unknown field "tag"; expected only match, alias, description, tags',
      ],
      [{ default: 7 }, "mapping default is a number; expected an object with alias, description, tags"],
    ];
    for (const [document, message] of cases) {
      const path = join(dir, "shape.json");
      await writeFile(path, JSON.stringify(document));
      expect(messageOf(() => loadMapping(path))).toBe(message);
    }
  });
});

describe("UTF-8", () => {
  it("points at the byte that starts the bad sequence (Unicode table 3-7)", () => {
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc3, 0x28]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xe0, 0x80, 0x80]))).toBe(1); // overlong
    expect(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0); // surrogate
    expect(firstInvalidUtf8(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0); // above U+10FFFF
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xff]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from("é🔑 ok"))).toBeUndefined();
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xf0, 0x9f]), true)).toBeUndefined();
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xf0, 0x9f]))).toBe(1);
  });
});

describe("--out and other destinations", () => {
  it("a folder, a missing folder or a full device is a ConfigError naming the path; a later failure names it too", async () => {
    await expect(openOutFile(dir)).rejects.toThrow(
      new ConfigError(
        `--out ${dir} cannot be written (EISDIR: it is a folder): expected a file path in an existing folder`,
      ),
    );
    await expect(openOutFile(join(dir, "none", "x.csv"))).rejects.toThrow(
      "(ENOENT: its folder does not exist)",
    );
    const full = await openOutFile("/dev/full");
    const error = await full.write("header\n").then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      "--out /dev/full cannot be written (ENOSPC: no space left on the device): expected a writable file",
    );
    await full.close();
    const path = join(dir, "out.csv");
    const good = await openOutFile(path);
    await good.write("a\n");
    await new Promise<void>((resolve, reject) =>
      good.stream.write("b\n", (e) => (e ? reject(e) : resolve())),
    );
    await good.close();
    expect(await readFile(path, "utf8")).toBe("a\nb\n");
  });

  it("a write that fails after the first is an error naming the file, not a crash", async () => {
    const fifo = join(dir, "reader-goes-away");
    execFileSync("mkfifo", [fifo]);
    const reader = await open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const out = await openOutFile(fifo);
    await out.write("header\n");
    await reader.close();
    const error = await out.write("row\n").then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).not.toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      `--out ${fifo}: writing failed after 7 bytes (EPIPE: the reading end was closed); the file is incomplete`,
    );
    await out.close();
  });

  it("an evidence pack needs an existing parent folder", async () => {
    await expect(checkPackTarget(join(dir, "none", "pack"), false)).rejects.toThrow(
      `--out ${join(dir, "none", "pack")}: the folder ${join(dir, "none")} does not exist`,
    );
    await expect(checkPackTarget(join(dir, "pack"), false)).resolves.toBeUndefined();
  });

  it("a metrics port in use or a host that is not this machine's is a ConfigError naming the variable", async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as { port: number }).port;
    const options = { registry: new Registry(), readiness: {}, logger: silentLogger() };
    try {
      await expect(startMetricsServer({ ...options, port, host: "127.0.0.1" })).rejects.toThrow(
        new ConfigError(
          `cannot serve metrics on 127.0.0.1 port ${port}: the port is in use; set HSM2KMS_METRICS_PORT (status: --metrics-port) to a free port`,
        ),
      );
      await expect(startMetricsServer({ ...options, port: 0, host: "192.0.2.1" })).rejects.toThrow(
        "not an address of this machine; set HSM2KMS_METRICS_HOST",
      );
    } finally {
      busy.close();
    }
    expect(messageOf(() => loadConfig({ HSM2KMS_METRICS_HOST: "not a host!" }))).toContain(
      'HSM2KMS_METRICS_HOST="not a host!" is invalid: expected an IP address or host name',
    );
    for (const host of ["0.0.0.0", "::", "127.0.0.1", "localhost", "metrics.internal"])
      expect(loadConfig({ HSM2KMS_METRICS_HOST: host }).metricsHost).toBe(host);
  });
});
