import { randomBytes } from "node:crypto";
import { KMSClient, ListKeysCommand } from "@aws-sdk/client-kms";
import type { HsmPort } from "../../src/shared/hsm/types.js";
import { createKmsAdapter, kmsPortCache } from "../../src/shared/kms/index.js";
import type { KmsPort } from "../../src/shared/kms/types.js";
import { silentLogger } from "../../src/shared/logger.js";
import type { PhaseContext, PhaseSettings } from "../../src/workers/phases/index.js";

export const TEST_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

/**
 * A KMS port on the emulator through the real SDK client, plus `listKeyIds` (ListKeys, every page) for
 * tests that look at the whole account: the pipeline itself never lists keys.
 */
export function emulatorKms(
  url: string,
  region = "us-east-1",
): KmsPort & { listKeyIds(): AsyncIterable<string> } {
  const port = createKmsAdapter({ region, endpoint: url, credentials: TEST_CREDENTIALS, maxAttempts: 1 });
  const client = new KMSClient({ region, endpoint: url, credentials: TEST_CREDENTIALS, maxAttempts: 1 });
  return {
    ...port,
    async *listKeyIds() {
      let marker: string | undefined;
      do {
        const page = await client.send(new ListKeysCommand({ Limit: 1000, Marker: marker }));
        for (const key of page.Keys ?? []) if (key.KeyId) yield key.KeyId;
        marker = page.Truncated ? page.NextMarker : undefined;
      } while (marker);
    },
    close() {
      port.close();
      client.destroy();
    },
  };
}

/** A phase context over a real HSM and the emulator (KMS ports per Region, closed by `close`). */
export function realContext(
  hsm: HsmPort,
  url: string,
  settings: Partial<PhaseSettings> = {},
  lookup: PhaseContext["lookup"] = async () => undefined,
) {
  const ports = kmsPortCache((region) => emulatorKms(url, region));
  const context: Omit<PhaseContext, "checkpoint"> = {
    hsm: () => hsm,
    kms: (region) => ports.portFor(region),
    lookup,
    now: () => new Date(),
    randomBytes,
    logger: silentLogger(),
    settings: {
      tokenSafetyMarginMs: 15 * 60_000,
      deletionWindowDays: 7,
      wrappingKeySpec: "RSA_2048",
      toolVersion: "test",
      ...settings,
    },
  };
  return {
    context,
    close: () => ports.close(),
  };
}
