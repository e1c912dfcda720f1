import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** An access key the emulator accepts. The secret never leaves the verifier: not in logs, errors or stats. */
export interface EmulatorCredential {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * The credentials the repository's own callers sign with: tests ("test"), the sandbox and its compose file
 * ("sandbox"), and the benchmarks ("bench"). Fake values, public by design.
 */
export const DEFAULT_EMULATOR_CREDENTIALS: readonly EmulatorCredential[] = [
  { accessKeyId: "test", secretAccessKey: "test" },
  { accessKeyId: "sandbox", secretAccessKey: "sandbox" },
  { accessKeyId: "bench", secretAccessKey: "bench" },
];

/** What a verified signature proves: who signed, for which Region and service. */
export interface SignedScope {
  accessKeyId: string;
  region: string;
  service: string;
  /** The account the credentials act in: the emulator's own, or an assumed role's. */
  account?: string | undefined;
}

/** What the emulator knows of an access key: its secret, and for temporary credentials their token. */
export interface KnownCredential {
  secret: string;
  /** Temporary credentials (STS AssumeRole) must be sent with this X-Amz-Security-Token. */
  sessionToken?: string | undefined;
  /** Temporary credentials stop working at this time (epoch ms). */
  expiresAt?: number | undefined;
  /** The account they act in. */
  account?: string | undefined;
}

/** Long-term keys as a map of secrets by access key id, or a lookup that also knows temporary credentials. */
export type CredentialSource =
  | ReadonlyMap<string, string>
  | ((accessKeyId: string) => KnownCredential | undefined);

function lookUp(source: CredentialSource, accessKeyId: string): KnownCredential | undefined {
  if (typeof source === "function") return source(accessKeyId);
  const secret = source.get(accessKeyId);
  return secret === undefined ? undefined : { secret };
}

/**
 * Why a request's signature was refused, in the terms AWS answers with. `kind` maps to each protocol's error
 * name (server.ts): JSON services (KMS) and the query protocol (STS) name them differently.
 */
export class SignatureError extends Error {
  constructor(
    readonly kind: "missing" | "incomplete" | "unknownKey" | "mismatch" | "expired" | "expiredToken",
    message: string,
  ) {
    super(message);
    this.name = this.constructor.name;
  }
}

const ALGORITHM = "AWS4-HMAC-SHA256";
/** AWS Signature Version 4: a signature more than 5 minutes from the server's clock is refused. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const SCOPE = /^([^/]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request$/;
const MISMATCH =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

const sha256Hex = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data, "utf8").digest();

// RFC 3986 unreserved characters stay; everything else is %XX, as SigV4 wants (encodeURIComponent leaves !'()*).
const escapeUri = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The canonical URI of a non-S3 service: dot segments removed, each segment URI-encoded again. */
function canonicalPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  const joined = `${path.startsWith("/") ? "/" : ""}${segments.join("/")}${segments.length > 0 && path.endsWith("/") ? "/" : ""}`;
  return escapeUri(joined).replace(/%2F/g, "/");
}

function decodeQueryPart(part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, " "));
  } catch {
    throw new SignatureError("incomplete", "The query string is not valid percent-encoding.");
  }
}

