/**
 * Instance directories: validation of names, config load/save, listing, locking and the
 * running state. Everything an instance owns lives in `<data>/machines/<name>/`, mode 0700.
 */
import { join } from "node:path";
import { UserError } from "./errors.ts";
import { type InstancePaths, instancePaths } from "./paths.ts";
import type { Arch } from "./provider.ts";
import { processCommandLine } from "./process.ts";

/** What `instance.json` holds. */
export interface InstanceConfig {
  version: 1;
  name: string;
  /** The image name it was created from, e.g. `debian:12:amd64`. */
  image: string;
  /** The verified cached image its disk is an overlay of. */
  baseImage: string;
  baseDigest: string;
  arch: Arch;
  user: string;
  cpus: number;
  memoryMiB: number;
  diskBytes: number;
  sshPort: number;
  /** cloud-init's instance-id; unique per created instance. */
  instanceId: string;
  /** The guest's host key (OpenSSH public key line); checked on every connection. */
  hostPublicKey: string;
  isolate: boolean;
  createdAt: string;
  /** Set at start. */
  monitorPort?: number;
  consolePort?: number;
  accel?: "kvm" | "tcg";
}

const NAME_RULE =
  "1 to 63 letters, digits and hyphens, starting with a letter or digit and not ending with a hyphen";

/** Checks an instance name; the name is also the guest's hostname. */
export function validateName(name: string): string {
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(name)) {
    throw new UserError(`Using '${name}' as an instance name failed: a name is ${NAME_RULE}`, {
      code: "InvalidName",
      hint: "For example: dev, web-1, test42",
    });
  }
  return name;
}

/** Checks a guest user name (Linux rules, lower case). */
export function validateUser(user: string): string {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user) || user === "root") {
    throw new UserError(
      `Using '${user}' as the guest user failed: use 1-32 lower-case letters, digits, '_' or '-', starting with a letter or '_', and not root`,
      { code: "InvalidUser", hint: "For example: --user cubic" },
    );
  }
  return user;
}

/** The instance's paths, checking the name. */
export function pathsFor(machines: string, name: string): InstancePaths {
  return instancePaths(machines, validateName(name));
}

/** Loads an instance's config or explains that it does not exist. */
export async function loadInstance(machines: string, name: string): Promise<InstanceConfig> {
  const paths = pathsFor(machines, name);
  let text: string;
  try {
    text = await Deno.readTextFile(paths.config);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UserError(`Finding the instance '${name}' failed: it does not exist`, {
        code: "UnknownInstance",
        hint: "List instances with `cubic instances`, or create it with `cubic create`",
      });
    }
    throw error;
  }
  try {
    return JSON.parse(text) as InstanceConfig;
  } catch (cause) {
    throw new UserError(`Reading '${paths.config}' failed: it is not valid JSON`, {
      cause,
      code: "BrokenInstance",
      hint: `Delete the instance with \`cubic delete --yes ${name}\``,
    });
  }
}

/** Writes a private file atomically with mode 0600, whatever the umask. */
export async function writePrivateFile(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data, { mode: 0o600 });
    else await Deno.writeFile(tmp, data, { mode: 0o600 });
    await Deno.chmod(tmp, 0o600);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** Saves an instance's config atomically into `dir`. */
export async function saveInstance(dir: string, config: InstanceConfig): Promise<void> {
  await writePrivateFile(join(dir, "instance.json"), JSON.stringify(config, null, 2) + "\n");
}

/** Names of every instance, sorted. */
export async function listInstanceNames(machines: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(machines)) {
      if (!entry.isDirectory) continue;
      try {
        validateName(entry.name);
      } catch {
        continue; // temporary directories of an unfinished create
      }
      try {
        await Deno.stat(join(machines, entry.name, "instance.json"));
        names.push(entry.name);
      } catch {
        // not an instance
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort((a, b) => a.localeCompare(b));
}

/** Holds an exclusive lock on an instance for the duration of an operation. */
export async function lockInstance(paths: InstancePaths): Promise<Disposable> {
  const file = await Deno.open(paths.lock, { create: true, write: true, mode: 0o600 });
  await file.lock(true);
  const release = () => {
    try {
      file.unlockSync();
    } catch {
      // already closed
    }
    file.close();
  };
  return { [Symbol.dispose]: release };
}

/** The PID of the instance's QEMU if it is running (checks the process really is that QEMU). */
export async function runningPid(paths: InstancePaths): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(paths.pidfile)).trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  // PIDs are reused: only a QEMU started with this instance's pidfile counts.
  const cmdline = await processCommandLine(pid);
  if (cmdline && cmdline.join(" ").includes(paths.pidfile)) return pid;
  await Deno.remove(paths.pidfile).catch(() => {});
  return undefined;
}

/** A free TCP port on 127.0.0.1, as the OS assigns it. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function portInUse(port: number): boolean {
  try {
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    listener.close();
    return false;
  } catch {
    return true;
  }
}

/** Bytes a (sparse) disk file really occupies on the host, or undefined if it is unreadable. */
export async function diskUsedBytes(path: string): Promise<number | undefined> {
  try {
    const info = await Deno.stat(path);
    return info.blocks === null ? info.size : info.blocks * 512;
  } catch {
    return undefined;
  }
}
