/**
 * Runs the real `cubic` CLI (main.ts under this Deno) as a subprocess with its own state
 * directories, the way a user runs it.
 */
import { join } from "node:path";
import { PROVIDERS } from "../../providers/mod.ts";
import { mirrorEnvName } from "../../src/config.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** What a CLI run produced. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Isolated HOME/XDG directories for one test's Cubic state. */
export interface CubicHome {
  root: string;
  env: Record<string, string>;
  machines: string;
  images: string;
  cache: string;
}

/** Creates a fresh temporary home; the caller removes `root`. */
export async function makeCubicHome(extraEnv: Record<string, string> = {}): Promise<CubicHome> {
  const root = await Deno.makeTempDir({ prefix: "cubic-test-" });
  // Nothing in a test may reach beyond 127.0.0.1: every vendor mirror defaults to a closed port.
  const offline: Record<string, string> = {};
  for (const p of PROVIDERS) {
    offline[mirrorEnvName(p.id)] = `http://127.0.0.1:${closedPort()}/${p.id}/`;
  }
  const env = {
    ...offline,
    HOME: root,
    XDG_DATA_HOME: join(root, "data"),
    XDG_CACHE_HOME: join(root, "cache"),
    XDG_CONFIG_HOME: join(root, "config"),
    ...extraEnv,
  };
  return {
    root,
    env,
    machines: join(root, "data", "cubic", "machines"),
    images: join(root, "cache", "cubic", "images"),
    cache: join(root, "cache", "cubic"),
  };
}

/** Runs `cubic args...` and collects its output. */
export async function runCubic(
  args: string[],
  options: { env: Record<string, string>; stdin?: string; clearPath?: boolean; umask?: string },
): Promise<CliResult> {
  const env: Record<string, string> = { ...options.env };
  if (!options.clearPath && !("PATH" in env)) env.PATH = Deno.env.get("PATH") ?? "";
  // The temporary HOME must not hide Deno's own cache (npm packages would be fetched again).
  env.DENO_DIR = Deno.env.get("DENO_DIR") ??
    join(Deno.env.get("HOME") ?? "/root", ".cache", "deno");
  const denoArgs = ["run", "--frozen", "-A", "--quiet", MAIN, ...args];
  // A permissive umask proves Cubic sets private modes itself.
  const [program, programArgs] = options.umask === undefined
    ? [Deno.execPath(), denoArgs]
    : ["/bin/sh", ["-c", `umask ${options.umask} && exec "$0" "$@"`, Deno.execPath(), ...denoArgs]];
  const child = new Deno.Command(program, {
    args: programArgs,
    env,
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** Lists a directory's entries (empty when it does not exist). */
export async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(path)) names.push(e.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names.sort();
}

/** A loopback port nothing listens on (just released by the OS). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
