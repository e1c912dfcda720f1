import { targetName } from "../targets.js";
import type { KmsPort } from "./types.js";

/** One KMS port per target (account, Region), made on first use and closed together. */
export interface KmsPortCache<Port extends { close(): void } = KmsPort> {
  /**
   * The port of `region` in `account` (undefined: the caller's own account), made by the cache's factory the
   * first time this account and Region are asked for.
   */
  portFor(region: string, account?: string | undefined): Port;
  /** Closes every port made so far; the cache is empty afterwards. */
  close(): void;
}

/**
 * A cache of KMS ports by target over `createPort` (a worker fleet, the audit and test contexts each reach
 * several Regions, and accounts, and must open one client per account and Region, not one per key).
 */
export function kmsPortCache<Port extends { close(): void } = KmsPort>(
  createPort: (region: string, account: string | undefined) => Port,
): KmsPortCache<Port> {
  const ports = new Map<string, Port>();
  return {
    portFor(region, account) {
      const name = targetName({ account, region });
      let port = ports.get(name);
      if (!port) {
        port = createPort(region, account);
        ports.set(name, port);
      }
      return port;
    },
    close() {
      for (const port of ports.values()) port.close();
      ports.clear();
    },
  };
}
