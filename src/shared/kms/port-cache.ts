import type { KmsPort } from "./types.js";

/** One KMS port per Region, made on first use and closed together. */
export interface KmsPortCache<Port extends { close(): void } = KmsPort> {
  /** The port of `region`, made by the cache's factory the first time this Region is asked for. */
  portFor(region: string): Port;
  /** Closes every port made so far; the cache is empty afterwards. */
  close(): void;
}

/**
 * A cache of KMS ports by Region over `createPort` (a worker fleet, the audit and test contexts each reach
 * several Regions and must open one client per Region, not one per key).
 */
export function kmsPortCache<Port extends { close(): void } = KmsPort>(
  createPort: (region: string) => Port,
): KmsPortCache<Port> {
  const ports = new Map<string, Port>();
  return {
    portFor(region) {
      let port = ports.get(region);
      if (!port) {
        port = createPort(region);
        ports.set(region, port);
      }
      return port;
    },
    close() {
      for (const port of ports.values()) port.close();
      ports.clear();
    },
  };
}
