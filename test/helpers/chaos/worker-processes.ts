import { setTimeout as sleep } from "node:timers/promises";
import { type CliProcess, spawnCli } from "../cli.js";
import { trackChild } from "./children.js";

/**
 * A set of `hsm2kms worker` processes sharing one environment (token, Redis prefix, emulator): started,
 * SIGKILLed and restarted by a chaos test, every line of their output kept.
 */
export class WorkerProcesses {
  private readonly live = new Set<CliProcess>();
  private readonly all: CliProcess[] = [];

  constructor(
    private readonly env: Record<string, string>,
    private readonly args: string[] = ["worker"],
  ) {}

  start(count = 1): void {
    for (let n = 0; n < count; n++) {
      const worker = spawnCli(this.args, this.env);
      trackChild(worker.child);
      this.live.add(worker);
      this.all.push(worker);
      void worker.exited.then(() => this.live.delete(worker));
    }
  }

  /**
   * Waits until every live worker has logged "worker started" (HSM2KMS_LOG_LEVEL info or lower): it has
   * logged in to the token. SoftHSM2 rewrites its token file at C_Login; a SIGKILL in the middle of that write
   * corrupts the token for every process, which is a SoftHSM2 hazard, not the one under test.
   */
  async waitUntilStarted(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ([...this.live].every((worker) => worker.output().includes("worker started"))) return;
      await sleep(20);
    }
  }

  /**
   * The port the live worker at `index` serves /metrics on, read from its own "serving /metrics" log line
   * (HSM2KMS_LOG_LEVEL info or lower): the server listens before that line is written, so it is the readiness
   * signal. Start the workers with HSM2KMS_METRICS_PORT=0: the OS then picks a free port as the server binds,
   * where a port picked beforehand may be taken by another process before the worker gets to it. Throws with
   * the worker's output when it exits first, or has not logged the line after `timeoutMs`.
   */
  async metricsPort(index = 0, timeoutMs = 60_000): Promise<number> {
    const worker = [...this.live][index];
    if (!worker) throw new Error(`no live worker at ${index}`);
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void worker.exited.then(() => {
      exited = true;
    });
    for (;;) {
      const port = /"port":(\d+)[^\n]*"msg":"serving \/metrics/.exec(worker.output())?.[1];
      if (port) return Number(port);
      if (exited || Date.now() > deadline)
        throw new Error(
          `the worker ${exited ? "exited" : "is still not serving"} before serving /metrics:\n${worker.output().slice(-2000)}`,
        );
      await sleep(20);
    }
  }

  get running(): number {
    return this.live.size;
  }

  /** SIGKILLs the live worker at `index` (modulo how many run); resolves once it is gone. */
  async kill(index: number): Promise<void> {
    const workers = [...this.live];
    const victim = workers[index % Math.max(1, workers.length)];
    if (!victim) return;
    victim.child.kill("SIGKILL");
    await victim.exited;
  }

  async killAll(): Promise<void> {
    const workers = [...this.live];
    for (const worker of workers) worker.child.kill("SIGKILL");
    await Promise.all(workers.map((worker) => worker.exited));
  }

  /**
   * SIGTERM (graceful) to every live worker; resolves with their exit codes. A worker still running
   * `graceMs` later (its shutdown deadline is 30 s) is SIGKILLed and reported as `hung after SIGTERM`.
   */
  async stop(graceMs = 45_000): Promise<Array<number | string>> {
    const workers = [...this.live];
    for (const worker of workers) worker.child.kill("SIGTERM");
    return Promise.all(
      workers.map(async (worker) => {
        const hung = Symbol("hung");
        const code = await Promise.race([worker.exited, sleep(graceMs, hung, { ref: false })]);
        if (code !== hung) return code;
        worker.child.kill("SIGKILL");
        await worker.exited;
        return "hung after SIGTERM";
      }),
    );
  }

  /**
   * Waits up to `timeoutMs` for every worker started so far to exit on its own; one still running then is
   * reported as `still running` (and left running: killAll ends it).
   */
  async exits(timeoutMs: number): Promise<Array<number | string>> {
    const running = Symbol("running");
    return Promise.all(
      this.all.map(async (worker) => {
        const code = await Promise.race([worker.exited, sleep(timeoutMs, running, { ref: false })]);
        return code === running ? "still running" : code;
      }),
    );
  }

  /** Each worker's output (stdout and stderr), in start order. */
  outputs(): string[] {
    return this.all.map((worker) => worker.output());
  }

  /** Every line every worker (dead or alive) wrote, stdout and stderr. */
  output(): string {
    return this.all.map((worker) => worker.output()).join("");
  }
}
