import type { ChildProcess } from "node:child_process";

const children = new Set<ChildProcess>();
let hooked = false;

/**
 * Tracks a process a chaos test spawned, so that it dies with the test process even when the test times out
 * before its own cleanup runs (vitest ends the fork; an untracked child would live on, holding a port).
 */
export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (hooked) return;
  hooked = true;
  process.once("exit", () => {
    for (const running of children) running.kill("SIGKILL");
  });
}