function canonicalQuery(query: string): string {
  if (query === "") return "";
  return query
    .split("&")
    .filter(Boolean)
    .map((pair) => {
      const [name = "", value = ""] = pair.split("=", 2).map(decodeQueryPart);
      return [escapeUri(name), escapeUri(value)] as const;
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

/** A header's value as SigV4 canonicalizes it: repeated headers joined by commas, spaces trimmed and folded. */
function headerValue(request: IncomingMessage, name: string): string | undefined {
  const values = request.headersDistinct[name];
  if (!values) return undefined;
  return values.map((value) => value.trim().replace(/\s+/g, " ")).join(",");
}

function parseAuthorization(header: string) {
  if (!header.startsWith(`${ALGORITHM} `))
    throw new SignatureError(
      "incomplete",
      `Authorization header requires the ${ALGORITHM} algorithm; only Signature Version 4 is accepted.`,
    );
  const fields = new Map<string, string>();
  for (const part of header.slice(ALGORITHM.length + 1).split(",")) {
    const at = part.indexOf("=");
    if (at > 0) fields.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  const missing = ["Credential", "SignedHeaders", "Signature"].filter((name) => !fields.get(name));
  if (missing.length > 0)
    throw new SignatureError(
      "incomplete",
      missing.map((name) => `Authorization header requires '${name}' parameter.`).join(" "),
    );
  const scope = SCOPE.exec(fields.get("Credential")!);
  if (!scope)
    throw new SignatureError(
      "incomplete",
      "Authorization header's Credential must be <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request.",
    );
  return {
    accessKeyId: scope[1]!,
    scopeDate: scope[2]!,
    region: scope[3]!,
    service: scope[4]!,
    signedHeaders: fields.get("SignedHeaders")!.split(";"),
    signature: fields.get("Signature")!,
  };
}

function requestTime(request: IncomingMessage): { amzDate: string; ms: number } {
  const amzDate = headerValue(request, "x-amz-date");
  const match = amzDate ? AMZ_DATE.exec(amzDate) : null;
  if (!amzDate || !match)
    throw new SignatureError(
      "incomplete",
      "Authorization header requires existence of a valid 'X-Amz-Date' header (YYYYMMDDTHHMMSSZ).",
    );
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  return { amzDate, ms: Date.UTC(y!, mo! - 1, d!, h!, mi!, s!) };
}

const compact = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");

/**
 * Verifies a request's AWS Signature Version 4 (AWS General Reference, "Signature Version 4 signing process")
 * over its method, path, query, signed headers and the SHA-256 of the body actually received. Refuses, in
 * order: no Authorization header; a malformed one, or one that leaves host, X-Amz-Date or an X-Amz-Target /
 * X-Amz-Security-Token unsigned; an access key id the emulator does not know; a date more than 5 minutes from
 * `now` or not the credential scope's day; a signature that does not match.
 */
export function verifySignature(
  request: IncomingMessage,
  body: Buffer,
  credentials: CredentialSource,
  now: number,
): SignedScope {
  const authorization = headerValue(request, "authorization");
  if (!authorization) throw new SignatureError("missing", "Missing Authentication Token");
  const parsed = parseAuthorization(authorization);
  const required = ["host", "x-amz-date", "x-amz-target", "x-amz-security-token"].filter(
    (name) => name === "host" || name === "x-amz-date" || request.headersDistinct[name] !== undefined,
  );
  const unsigned = required.filter((name) => !parsed.signedHeaders.includes(name));
  if (unsigned.length > 0)
    throw new SignatureError("incomplete", `Signed headers must include ${unsigned.join(", ")}.`);
  const { amzDate, ms } = requestTime(request);
  const known = lookUp(credentials, parsed.accessKeyId);
  // Long-term keys carry no session token; temporary ones must carry exactly theirs (AWS Security Token
  // Service User Guide, "Using temporary credentials with AWS resources").
  if (known === undefined || headerValue(request, "x-amz-security-token") !== known.sessionToken)
    throw new SignatureError("unknownKey", "The security token included in the request is invalid.");
  if (known.expiresAt !== undefined && now >= known.expiresAt)
    throw new SignatureError("expiredToken", "The security token included in the request is expired");
  const secret = known.secret;
  if (ms < now - MAX_CLOCK_SKEW_MS)
    throw new SignatureError(
      "expired",
      `Signature expired: ${amzDate} is now earlier than ${compact(now - MAX_CLOCK_SKEW_MS)} (${compact(now)} - 5 min.)`,
    );
  if (ms > now + MAX_CLOCK_SKEW_MS)
    throw new SignatureError(
      "expired",
      `Signature not yet current: ${amzDate} is still later than ${compact(now + MAX_CLOCK_SKEW_MS)} (${compact(now)} + 5 min.)`,
    );
  if (amzDate.slice(0, 8) !== parsed.scopeDate)
    throw new SignatureError(
      "mismatch",
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.scopeDate}' != '${amzDate.slice(0, 8)}'`,
    );
  const payloadHash = sha256Hex(body);
  const claimedHash = headerValue(request, "x-amz-content-sha256");
  if (claimedHash !== undefined && claimedHash !== payloadHash)
    throw new SignatureError(
      "mismatch",
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  const url = request.url ?? "/";
  const queryAt = url.indexOf("?");
  const canonicalHeaders = parsed.signedHeaders
    .map((name) => `${name}:${headerValue(request, name) ?? ""}\n`)
    .join("");
  const canonicalRequest = [
    request.method ?? "GET",
    canonicalPath(queryAt < 0 ? url : url.slice(0, queryAt)),
    canonicalQuery(queryAt < 0 ? "" : url.slice(queryAt + 1)),
    canonicalHeaders,
    parsed.signedHeaders.join(";"),
    payloadHash,
  ].join("\n");
  const scope = `${parsed.scopeDate}/${parsed.region}/${parsed.service}/aws4_request`;
  const stringToSign = [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join("\n");
  const signingKey = hmac(
    hmac(hmac(hmac(`AWS4${secret}`, parsed.scopeDate), parsed.region), parsed.service),
    "aws4_request",
  );
  const expected = hmac(signingKey, stringToSign);
  const given = Buffer.from(parsed.signature, "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new SignatureError("mismatch", MISMATCH);
  return {
    accessKeyId: parsed.accessKeyId,
    region: parsed.region,
    service: parsed.service,
    account: known.account,
  };
}
