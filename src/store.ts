/**
 * Instance directories: validation of names, config load/save, listing, locking and the
 * running state. Everything an instance owns lives in `<data>/machines/<name>/`, mode 0700.
 */
import { join } from "node:path";
import { ExitCode, UserError } from "./errors.ts";
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
      exitCode: ExitCode.usage,
      hint: "For example: dev, web-1, test42",
    });
  }
  return name;
}

/**
 * System accounts that cloud images already have (Debian, Ubuntu, Fedora, Arch and the other
 * vendors' base passwd files). cloud-init would not create such a user but hand our key and sudo
 * to the existing account, whose home is often `/nonexistent`, so the guest would never accept us.
 */
const SYSTEM_USERS: ReadonlySet<string> = new Set([
  "root",
  "daemon",
  "bin",
  "sys",
  "sync",
  "games",
  "man",
  "lp",
  "mail",
  "news",
  "uucp",
  "proxy",
  "www-data",
  "backup",
  "list",
  "irc",
  "gnats",
  "nobody",
  "adm",
  "halt",
  "shutdown",
  "operator",
  "ftp",
  "sshd",
  "messagebus",
  "dbus",
  "polkitd",
  "syslog",
  "systemd-network",
  "systemd-resolve",
  "systemd-timesync",
  "systemd-coredump",
  "_apt",
  "tss",
  "chrony",
  "uuidd",
  "tcpdump",
  "http",
]);

/** Checks a guest user name (Linux rules, lower case, not a system account). */
export function validateUser(user: string): string {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user) || user === "root") {
    throw new UserError(
      `Using '${user}' as the guest user failed: use 1-32 lower-case letters, digits, '_' or '-', starting with a letter or '_', and not root`,
      { code: "InvalidUser", exitCode: ExitCode.usage, hint: "For example: --user cubic" },
    );
  }
  if (SYSTEM_USERS.has(user)) {
    throw new UserError(
      `Using '${user}' as the guest user failed: it is a system account that cloud images already have, not a login user`,
      { code: "InvalidUser", exitCode: ExitCode.usage, hint: "For example: --user cubic" },
    );
  }
  return user;
}

/** The instance's paths, checking the name. */
export function pathsFor(machines: string, name: string): InstancePaths {
  return instancePaths(machines, validateName(name));
}

/** An instance directory whose `instance.json` is missing fields, mistyped or unreadable. */
export class BrokenInstance extends UserError {
  /** What is wrong, e.g. `instance.json is not valid JSON`. */
  readonly problem: string;

  constructor(name: string, configPath: string, problem: string, cause?: unknown) {
    super(`Reading the instance '${name}' failed: ${configPath} ${problem}`, {
      ...(cause === undefined ? {} : { cause }),
      code: "BrokenInstance",
      hint:
        `Repair or restore that file, or delete the instance with \`cubic delete --yes ${name}\``,
    });
    this.name = "BrokenInstance";
    this.problem = `instance.json ${problem}`;
  }
}

/** Loads an instance's config or explains that it does not exist or is broken. */
export async function loadInstance(machines: string, name: string): Promise<InstanceConfig> {
  const paths = pathsFor(machines, name);
  const broken = (problem: string, cause?: unknown) =>
    new BrokenInstance(name, paths.config, problem, cause);
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
    throw broken(`cannot be read (${(error as Error).message})`, error);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw broken("is not valid JSON", cause);
  }
  const problem = instanceConfigProblem(value, name);
  if (problem !== undefined) throw broken(problem);
  return value as InstanceConfig;
}

const isPort = (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;
const isPositiveInteger = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 1;
const isText = (v: unknown) => typeof v === "string" && v !== "";

/** Every field of `instance.json` with the test its value must pass and what that means. */
const CONFIG_FIELDS: readonly [keyof InstanceConfig, (v: unknown) => boolean, string][] = [
  ["version", (v) => v === 1, "1"],
  ["name", isText, "a name"],
  ["image", isText, "an image name"],
  ["baseImage", isText, "a file path"],
  ["baseDigest", isText, "a digest"],
  ["arch", (v) => v === "amd64" || v === "arm64", "amd64 or arm64"],
  ["user", isText, "a user name"],
  ["cpus", isPositiveInteger, "a whole number of at least 1"],
  ["memoryMiB", isPositiveInteger, "a whole number of at least 1"],
  ["diskBytes", isPositiveInteger, "a whole number of at least 1"],
  ["sshPort", isPort, "a port number"],
  ["instanceId", isText, "an id"],
  ["hostPublicKey", isText, "an OpenSSH public key"],
  ["isolate", (v) => typeof v === "boolean", "true or false"],
  ["createdAt", isText, "a time"],
];
const OPTIONAL_FIELDS: readonly [keyof InstanceConfig, (v: unknown) => boolean, string][] = [
  ["monitorPort", isPort, "a port number"],
  ["consolePort", isPort, "a port number"],
  ["accel", (v) => v === "kvm" || v === "tcg", "kvm or tcg"],
];

/**
 * What is wrong with a parsed `instance.json` for instance `name`, or undefined when it has
 * every field with the right type (pure). Code reads these fields without further checks.
 */
export function instanceConfigProblem(value: unknown, name: string): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "does not hold a JSON object";
  }
  const record = value as Record<string, unknown>;
  for (const [field, valid, expected] of CONFIG_FIELDS) {
    if (!(field in record)) return `has no '${field}'`;
    if (!valid(record[field])) {
      return `has an invalid '${field}' (${
        JSON.stringify(record[field])?.slice(0, 40)
      }; expected ${expected})`;
    }
  }
  for (const [field, valid, expected] of OPTIONAL_FIELDS) {
    if (record[field] !== undefined && !valid(record[field])) {
      return `has an invalid '${field}' (${
        JSON.stringify(record[field])?.slice(0, 40)
      }; expected ${expected})`;
    }
  }
  // Paths are derived from the name, so a config naming another instance would act on that one.
  if (record.name !== name) return `belongs to the instance '${record.name}', not '${name}'`;
  return undefined;
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

/** Whether 127.0.0.1:port is taken (cannot be listened on). */
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
