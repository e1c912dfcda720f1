import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Environment, loadConfig } from "../../src/shared/config.js";
import { ConfigError } from "../../src/shared/errors.js";

const dir = mkdtempSync(join(tmpdir(), "h2k-config-"));
const pinFile = join(dir, "pin");
writeFileSync(pinFile, "user:s3cret-pin\n", { mode: 0o600 });
const emptyPinFile = join(dir, "empty");
writeFileSync(emptyPinFile, "");
const unreadablePinFile = join(dir, "missing-pin");
const library = join(dir, "libfake.so");
writeFileSync(library, "");
chmodSync(library, 0o644);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hsmEnv: Environment = {
  HSM2KMS_PKCS11_LIB: library,
  HSM2KMS_TOKEN_LABEL: "tok",
  HSM2KMS_PKCS11_PIN_FILE: pinFile,
};

describe("loadConfig", () => {
  it("gives defaults for an empty environment", () => {
    const config = loadConfig({});
    expect(config.redisUrl).toBe("redis://127.0.0.1:6379");
    expect(config.region).toBeUndefined();
    expect(config.hsm).toBeUndefined();
    expect(config.tokenSafetyMarginMs).toBe(15 * 60_000);
    expect(config.kmsQuotas["GetParametersForImport"]).toBe(1);
    expect(config.wrappingKeySpec).toBe("RSA_4096");
    expect(config.paramsOnHsmHost).toBe(false);
    expect(config.allowVolatileRedis).toBe(false);
    expect(config.redisTimeoutMs).toBe(10_000);
  });

  it("reads HSM2KMS_ALLOW_VOLATILE_REDIS and HSM2KMS_REDIS_TIMEOUT", () => {
    const config = loadConfig({ HSM2KMS_ALLOW_VOLATILE_REDIS: "true", HSM2KMS_REDIS_TIMEOUT: "1.5s" });
    expect(config.allowVolatileRedis).toBe(true);
    expect(config.redisTimeoutMs).toBe(1500);
    expect(() => loadConfig({ HSM2KMS_ALLOW_VOLATILE_REDIS: "sure" })).toThrow(
      /HSM2KMS_ALLOW_VOLATILE_REDIS="sure" is invalid: expected true or false/,
    );
    expect(() => loadConfig({ HSM2KMS_REDIS_TIMEOUT: "0s" })).toThrow(
      /HSM2KMS_REDIS_TIMEOUT="0s" is invalid/,
    );
  });

  it("reads HSM2KMS_TAG_INDEX_WAIT as a duration up to an hour (default 5m), naming it when bad", () => {
    expect(loadConfig({}).tagIndexWaitMs).toBe(5 * 60_000);
    expect(loadConfig({ HSM2KMS_TAG_INDEX_WAIT: "0s" }).tagIndexWaitMs).toBe(0);
    expect(loadConfig({ HSM2KMS_TAG_INDEX_WAIT: "90s" }).tagIndexWaitMs).toBe(90_000);
    for (const bad of ["2h", "soon", "-1s"])
      expect(() => loadConfig({ HSM2KMS_TAG_INDEX_WAIT: bad }), bad).toThrow(/HSM2KMS_TAG_INDEX_WAIT=/);
  });

  it("reads HSM2KMS_PARAMS_ON_HSM_HOST as true or false", () => {
    for (const value of ["true", "1", "YES", "on"])
      expect(loadConfig({ HSM2KMS_PARAMS_ON_HSM_HOST: value }).paramsOnHsmHost, value).toBe(true);
    for (const value of ["false", "0", "no", "Off", ""])
      expect(loadConfig({ HSM2KMS_PARAMS_ON_HSM_HOST: value }).paramsOnHsmHost, value).toBe(false);
    expect(() => loadConfig({ HSM2KMS_PARAMS_ON_HSM_HOST: "maybe" })).toThrow(
      /HSM2KMS_PARAMS_ON_HSM_HOST="maybe" is invalid: expected true or false/,
    );
  });

  it("reads the PIN from a file, strips the newline, and never prints it", () => {
    const config = loadConfig(hsmEnv);
    expect(config.hsm?.pin.reveal()).toBe("user:s3cret-pin");
    expect(JSON.stringify(config)).not.toContain("s3cret");
    expect(String(config.hsm?.pin)).toBe("[redacted]");
  });

  it("lets flags win over the environment", () => {
    const config = loadConfig(
      { AWS_REGION: "us-east-1", REDIS_URL: "redis://a:1" },
      { region: "eu-west-1", redisUrl: "redis://b:2" },
    );
    expect(config.region).toBe("eu-west-1");
    expect(config.redisUrl).toBe("redis://b:2");
  });

  it("parses quota overrides and durations", () => {
    const config = loadConfig({
      HSM2KMS_KMS_QUOTAS: "GetParametersForImport=10, CreateKey=2.5",
      HSM2KMS_TOKEN_SAFETY_MARGIN: "90s",
    });
    expect(config.kmsQuotas["GetParametersForImport"]).toBe(10);
    expect(config.kmsQuotas["CreateKey"]).toBe(2.5);
    expect(config.kmsQuotas["ImportKeyMaterial"]).toBe(15);
    expect(config.tokenSafetyMarginMs).toBe(90_000);
  });

  // Every variable with a bad value: a ConfigError that names it and says what was expected.
  const badValues: Array<[string, Environment, RegExp]> = [
    [
      "REDIS_URL",
      { REDIS_URL: "localhost:6379" },
      /REDIS_URL=.*expected a redis:\/\/, rediss:\/\/, redis\+cluster:\/\/ or rediss\+cluster:\/\/ URL/,
    ],
    ["REDIS_URL", { REDIS_URL: "not a url" }, /REDIS_URL=.*expected a URL/],
    ["AWS_REGION", { AWS_REGION: "mars-1" }, /AWS_REGION=.*expected an AWS Region name/],
    ["HSM2KMS_KMS_ENDPOINT", { HSM2KMS_KMS_ENDPOINT: "ftp://x" }, /HSM2KMS_KMS_ENDPOINT=.*expected an http/],
    [
      "HSM2KMS_PKCS11_LIB",
      { ...hsmEnv, HSM2KMS_PKCS11_LIB: "/nonexistent/lib.so" },
      /HSM2KMS_PKCS11_LIB=.*existing PKCS#11 library/,
    ],
    [
      "HSM2KMS_TOKEN_LABEL",
      { ...hsmEnv, HSM2KMS_TOKEN_LABEL: "" },
      /HSM2KMS_TOKEN_LABEL \(or HSM2KMS_PKCS11_SLOT\) is not set/,
    ],
    ["HSM2KMS_PKCS11_SLOT", { ...hsmEnv, HSM2KMS_PKCS11_SLOT: "-3" }, /HSM2KMS_PKCS11_SLOT=.*slot id/],
    [
      "HSM2KMS_PKCS11_PIN_FILE",
      { ...hsmEnv, HSM2KMS_PKCS11_PIN_FILE: unreadablePinFile },
      /HSM2KMS_PKCS11_PIN_FILE=.*cannot be read \(ENOENT: no such file\)/,
    ],
    [
      "HSM2KMS_PKCS11_PIN_FILE",
      { ...hsmEnv, HSM2KMS_PKCS11_PIN_FILE: emptyPinFile },
      /HSM2KMS_PKCS11_PIN_FILE=.*is empty/,
    ],
    [
      "HSM2KMS_PKCS11_PIN",
      { ...hsmEnv, HSM2KMS_PKCS11_PIN: "1234" },
      /HSM2KMS_PKCS11_PIN and HSM2KMS_PKCS11_PIN_FILE are both set/,
    ],
    [
      "HSM2KMS_PKCS11_PIN",
      { HSM2KMS_PKCS11_LIB: library, HSM2KMS_TOKEN_LABEL: "tok" },
      /HSM2KMS_PKCS11_PIN_FILE \(or HSM2KMS_PKCS11_PIN\) is not set/,
    ],
    ["HSM2KMS_METRICS_PORT", { HSM2KMS_METRICS_PORT: "70000" }, /HSM2KMS_METRICS_PORT=.*0 to 65535/],
    ["HSM2KMS_METRICS_PORT", { HSM2KMS_METRICS_PORT: "http" }, /HSM2KMS_METRICS_PORT=.*whole number/],
    ["HSM2KMS_QUEUE_PREFIX", { HSM2KMS_QUEUE_PREFIX: "a:b" }, /HSM2KMS_QUEUE_PREFIX=.*no ':'/],
    ["HSM2KMS_LOG_LEVEL", { HSM2KMS_LOG_LEVEL: "loud" }, /HSM2KMS_LOG_LEVEL=.*one of fatal/],
    ["HSM2KMS_HSM_CONCURRENCY", { HSM2KMS_HSM_CONCURRENCY: "0" }, /HSM2KMS_HSM_CONCURRENCY=.*1 to 1024/],
    ["HSM2KMS_KMS_CONCURRENCY", { HSM2KMS_KMS_CONCURRENCY: "1.5" }, /HSM2KMS_KMS_CONCURRENCY=.*whole number/],
    [
      "HSM2KMS_TOKEN_SAFETY_MARGIN",
      { HSM2KMS_TOKEN_SAFETY_MARGIN: "soon" },
      /HSM2KMS_TOKEN_SAFETY_MARGIN=.*duration/,
    ],
    [
      "HSM2KMS_TOKEN_SAFETY_MARGIN",
      { HSM2KMS_TOKEN_SAFETY_MARGIN: "13h" },
      /HSM2KMS_TOKEN_SAFETY_MARGIN=.*at most 12h/,
    ],
    [
      "HSM2KMS_DELETION_WINDOW_DAYS",
      { HSM2KMS_DELETION_WINDOW_DAYS: "3" },
      /HSM2KMS_DELETION_WINDOW_DAYS=.*7 to 30/,
    ],
    [
      "HSM2KMS_KMS_QUOTAS",
      { HSM2KMS_KMS_QUOTAS: "CreateKey=fast" },
      /HSM2KMS_KMS_QUOTAS=.*Operation=requestsPerSecond/,
    ],
    ["HSM2KMS_MAX_ATTEMPTS", { HSM2KMS_MAX_ATTEMPTS: "0" }, /HSM2KMS_MAX_ATTEMPTS=/],
    ["HSM2KMS_JOB_LOCK", { HSM2KMS_JOB_LOCK: "100ms" }, /HSM2KMS_JOB_LOCK=.*from 1s to 3600s/],
    ["HSM2KMS_MAX_TOKEN_REFRESHES", { HSM2KMS_MAX_TOKEN_REFRESHES: "x" }, /HSM2KMS_MAX_TOKEN_REFRESHES=/],
    [
      "HSM2KMS_WRAPPING_KEY_SPEC",
      { HSM2KMS_WRAPPING_KEY_SPEC: "RSA_1024" },
      /HSM2KMS_WRAPPING_KEY_SPEC=.*RSA_2048, RSA_3072, RSA_4096/,
    ],
  ];

  it.each(badValues)("%s: a bad value is a ConfigError naming it", (_name, env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("accepts a Redis Cluster as redis+cluster://host:port,host:port", () => {
    expect(loadConfig({ REDIS_URL: "redis+cluster://10.0.0.1:7000,10.0.0.2:7001" }).redisUrl).toBe(
      "redis+cluster://10.0.0.1:7000,10.0.0.2:7001",
    );
    expect(() => loadConfig({ REDIS_URL: "redis+cluster://10.0.0.1" })).toThrow(/every node as host:port/);
  });

  it("never echoes a Redis password in an error", () => {
    expect(() => loadConfig({ REDIS_URL: "http://user:hunter2@host:6379" })).toThrow(/user:\[redacted\]@/);
  });
});
