/**
 * Host process queries. Deno's direct APIs (reading /proc/<pid>, Deno.kill) need broader
 * permissions than the compiled binary is granted, so each falls back to `ps`/`kill`.
 */

/** The command line of a process, or undefined when no such process exists. */
export async function processCommandLine(pid: number): Promise<string[] | undefined> {
  try {
    const text = await Deno.readTextFile(`/proc/${pid}/cmdline`);
    return text.split("\0").filter((s) => s !== "");
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    if (
      !(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)
    ) {
      throw error;
    }
  }
  const out = await new Deno.Command("ps", {
    args: ["-ww", "-o", "args=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) return undefined;
  const line = new TextDecoder().decode(out.stdout).trim();
  return line === "" ? undefined : line.split(/\s+/);
}

/** Sends a signal to a process; false when the process does not exist. */
export async function signalProcess(pid: number, signal: "SIGTERM" | "SIGKILL"): Promise<boolean> {
  try {
    Deno.kill(pid, signal);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    if (
      !(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)
    ) {
      if (error instanceof Error && /ESRCH|No such process/i.test(error.message)) return false;
      throw error;
    }
  }
  const out = await new Deno.Command("kill", {
    args: [`-${signal.slice(3)}`, String(pid)],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}
