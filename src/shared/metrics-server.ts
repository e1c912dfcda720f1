import { createServer, type Server } from "node:http";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { ConfigError } from "./errors.js";

export interface MetricsServerOptions {
  port: number;
  host: string;
  registry: Registry;
  /** Readiness checks by name; each resolves when ready and throws (with a reason) when not. */
  readiness: Record<string, () => Promise<void>>;
  logger: Logger;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Why the server cannot listen, as a configuration error (exit 2) naming the setting to change: the port is
 * taken or privileged, or the host is not an address of this machine.
 */
function listenProblem(error: NodeJS.ErrnoException, options: MetricsServerOptions): ConfigError {
  const where = `${options.host} port ${options.port}`;
  switch (error.code) {
    case "EADDRINUSE":
      return new ConfigError(
        `cannot serve metrics on ${where}: the port is in use; set HSM2KMS_METRICS_PORT (status: --metrics-port) to a free port`,
      );
    case "EACCES":
      return new ConfigError(
        `cannot serve metrics on ${where}: permission denied; set HSM2KMS_METRICS_PORT to a port above 1023`,
      );
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new ConfigError(
        `cannot serve metrics on ${where}: ${error.code === "EADDRNOTAVAIL" ? "not an address of this machine" : "the host name does not resolve"}; set HSM2KMS_METRICS_HOST to an address of this machine (e.g. 0.0.0.0 or 127.0.0.1)`,
      );
    default:
      return new ConfigError(
        `cannot serve metrics on ${where} (${error.code ?? "error"}); check HSM2KMS_METRICS_HOST and HSM2KMS_METRICS_PORT`,
      );
  }
}

/** Serves /metrics (Prometheus text), /healthz (the process answers) and /readyz (every check passes). */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer(async (request, response) => {
    try {
      if (request.url === "/metrics") {
        const body = await options.registry.metrics();
        response.writeHead(200, { "content-type": options.registry.contentType }).end(body);
      } else if (request.url === "/healthz") {
        response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      } else if (request.url === "/readyz") {
        const failures: string[] = [];
        for (const [name, check] of Object.entries(options.readiness)) {
          await check().catch((error: unknown) =>
            failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`),
          );
        }
        response
          .writeHead(failures.length === 0 ? 200 : 503, { "content-type": "text/plain" })
          .end(failures.length === 0 ? "ready\n" : `${failures.join("\n")}\n`);
      } else {
        response.writeHead(404, { "content-type": "text/plain" }).end("try /metrics, /healthz or /readyz\n");
      }
    } catch (error) {
      options.logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "metrics request failed",
      );
      if (!response.headersSent) response.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(listenProblem(error, options)));
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : options.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
