import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TestHost {
  name: string;
  namespace: string;
  ip: string;
}

export interface TestNetwork {
  /** The test process's own address on the test link (reaches every host). */
  rootIp: string;
  hosts: Map<string, TestHost>;
  /** Starts a process inside a host's namespace. */
  spawn(host: string, command: string, args: string[], env: Record<string, string>): ChildProcess;
  /** Takes the host's link down (cut off the network) or up again. */
  setLink(host: string, up: boolean): Promise<void>;
  destroy(): Promise<void>;
}

/** Why this machine cannot make test networks, or undefined when it can (root and `ip netns`). */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "network namespaces need root";
  try {
    await run("ip", ["netns", "list"]);
    return undefined;
  } catch (error) {
    return `ip netns does not work here: ${(error as Error).message}`;
  }
}

async function ip(...args: string[]): Promise<void> {
  await run("ip", args);
}

/**
 * Private test hosts on one machine: a namespace per host, each with a veth to a bridge in a "switch"
 * namespace, plus a leg for the test process itself. Names and the /24 are random per run, so concurrent
 * runs never collide; `destroy()` removes everything (deleting a namespace deletes its veths).
 */
export async function createTestNetwork(names: string[]): Promise<TestNetwork> {
  const id = randomBytes(2).toString("hex");
  const subnet = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]! % 250}`;
  const switchNs = `h2k-${id}-sw`;
  const hosts = new Map<string, TestHost>();
  const created: string[] = [];
  const rootVeth = `h2k${id}r`;
  const destroy = async () => {
    await run("ip", ["link", "del", rootVeth]).catch(() => undefined);
    for (const namespace of created.reverse())
      await run("ip", ["netns", "del", namespace]).catch(() => undefined);
  };
  try {
    await ip("netns", "add", switchNs);
    created.push(switchNs);
    await ip("-n", switchNs, "link", "add", "br0", "type", "bridge");
    await ip("-n", switchNs, "link", "set", "br0", "up");
    const attach = async (outside: string, inside: string) => {
      await ip("link", "add", outside, "type", "veth", "peer", "name", inside);
      await ip("link", "set", inside, "netns", switchNs);
      await ip("-n", switchNs, "link", "set", inside, "master", "br0");
      await ip("-n", switchNs, "link", "set", inside, "up");
    };
    await attach(rootVeth, `r${id}s`);
    await ip("addr", "add", `${subnet}.254/24`, "dev", rootVeth);
    await ip("link", "set", rootVeth, "up");
    for (const [index, name] of names.entries()) {
      const namespace = `h2k-${id}-${name}`;
      await ip("netns", "add", namespace);
      created.push(namespace);
      const veth = `h2k${id}h${index}`;
      await attach(veth, `h${id}s${index}`);
      await ip("link", "set", veth, "netns", namespace);
      await ip("-n", namespace, "link", "set", veth, "name", "eth0");
      await ip("-n", namespace, "addr", "add", `${subnet}.${index + 1}/24`, "dev", "eth0");
      await ip("-n", namespace, "link", "set", "eth0", "up");
      await ip("-n", namespace, "link", "set", "lo", "up");
      hosts.set(name, { name, namespace, ip: `${subnet}.${index + 1}` });
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  const host = (name: string) => {
    const found = hosts.get(name);
    if (!found) throw new Error(`no test host ${name}`);
    return found;
  };
  return {
    rootIp: `${subnet}.254`,
    hosts,
    spawn: (name, command, args, env) =>
      spawn("ip", ["netns", "exec", host(name).namespace, command, ...args], {
        env: { PATH: process.env["PATH"] ?? "", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      }),
    setLink: (name, up) => ip("-n", host(name).namespace, "link", "set", "eth0", up ? "up" : "down"),
    destroy,
  };
}
