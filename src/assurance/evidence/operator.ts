import { userInfo } from "node:os";
import type { OperatorIdentity } from "./types.js";

export interface OperatorLookupSettings {
  /** Region of the STS endpoint. @defaultValue "us-east-1" */
  region?: string | undefined;
  /** Endpoint override: the KMS endpoint override when one is set (the sandbox emulator answers STS too). */
  endpoint?: string | undefined;
  /** How long to wait for STS. @defaultValue 5000 */
  timeoutMs?: number;
  /** Explicit credentials (the sandbox's); default: the SDK's default provider chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers).
    return `uid ${process.getuid?.() ?? "unknown"}`;
  }
}

/**
 * Who is making the pack: the AWS caller identity (STS GetCallerIdentity, credentials from the SDK's default
 * chain) plus the local OS user. STS unreachable, refusing, or no credentials: `source: "unavailable"` with the
 * reason; this never fails the pack.
 */
export async function lookUpOperator(settings: OperatorLookupSettings = {}): Promise<OperatorIdentity> {
  // Loaded here: the evidence module is reachable from the CLI's start, the STS client only from this call.
  const { GetCallerIdentityCommand, STSClient } = await import("@aws-sdk/client-sts");
  const client = new STSClient({
    region: settings.region ?? "us-east-1",
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    maxAttempts: 1,
    requestHandler: {
      requestTimeout: settings.timeoutMs ?? 5000,
      connectionTimeout: settings.timeoutMs ?? 5000,
    },
  });
  try {
    const out = await client.send(new GetCallerIdentityCommand({}), {
      abortSignal: AbortSignal.timeout(settings.timeoutMs ?? 5000),
    });
    if (!out.Arn || !out.Account || !out.UserId)
      return {
        source: "unavailable",
        reason: "STS answered without Arn, Account or UserId",
        localUser: localUser(),
      };
    return { source: "sts", arn: out.Arn, account: out.Account, userId: out.UserId, localUser: localUser() };
  } catch (error) {
    const name = (error as { name?: string }).name ?? "Error";
    const message = error instanceof Error ? error.message : String(error);
    return { source: "unavailable", reason: `${name}: ${message}`, localUser: localUser() };
  } finally {
    client.destroy();
  }
}
