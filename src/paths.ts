/**
 * Cubic's directories. This is the one module that reads HOME and XDG_* variables.
 */
import { join } from "node:path";
import { UserError } from "./errors.ts";

/** Where Cubic keeps its state. */
export interface CubicPaths {
  /** `~/.local/share/cubic` */
  data: string;
  /** `~/.cache/cubic` */
  cache: string;
  /** `~/.config/cubic` */
  config: string;
  /** `~/.local/share/cubic/machines` */
  machines: string;
  /** `~/.cache/cubic/images` */
  images: string;
}

/** Computes Cubic's directories from an environment (pure); without HOME, a UserError. */
export function cubicPaths(env: Record<string, string | undefined>): CubicPaths {
  const home = env.HOME;
  const base = (xdg: string | undefined, fallback: string[]): string => {
    if (xdg && xdg.startsWith("/")) return xdg;
    if (!home) {
      throw new UserError(
        "Finding Cubic's directories failed: HOME is not set (and XDG_DATA_HOME, XDG_CACHE_HOME, XDG_CONFIG_HOME do not all name absolute paths)",
        {
          code: "UnsetHome",
          hint:
            "Set HOME to your home directory (e.g. `export HOME=/home/you`), or set XDG_DATA_HOME, XDG_CACHE_HOME and XDG_CONFIG_HOME",
        },
      );
    }
    return join(home, ...fallback);
  };
  const data = join(base(env.XDG_DATA_HOME, [".local", "share"]), "cubic");
  const cache = join(base(env.XDG_CACHE_HOME, [".cache"]), "cubic");
  const config = join(base(env.XDG_CONFIG_HOME, [".config"]), "cubic");
  return { data, cache, config, machines: join(data, "machines"), images: join(cache, "images") };
}

/** Cubic's directories for the running process. */
export function defaultPaths(): CubicPaths {
  return cubicPaths(Deno.env.toObject());
}

/** Files inside one instance directory. */
export interface InstancePaths {
  dir: string;
  config: string;
  disk: string;
  seed: string;
  firmwareVars: string;
  sshKey: string;
  hostKey: string;
  knownHosts: string;
  pidfile: string;
  serialLog: string;
  qemuLog: string;
  tlsDir: string;
  lock: string;
}

/** Paths of the files that make up instance `name` (pure). */
export function instancePaths(machines: string, name: string): InstancePaths {
  const dir = join(machines, name);
  return {
    dir,
    config: join(dir, "instance.json"),
    disk: join(dir, "disk.qcow2"),
    seed: join(dir, "cidata.iso"),
    firmwareVars: join(dir, "efivars.fd"),
    sshKey: join(dir, "ssh_client_key"),
    hostKey: join(dir, "ssh_host_ed25519_key"),
    knownHosts: join(dir, "known_hosts"),
    pidfile: join(dir, "qemu.pid"),
    serialLog: join(dir, "serial.log"),
    qemuLog: join(dir, "qemu.log"),
    tlsDir: join(dir, "tls"),
    lock: join(dir, ".lock"),
  };
}
