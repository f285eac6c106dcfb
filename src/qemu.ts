/**
 * QEMU: the command line (pure), finding the binaries, and launching a detached VM.
 */
import { delimiter, join } from "node:path";
import { UserError } from "./errors.ts";
import type { Arch } from "./provider.ts";

/** The accelerator a VM runs with. */
export type Accelerator = "kvm" | "tcg";

/** Everything the QEMU command line depends on. */
export interface QemuSpec {
  name: string;
  arch: Arch;
  accel: Accelerator;
  cpus: number;
  memoryMiB: number;
  firmwareCode: string;
  firmwareVars: string;
  disk: string;
  seed: string;
  sshPort: number;
  monitorPort: number;
  consolePort: number;
  tlsDir: string;
  pidfile: string;
  serialLog: string;
  /** Cut the guest's outbound network (slirp `restrict=on`). */
  isolate: boolean;
  /** Extra `hostfwd` rules in QEMU syntax, e.g. `tcp:127.0.0.1:8080-:80`. */
  hostForwards: string[];
  /** Confine QEMU with its seccomp sandbox (default true; off only where QEMU lacks seccomp). */
  sandbox?: boolean;
}

/** The QEMU system emulator for a guest arch. */
export function qemuBinaryName(arch: Arch): string {
  return arch === "amd64" ? "qemu-system-x86_64" : "qemu-system-aarch64";
}

/**
 * `value` made safe inside a comma-separated QEMU option (`file=…,`): QEMU reads `,,` as a
 * literal comma, so a path like `/tmp/da,ta/disk.qcow2` cannot end the value or inject options.
 */
export function escapeQemuOption(value: string): string {
  return value.replaceAll(",", ",,");
}

/** The full QEMU argument list for a VM (pure). */
export function qemuArgs(spec: QemuSpec): string[] {
  const path = escapeQemuOption;
  const machine = spec.arch === "amd64" ? "q35" : "virt";
  const accel = spec.accel === "kvm"
    ? ["-accel", "kvm", "-cpu", "host"]
    // TCG's default translation cache is 1 GiB; 256 MiB halves QEMU's RSS at no speed cost.
    : ["-accel", "tcg,tb-size=256", "-cpu", spec.arch === "amd64" ? "max" : "max"];
  const netdev = [
    "user",
    "id=net0",
    `hostname=${spec.name}`,
    ...(spec.isolate ? ["restrict=on"] : []),
    `hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`,
    ...spec.hostForwards.map((f) => `hostfwd=${f}`),
  ].join(",");
  return [
    "-name",
    `${spec.name},process=cubic-${spec.name}`,
    "-machine",
    machine,
    ...accel,
    "-smp",
    String(spec.cpus),
    "-m",
    `${spec.memoryMiB}M`,
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    // seccomp: no obsolete syscalls, no resource control; QEMU needs fork for -daemonize.
    ...(spec.sandbox === false ? [] : ["-sandbox", "on,obsolete=deny,resourcecontrol=deny"]),
    "-drive",
    `if=pflash,format=raw,unit=0,readonly=on,file=${path(spec.firmwareCode)}`,
    "-drive",
    `if=pflash,format=raw,unit=1,file=${path(spec.firmwareVars)}`,
    "-drive",
    `if=none,id=disk0,format=qcow2,file=${path(spec.disk)},discard=unmap`,
    "-device",
    "virtio-blk-pci,drive=disk0,bootindex=0",
    "-drive",
    `if=none,id=seed0,format=raw,readonly=on,file=${path(spec.seed)}`,
    "-device",
    "virtio-blk-pci,drive=seed0",
    "-netdev",
    netdev,
    "-device",
    "virtio-net-pci,netdev=net0,romfile=",
    "-object",
    "rng-random,id=rng0,filename=/dev/urandom",
    "-device",
    "virtio-rng-pci,rng=rng0",
    "-object",
    `tls-creds-x509,id=tls0,dir=${path(spec.tlsDir)},endpoint=server,verify-peer=on`,
    "-chardev",
    `socket,id=qmp0,host=127.0.0.1,port=${spec.monitorPort},server=on,wait=off,tls-creds=tls0`,
    "-mon",
    "chardev=qmp0,mode=control",
    "-chardev",
    `socket,id=serial0,host=127.0.0.1,port=${spec.consolePort},server=on,wait=off,tls-creds=tls0,logfile=${
      path(spec.serialLog)
    },logappend=on`,
    "-serial",
    "chardev:serial0",
    "-pidfile",
    spec.pidfile,
    "-daemonize",
  ];
}

/** Directories searched for QEMU binaries (pure): `CUBIC_QEMU_DIR`, then PATH. */
export function qemuSearchPath(env: Record<string, string | undefined>): string[] {
  const path = (env.PATH ?? "").split(delimiter).filter((d) => d !== "");
  const dirs = [
    ...(env.CUBIC_QEMU_DIR ? [env.CUBIC_QEMU_DIR] : []),
    ...(path.length > 0 ? path : ["/usr/local/bin", "/usr/bin"]),
  ];
  return [...new Set(dirs)];
}

/** Finds a QEMU program (e.g. `qemu-img`) or explains what to install. */
export async function findQemuProgram(
  program: string,
  env: Record<string, string | undefined>,
): Promise<string> {
  for (const dir of qemuSearchPath(env)) {
    const candidate = join(dir, program);
    try {
      const info = await Deno.stat(candidate);
      if (info.isFile && info.mode !== null && (info.mode & 0o111) !== 0) return candidate;
    } catch {
      // not here
    }
  }
  const pkg = program === "qemu-img"
    ? "qemu-utils"
    : program === "qemu-system-aarch64"
    ? "qemu-system-arm"
    : "qemu-system-x86";
  throw new UserError(`Finding '${program}' failed: it is not installed (searched PATH)`, {
    code: "QemuNotFound",
    hint:
      `Install QEMU: sudo apt-get install ${pkg} qemu-utils ovmf  (Fedora: sudo dnf install qemu-kvm qemu-img edk2-ovmf), or set CUBIC_QEMU_DIR`,
  });
}

/** Result of launching QEMU with `-daemonize`. */
export interface LaunchResult {
  success: boolean;
  code: number;
  stderr: string;
}

/**
 * Runs QEMU with `-daemonize`: QEMU forks, the parent exits once the VM is set up (pidfile
 * written, sockets listening), so the exit status tells whether the start worked. QEMU's
 * start-up messages are appended to `logFile` because a daemon's stderr is lost.
 */
export async function launchQemu(
  binary: string,
  args: string[],
  options: { logFile: string },
): Promise<LaunchResult> {
  const command = new Deno.Command(binary, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    clearEnv: false,
  });
  const output = await command.output();
  const stderr = new TextDecoder().decode(output.stderr);
  const stamp = new Date().toISOString();
  await Deno.writeTextFile(
    options.logFile,
    `[${stamp}] ${binary} ${args.join(" ")}\n${stderr}${
      output.success ? "" : `[${stamp}] exited with status ${output.code}\n`
    }`,
    { append: true, mode: 0o600 },
  );
  return { success: output.success, code: output.code, stderr };
}
