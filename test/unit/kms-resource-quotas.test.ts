import { describe, expect, it } from "vitest";
import { fatal, isMigrationError } from "../../src/shared/errors.js";
import { mapKmsError } from "../../src/shared/kms/index.js";
import { KeyQuotaHold } from "../../src/shared/kms/quota-hold.js";
import type { ResourceQuotaEvent } from "../../src/shared/kms/types.js";

/** An SDK-shaped error: the AWS exception name and the HTTP status. */
const awsError = (name: string, status: number) =>
  Object.assign(new Error(`${name} message`), { name, $metadata: { httpStatusCode: status } });

describe("mapKmsError: resource quotas are not throttles", () => {
  it("LimitExceededException is fatal and names the quota, its Region and Service Quotas", () => {
    const created = mapKmsError(
      awsError("LimitExceededException", 400),
      "CreateKey",
      "CreateKey (x)",
      "eu-west-1",
    );
    expect(created).toMatchObject({ kind: "fatal", code: "KMS_RESOURCE_QUOTA_EXCEEDED" });
    expect(created.details).toMatchObject({ quota: "AWS KMS keys", region: "eu-west-1", httpStatus: 400 });
    expect(created.message).toContain('"AWS KMS keys"');
    expect(created.message).toContain("100,000");
    expect(created.message).toContain("Service Quotas");
    expect(created.message).toContain("eu-west-1");
    const aliased = mapKmsError(awsError("LimitExceededException", 400), "CreateAlias", "CreateAlias (x)");
    expect(aliased.details?.["quota"]).toBe("Aliases per KMS key");
  });

  it("the Tagging API's ThrottledException is a throttle; an expired pagination token is retried", () => {
    expect(mapKmsError(awsError("ThrottledException", 400), "GetResources", "x").kind).toBe("throttled");
    expect(mapKmsError(awsError("ThrottlingException", 400), "CreateKey", "x").kind).toBe("throttled");
    expect(mapKmsError(awsError("PaginationTokenExpiredException", 400), "GetResources", "x").kind).toBe(
      "retryable",
    );
  });
});

describe("KeyQuotaHold", () => {
  const quotaError = () =>
    mapKmsError(awsError("LimitExceededException", 400), "CreateKey", "CreateKey (x)", "us-east-1");
  const passThrough = <T>(_operation: string, _what: string, run: () => Promise<T>) => run();

  it("after a refusal it refuses itself until the hold ends, lets one probe through, and clears on success", async () => {
    let now = 0;
    const events: ResourceQuotaEvent[] = [];
    const hold = new KeyQuotaHold(
      60_000,
      (event) => events.push(event),
      () => now,
    );
    let sent = 0;
    const refuse = async () => {
      sent++;
      throw quotaError();
    };
    await expect(hold.guard("CreateKey", "us-east-1", "k", passThrough, refuse)).rejects.toMatchObject({
      code: "KMS_RESOURCE_QUOTA_EXCEEDED",
    });
    now = 59_000;
    const held = await hold
      .guard("CreateKey", "us-east-1", "k", passThrough, refuse)
      .catch((e: unknown) => e);
    expect(isMigrationError(held) && held.details?.["held"]).toBe(true);
    expect(hold.isHeld("us-east-1")).toBe(true);
    expect(hold.isHeld("eu-west-1")).toBe(false);
    expect(sent).toBe(1);
    now = 61_000;
    await expect(hold.guard("CreateKey", "us-east-1", "k", passThrough, refuse)).rejects.toThrow();
    expect(sent).toBe(2);
    now = 125_000;
    await expect(hold.guard("CreateKey", "us-east-1", "k", passThrough, async () => "made")).resolves.toBe(
      "made",
    );
    expect(hold.isHeld("us-east-1")).toBe(false);
    expect(events.map((event) => event.state)).toEqual(["exceeded", "cleared"]);
  });

  it("other errors do not hold the Region", async () => {
    const hold = new KeyQuotaHold(
      60_000,
      () => undefined,
      () => 0,
    );
    const other = async () => {
      throw fatal("KMS_KEY_PENDING_DELETION", "denied");
    };
    await expect(hold.guard("CreateKey", "us-east-1", "k", passThrough, other)).rejects.toThrow("denied");
    expect(hold.isHeld("us-east-1")).toBe(false);
  });
});
