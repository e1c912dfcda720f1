import { Writable } from "node:stream";
import { KMSClient, ListKeysCommand } from "@aws-sdk/client-kms";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/shared/logger.js";
import { type KmsEmulator, startKmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { editRequests, failure } from "./kms-emulator-fixtures.js";

/** SigV4 as AWS checks it, through the real SDK signer (only the credentials or the bytes on the wire vary). */

const SECRET = "s3cr3t-never-in-logs";
const logLines: string[] = [];
let emulator: KmsEmulator;
const clients: { destroy(): void }[] = [];

beforeAll(async () => {
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  emulator = await startKmsEmulator({
    quotas: false,
    wrappingKeyPoolSize: 0,
    credentials: [
      { accessKeyId: "test", secretAccessKey: "test" },
      { accessKeyId: "AKIDCAMPAIGN", secretAccessKey: SECRET },
    ],
    logger: createLogger({ level: "debug", destination }),
  });
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await emulator.close();
});

function kms(accessKeyId: string, secretAccessKey: string, systemClockOffset = 0): KMSClient {
  const client = new KMSClient({
    region: "us-east-1",
    endpoint: emulator.url,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
    systemClockOffset,
  });
  clients.push(client);
  return client;
}

function sts(accessKeyId: string, secretAccessKey: string): STSClient {
  const client = new STSClient({
    region: "eu-west-1",
    endpoint: emulator.url,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
  });
  clients.push(client);
  return client;
}

const listKeys = (client: KMSClient) => failure(client.send(new ListKeysCommand({})));

describe("KMS requests", () => {
  it("a known access key with its secret is served; the default credentials are not, once others are given", async () => {
    expect(await listKeys(kms("AKIDCAMPAIGN", SECRET))).toMatchObject({ name: "no error" });
    expect(await listKeys(kms("sandbox", "sandbox"))).toMatchObject({
      name: "UnrecognizedClientException",
      status: 400,
    });
  });

  it("a wrong secret is InvalidSignatureException (HTTP 400); an unknown access key UnrecognizedClientException", async () => {
    const wrong = await listKeys(kms("AKIDCAMPAIGN", "not-the-secret"));
    expect(wrong).toMatchObject({ name: "InvalidSignatureException", status: 400 });
    expect(wrong.message).toMatch(/signature we calculated does not match/);
    expect(await listKeys(kms("AKIDNOBODY", SECRET))).toMatchObject({
      name: "UnrecognizedClientException",
      status: 400,
      message: "The security token included in the request is invalid.",
    });
  });

  it("a missing Authorization header is MissingAuthenticationTokenException; a malformed one IncompleteSignatureException", async () => {
    const anonymous = kms("test", "test");
    editRequests(anonymous, "afterSigning", (request) => {
      delete request.headers["authorization"];
    });
    expect(await listKeys(anonymous)).toMatchObject({
      name: "MissingAuthenticationTokenException",
      status: 400,
    });
    const noSignature = kms("test", "test");
    editRequests(noSignature, "afterSigning", (request) => {
      request.headers["authorization"] = request.headers["authorization"]!.replace(/, Signature=\w+/, "");
    });
    expect(await listKeys(noSignature)).toMatchObject({ name: "IncompleteSignatureException", status: 400 });
    const targetUnsigned = kms("test", "test");
    editRequests(targetUnsigned, "afterSigning", (request) => {
      request.headers["authorization"] = request.headers["authorization"]!.replace(";x-amz-target", "");
    });
    const unsigned = await listKeys(targetUnsigned);
    expect(unsigned).toMatchObject({ name: "IncompleteSignatureException", status: 400 });
    expect(unsigned.message).toContain("x-amz-target");
  });

  it("a body or a signed header changed after signing breaks the signature", async () => {
    const body = kms("test", "test");
    editRequests(body, "afterSigning", (request) => {
      request.body = '{"Limit":1}';
      request.headers["content-length"] = String(Buffer.byteLength(request.body as string));
    });
    expect(await listKeys(body)).toMatchObject({ name: "InvalidSignatureException", status: 400 });
    const target = kms("test", "test");
    editRequests(target, "afterSigning", (request) => {
      request.headers["x-amz-target"] = "TrentService.ListAliases";
    });
    expect(await listKeys(target)).toMatchObject({ name: "InvalidSignatureException", status: 400 });
  });

  it("a signing date more than 5 minutes off is InvalidSignatureException; 4 minutes is fine", async () => {
    const late = await listKeys(kms("test", "test", -6 * 60_000));
    expect(late).toMatchObject({ name: "InvalidSignatureException", status: 400 });
    expect(late.message).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than/);
    const early = await listKeys(kms("test", "test", 6 * 60_000));
    expect(early).toMatchObject({ name: "InvalidSignatureException", status: 400 });
    expect(early.message).toMatch(/^Signature not yet current/);
    expect(await listKeys(kms("test", "test", -4 * 60_000))).toMatchObject({ name: "no error" });
  });

  it("a credential scope rewritten after signing (another service) is refused", async () => {
    const s3Scoped = kms("test", "test");
    editRequests(s3Scoped, "afterSigning", (request) => {
      request.headers["authorization"] = request.headers["authorization"]!.replace("/kms/", "/s3/");
    });
    expect(await listKeys(s3Scoped)).toMatchObject({ name: "InvalidSignatureException", status: 400 });
  });
});

describe("STS requests", () => {
  it("are checked too, answering as STS does", async () => {
    const identity = await sts("AKIDCAMPAIGN", SECRET).send(new GetCallerIdentityCommand({}));
    expect(identity.Arn).toBe("arn:aws:iam::111122223333:user/AKIDCAMPAIGN");
    expect(await failure(sts("AKIDCAMPAIGN", "wrong").send(new GetCallerIdentityCommand({})))).toMatchObject({
      name: "SignatureDoesNotMatch",
      status: 403,
    });
    expect(await failure(sts("AKIDNOBODY", "x").send(new GetCallerIdentityCommand({})))).toMatchObject({
      name: "InvalidClientTokenId",
      status: 403,
    });
  });
});

describe("secrets", () => {
  it("no secret or signature shows in the emulator's logs, refusals included", () => {
    const logs = logLines.join("");
    expect(logs).toContain("request signature refused");
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain("not-the-secret");
    expect(logs).not.toMatch(/Signature=[0-9a-f]{64}/);
  });
});
