import { createHash, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { EmulatorAccounts } from "./accounts.js";
import { readBody } from "./wire.js";

/**
 * STS GetCallerIdentity and AssumeRole on the emulator's endpoint, so that tools pointed at the emulator
 * (HSM2KMS_KMS_ENDPOINT) can ask who they are and reach other accounts. STS speaks awsQuery: a form-encoded
 * POST body (`Action=GetCallerIdentity&Version=2011-06-15`) and an XML answer, after the same SigV4 check as
 * KMS. Nothing else of STS is served.
 */

const MAX_BODY_BYTES = 64 * 1024;
const NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/";

const xmlEscape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function sendXml(response: ServerResponse, status: number, body: string, requestId: string): void {
  const payload = `<?xml version="1.0" encoding="UTF-8"?>\n${body}\n`;
  response.writeHead(status, {
    "content-type": "text/xml",
    "content-length": Buffer.byteLength(payload),
    "x-amzn-requestid": requestId,
  });
  response.end(payload);
}

/** An STS (awsQuery) error: `<ErrorResponse><Error><Type>Sender</Type><Code>...`. */
export function sendStsError(response: ServerResponse, status: number, code: string, message: string): void {
  const requestId = randomUUID();
  sendXml(
    response,
    status,
    `<ErrorResponse xmlns="${NAMESPACE}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    requestId,
  );
}

async function readForm(request: IncomingMessage): Promise<URLSearchParams | undefined> {
  const body = await readBody(request).catch(() => undefined);
  if (!body || body.length > MAX_BODY_BYTES) return undefined;
  return new URLSearchParams(body.toString("utf8"));
}

/**
 * The emulated caller: an IAM user of the emulator's account named after the access key id (characters IAM
 * does not allow in a user name become `-`), so the same credentials always get the same identity.
 */
export function emulatedCallerIdentity(accountId: string, accessKeyId: string) {
  const userName = accessKeyId.replace(/[^\w+=,.@-]/g, "-").slice(0, 64) || "anonymous";
  const userId = `AIDA${createHash("sha256").update(accessKeyId).digest("hex").slice(0, 17).toUpperCase()}`;
  return { account: accountId, arn: `arn:aws:iam::${accountId}:user/${userName}`, userId };
}

/** Answers one STS request (already known to be signed for STS); returns the action asked for, if any. */
export async function answerSts(
  request: IncomingMessage,
  response: ServerResponse,
  accounts: EmulatorAccounts,
  accessKeyId: string,
): Promise<string | undefined> {
  const form = request.method === "POST" ? await readForm(request) : undefined;
  if (!form) {
    request.resume();
    sendStsError(response, 400, "InvalidRequest", "Only a form-encoded POST of at most 64 KiB is served.");
    return undefined;
  }
  const action = form.get("Action") ?? undefined;
  if ((action !== "GetCallerIdentity" && action !== "AssumeRole") || form.get("Version") !== "2011-06-15") {
    sendStsError(
      response,
      400,
      "InvalidAction",
      `Could not find operation ${action ?? "(none)"} for version ${form.get("Version") ?? "(none)"}: the emulator serves only GetCallerIdentity and AssumeRole 2011-06-15.`,
    );
    return action;
  }
  const requestId = randomUUID();
  if (action === "AssumeRole") {
    const outcome = accounts.assumeRole(accessKeyId, form);
    if ("error" in outcome) {
      sendStsError(response, outcome.status, outcome.error, outcome.message);
      return action;
    }
    sendXml(
      response,
      200,
      `<AssumeRoleResponse xmlns="${NAMESPACE}"><AssumeRoleResult><Credentials><AccessKeyId>${outcome.accessKeyId}</AccessKeyId><SecretAccessKey>${xmlEscape(outcome.secretAccessKey)}</SecretAccessKey><SessionToken>${xmlEscape(outcome.sessionToken)}</SessionToken><Expiration>${outcome.expiration.toISOString()}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>${xmlEscape(outcome.assumedRoleId)}</AssumedRoleId><Arn>${xmlEscape(outcome.assumedRoleArn)}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
      requestId,
    );
    return action;
  }
  const identity =
    accounts.assumedRole(accessKeyId) ?? emulatedCallerIdentity(accounts.homeAccountId, accessKeyId);
  sendXml(
    response,
    200,
    `<GetCallerIdentityResponse xmlns="${NAMESPACE}"><GetCallerIdentityResult><Arn>${xmlEscape(identity.arn)}</Arn><UserId>${xmlEscape(identity.userId)}</UserId><Account>${identity.account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
    requestId,
  );
  return action;
}
