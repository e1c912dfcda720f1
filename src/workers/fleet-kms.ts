import type { Logger } from "pino";
import type { Config } from "../shared/config.js";
import { accountPortCache } from "../shared/kms/account-ports.js";
import { createKmsAdapter, type KmsPortCache } from "../shared/kms/index.js";
import type { WorkerEvents } from "./events.js";
import { requestPacesOf } from "./pacing.js";

export interface FleetKmsOptions {
  config: Config;
  logger: Logger;
  events: WorkerEvents;
  /** KMS credentials override (tests and the sandbox); default: the SDK's chain. */
  kmsCredentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

/**
 * The fleet's KMS ports, one per account and Region, made on first use; closing the cache also stops refreshing
 * the assumed roles' credentials. Other accounts are reached through their roles (HSM2KMS_ACCOUNTS_FILE), assumed
 * with this worker's own credentials; STS answers at the KMS endpoint override too (the sandbox's emulator). Each
 * port spaces the calls that pace a phase, as that phase's fleet-wide limiter spaces starts, and reports its
 * requests and resource-quota holds as fleet events.
 */
export function fleetKmsPorts({ config, logger, events, kmsCredentials }: FleetKmsOptions): KmsPortCache {
  const pace = requestPacesOf(config);
  return accountPortCache({ ...config, credentials: kmsCredentials }, (settings) =>
    createKmsAdapter({
      ...settings,
      pace,
      onRequest: (event) => events.emit("kms:request", event),
      onResourceQuota: (event) => {
        // Once per hold and process: the adapter itself stops sending CreateKey into that Region.
        if (event.state === "exceeded")
          logger.error(
            { region: event.region, account: event.account, quota: event.quota, operation: event.operation },
            `KMS refused ${event.operation}: the account${event.account ? ` ${event.account}` : ""} is at its "${event.quota}" resource quota in ${event.region}; keys that reach create there fail (KMS_RESOURCE_QUOTA_EXCEEDED) until it is raised in Service Quotas; then hsm2kms retry --failed`,
          );
        else logger.info({ region: event.region, quota: event.quota }, "KMS creates keys again");
        events.emit("kms:resource-quota", event);
      },
    }),
  );
}
