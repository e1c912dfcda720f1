import { readdir, readFile } from "node:fs/promises";
import { OWNER_VARIABLE } from "./leak-registry.js";

/** A process found by the leak guard: its id and the first words of its command line. */
export interface FoundProcess {
  pid: number;
  command: string;
}

async function processIds(): Promise<number[]> {
  const entries = await readdir("/proc").catch(() => []);
  return entries.filter((entry) => /^\d+$/.test(entry)).map(Number);
}

/** Parent id and state from /proc/<pid>/stat (the command name in parentheses may hold spaces). */
async function statOf(pid: number): Promise<{ ppid: number; state: string } | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "?", ppid: Number(fields[1]) };
}

/** The program and its first argument only: a command line must never carry a secret, but stay brief. */
async function commandOf(pid: number): Promise<string> {
  const raw = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  return raw.split("\0").filter(Boolean).slice(0, 3).join(" ").slice(0, 160) || "?";
}

async function hasMark(pid: number, prefix: string): Promise<boolean> {
  const environ = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
  return environ.split("\0").some((entry) => entry.startsWith(`${OWNER_VARIABLE}=${prefix}`));
}

/**
 * Live processes (zombies excluded: their parent reaps them) that descend from `root`, or whose environment
 * carries the owner mark starting with `markPrefix` (found even when orphaned). Linux only: elsewhere none.
 */
export async function findProcesses(options: { root?: number; markPrefix: string }): Promise<FoundProcess[]> {
  const ids = await processIds();
  const stats = new Map<number, { ppid: number; state: string }>();
  for (const pid of ids) {
    const stat = await statOf(pid);
    if (stat) stats.set(pid, stat);
  }
  const descends = (pid: number): boolean => {
    for (let at = stats.get(pid)?.ppid, hops = 0; at !== undefined && at > 1 && hops < 64; hops++) {
      if (at === options.root) return true;
      at = stats.get(at)?.ppid;
    }
    return false;
  };
  const found: FoundProcess[] = [];
  for (const [pid, stat] of stats) {
    if (pid === process.pid || stat.state === "Z") continue;
    if ((options.root !== undefined && descends(pid)) || (await hasMark(pid, options.markPrefix)))
      found.push({ pid, command: await commandOf(pid) });
  }
  return found;
}

/** SIGKILLs what a leak left, so one leaking file does not hold ports and tokens for the rest of the run. */
export function killAll(processes: FoundProcess[]): void {
  for (const { pid } of processes) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
}
