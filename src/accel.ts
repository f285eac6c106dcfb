/**
 * Accelerator choice that cannot be fooled. `/dev/kvm` existing, and even QEMU starting with
 * `-accel kvm`, do not prove KVM can run a guest: under some nested hypervisors the guest dies
 * at once with a KVM internal error and QEMU pauses instead of exiting. So Cubic starts with KVM,
 * watches QMP `query-status` for a few seconds, falls back to TCG when the guest stopped, and
 * remembers the verdict for this host so the next start goes straight to TCG.
 */
import { join } from "node:path";
import { ExitCode, UserError } from "./errors.ts";
import type { Accelerator } from "./qemu.ts";

/** `--accel`: auto (probe), on (KVM or fail), off (TCG). */
export type AccelMode = "auto" | "on" | "off";

/** What Cubic learnt about this host's KVM. */
export interface AccelVerdict {
  kvmBroken: boolean;
  reason: string;
  /** The verdict holds for this kernel; a new kernel is probed again. */
  kernel: string;
  checkedAt: string;
}

/** QMP run states that mean the guest cannot run (pure). */
export function isDeadRunState(status: string): boolean {
  return ["internal-error", "guest-panicked", "shutdown", "io-error"].includes(status);
}

/** Parses `--accel` (pure). */
export function parseAccelMode(text: string): AccelMode {
  if (text === "auto" || text === "on" || text === "off") return text;
  throw new UserError(`Reading --accel '${text}' failed: expected auto, on or off`, {
    code: "InvalidAccel",
    exitCode: ExitCode.usage,
    hint: "Use --accel auto (default), on (require KVM) or off (software emulation)",
  });
}

/** The first accelerator to try (pure). */
export function firstAccelerator(
  mode: AccelMode,
  host: {
    kvmDevice: boolean;
    sameArch: boolean;
    verdict: AccelVerdict | undefined;
    kernel: string;
  },
): { accel: Accelerator; note?: string } {
  if (mode === "off") return { accel: "tcg" };
  if (mode === "on") {
    if (!host.sameArch) {
      throw new UserError(
        "Starting with --accel on failed: the guest's arch differs from the host's",
        {
          code: "ArchMismatch",
          hint: "Use --accel auto or off for foreign-arch guests",
        },
      );
    }
    return { accel: "kvm" };
  }
  if (!host.sameArch) return { accel: "tcg", note: "foreign-arch guest" };
  if (!host.kvmDevice) return { accel: "tcg", note: "/dev/kvm does not exist" };
  if (host.verdict?.kvmBroken && host.verdict.kernel === host.kernel) {
    return { accel: "tcg", note: `KVM failed earlier on this host: ${host.verdict.reason}` };
  }
  return { accel: "kvm" };
}

function verdictFile(cacheDir: string): string {
  return join(cacheDir, "accel.json");
}

/** Reads the remembered verdict, if any. */
export async function readVerdict(cacheDir: string): Promise<AccelVerdict | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(verdictFile(cacheDir))) as AccelVerdict;
  } catch {
    return undefined;
  }
}

/** Remembers that KVM does not work on this host. */
export async function rememberKvmBroken(
  cacheDir: string,
  reason: string,
  kernel: string,
): Promise<void> {
  await Deno.mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const verdict: AccelVerdict = {
    kvmBroken: true,
    reason,
    kernel,
    checkedAt: new Date().toISOString(),
  };
  const file = verdictFile(cacheDir);
  await Deno.writeTextFile(file, JSON.stringify(verdict, null, 2) + "\n", { mode: 0o600 });
  // `mode` applies only to a new file, and through the umask: set it outright.
  await Deno.chmod(file, 0o600);
}

/** Whether the host has a KVM device node at all. */
export async function kvmDeviceExists(): Promise<boolean> {
  try {
    await Deno.stat("/dev/kvm");
    return true;
  } catch {
    return false;
  }
}

/** The running kernel's release, used to scope the verdict. */
export function kernelRelease(): string {
  try {
    return Deno.osRelease();
  } catch {
    return "unknown";
  }
}
