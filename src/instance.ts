/**
 * Instance lifecycle: create, start, stop, delete and connect, composing the image cache, the
 * seed, the certificate authority, QEMU, QMP and SSH.
 */
import { join } from "node:path";
import {
  type AccelMode,
  firstAccelerator,
  isDeadRunState,
  kernelRelease,
  kvmDeviceExists,
  readVerdict,
  rememberKvmBroken,
} from "./accel.ts";
import { generateTlsMaterial, readClientTls, writeTlsDir } from "./ca.ts";
import { type CachedImage, ensureImage, findCachedImage } from "./cache.ts";
import { metaData, userData } from "./cloud_init.ts";
import type { Context } from "./context.ts";
import { errorMessage, ExitCode, UserError } from "./errors.ts";
import { findFirmware } from "./firmware.ts";
import { formatImageName, hostArch, parseImageName, resolveImage } from "./images.ts";
import { trustedKeysFor } from "./image_trust.ts";
import { buildIso9660 } from "./iso9660.ts";
import { type InstancePaths, instancePaths } from "./paths.ts";
import { processCommandLine, signalProcess } from "./process.ts";
import { consoleTail } from "./printable.ts";
import { QmpClient } from "./qmp.ts";
import { inspectQcow2Header, qcow2Problem } from "./qcow2.ts";
import { type Accelerator, findQemuProgram, launchQemu, qemuArgs, qemuBinaryName } from "./qemu.ts";
import { createOverlay, imageInfo } from "./qemu_img.ts";
import { generateEd25519KeyPair, type SshTarget, waitForSsh } from "./ssh.ts";
import { formatBytes } from "./ui.ts";
import {
  BrokenInstance,
  diskUsedBytes,
  freePort,
  type InstanceConfig,
  listInstanceNames,
  loadInstance,
  lockInstance,
  pathsFor,
  portInUse,
  runningPid,
  saveInstance,
  validateName,
  validateUser,
  writePrivateFile,
} from "./store.ts";

/** Settings for a new instance. */
export interface CreateOptions {
  image: string;
  cpus?: number;
  memoryMiB?: number;
  diskBytes?: number;
  user?: string;
  isolate?: boolean;
}

const DEFAULT_DISK_BYTES = 20 * 1024 ** 3;

/** Default vCPUs and memory for this host: modest, never more than half the host. */
export function defaultResources(
  hostCpus: number,
  hostMemBytes: number,
): { cpus: number; memoryMiB: number } {
  const cpus = Math.max(1, Math.min(4, hostCpus));
  const memoryMiB = Math.max(512, Math.min(4096, Math.floor(hostMemBytes / 1024 ** 2 / 2)));
  return { cpus, memoryMiB };
}

/** Warnings about vCPUs or memory beyond what the host has (pure); such a guest still starts. */
export function resourceWarnings(
  wanted: { cpus: number; memoryMiB: number },
  host: { cpus: number; memoryBytes: number },
): string[] {
  const warnings: string[] = [];
  if (wanted.cpus > host.cpus) {
    warnings.push(
      `${wanted.cpus} vCPUs are more than this host's ${host.cpus} logical CPUs; the guest will be slower than with ${host.cpus} or fewer`,
    );
  }
  if (wanted.memoryMiB * 1024 ** 2 > host.memoryBytes) {
    warnings.push(
      `${formatBytes(wanted.memoryMiB * 1024 ** 2)} of guest memory is more than this host's ${
        formatBytes(host.memoryBytes)
      } of RAM; QEMU may fail to start, or the host may run out of memory`,
    );
  }
  return warnings;
}

/** Resolves, downloads and verifies an image (or reuses the cache when the mirror is unreachable). */
export async function obtainImage(ctx: Context, imageText: string): Promise<CachedImage> {
  const name = parseImageName(imageText, hostArch());
  const spinner = ctx.ui.spinner(`Looking up ${formatImageName(name)}`);
  let ref;
  try {
    ref = await resolveImage(name, ctx);
  } catch (error) {
    spinner.stop();
    if (error instanceof UserError && error.code === "NetworkError") {
      const cached = await findCachedImage(ctx.paths.images, name);
      if (cached) {
        ctx.ui.warn(
          `the ${name.vendor} mirror is unreachable; using the cached image verified at ${cached.verifiedAt}`,
        );
        return cached;
      }
    }
    throw error;
  }
  spinner.stop();
  // The same keys `cubic show` checks the checksum file's signature with.
  const { warning, ...keys } = await trustedKeysFor(ref, ctx);
  if (warning !== undefined) ctx.ui.warn(warning);
  let progress: ReturnType<Context["ui"]["progress"]> | undefined;
  try {
    return await ensureImage(ref, {
      imagesDir: ctx.paths.images,
      keys,
      onRetry: (info) => {
        progress?.stop();
        const reason = errorMessage(info.error);
        ctx.ui.warn(
          `download attempt ${info.attempt} of ${info.attempts} failed (${reason}); resuming in ${
            Math.round(info.delayMs / 1000)
          } s`,
        );
      },
      onDownload: (r) => {
        ctx.ui.info(`Downloading ${r.imageUrl}`);
        progress = ctx.ui.progress(formatImageName(name));
      },
      onProgress: (done, total, resumedFrom) => progress?.report(done, total, resumedFrom),
    });
  } finally {
    progress?.stop();
  }
}

/** Creates an instance: its own disk on top of the cached image, keys and the cloud-init seed. */
export async function createInstance(
  ctx: Context,
  name: string,
  options: CreateOptions,
): Promise<InstanceConfig> {
  validateName(name);
  const user = validateUser(options.user ?? "cubic");
  const paths = instancePaths(ctx.paths.machines, name);
  const alreadyExists = (cause?: unknown) =>
    new UserError(`Creating the instance '${name}' failed: it already exists`, {
      ...(cause === undefined ? {} : { cause }),
      code: "InstanceExists",
      hint: `Use it with \`cubic ssh ${name}\`, or pick another name`,
    });
  if (await exists(paths.dir)) throw alreadyExists();
  const twin = (await listInstanceNames(ctx.paths.machines)).find((n) =>
    n.toLowerCase() === name.toLowerCase()
  );
  if (twin !== undefined) {
    throw new UserError(
      `Creating the instance '${name}' failed: '${twin}' exists, and names are hostnames, in which case does not count`,
      { code: "InstanceExists", hint: `Use '${twin}', or pick another name` },
    );
  }
  const image = await obtainImage(ctx, options.image);
  const changed = await changedImage(image.path);
  if (changed !== undefined) {
    throw new UserError(`Creating the instance '${name}' failed: ${changed}`, {
      code: "CachedImageChanged",
      exitCode: ExitCode.verification,
      hint:
        `Something rewrote the cached image after it was verified; delete ${image.path} and its .json record, then run the command again to download it afresh`,
    });
  }
  const info = await imageInfo(image.path, ctx.env);
  const diskBytes = options.diskBytes ?? Math.max(DEFAULT_DISK_BYTES, info.virtualSize);
  if (diskBytes < info.virtualSize) {
    throw new UserError(
      `Creating the instance '${name}' failed: --disk is smaller than the image (${
        formatBytes(info.virtualSize)
      })`,
      {
        code: "DiskTooSmall",
        hint: `Use at least --disk ${Math.ceil(info.virtualSize / 1024 ** 3)}G`,
      },
    );
  }
  const hostMemoryBytes = Deno.systemMemoryInfo().total;
  const defaults = defaultResources(navigator.hardwareConcurrency, hostMemoryBytes);
  const cpus = options.cpus ?? defaults.cpus;
  const memoryMiB = options.memoryMiB ?? defaults.memoryMiB;
  for (
    const warning of resourceWarnings({ cpus, memoryMiB }, {
      cpus: navigator.hardwareConcurrency,
      memoryBytes: hostMemoryBytes,
    })
  ) {
    ctx.ui.warn(warning);
  }

  await Deno.mkdir(ctx.paths.machines, { recursive: true, mode: 0o700 });
  await sweepAbandonedCreates(ctx.paths.machines);
  // Build everything in a temporary sibling; only a complete instance gets the real name.
  const tmp = join(ctx.paths.machines, `.${name}.creating-${Deno.pid}`);
  await Deno.mkdir(tmp, { mode: 0o700 });
  await Deno.chmod(tmp, 0o700);
  // Ctrl-C must not leave a half-made instance behind either.
  const onInterrupt = () => {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } finally {
      Deno.exit(130);
    }
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    const inTmp = (p: string) => join(tmp, p.slice(paths.dir.length + 1));
    const clientKey = generateEd25519KeyPair(`cubic@${name}`);
    const hostKey = generateEd25519KeyPair(`root@${name}`);
    await writePrivateFile(inTmp(paths.sshKey), clientKey.privateKey);
    await writePrivateFile(`${inTmp(paths.sshKey)}.pub`, clientKey.publicKey + "\n");
    await writePrivateFile(inTmp(paths.hostKey), hostKey.privateKey);
    await writePrivateFile(`${inTmp(paths.hostKey)}.pub`, hostKey.publicKey + "\n");
    const instanceId = `cubic-${name}-${crypto.randomUUID().slice(0, 8)}`;
    const seed = { instanceId, hostname: name, user, authorizedKey: clientKey.publicKey, hostKey };
    const iso = buildIso9660([
      { name: "meta-data", data: new TextEncoder().encode(metaData(seed)) },
      { name: "user-data", data: new TextEncoder().encode(userData(seed)) },
    ], { volumeId: "cidata" });
    await writePrivateFile(inTmp(paths.seed), iso);
    await createOverlay(image.path, inTmp(paths.disk), { sizeBytes: diskBytes, env: ctx.env });
    await Deno.chmod(inTmp(paths.disk), 0o600);
    const config: InstanceConfig = {
      version: 1,
      name,
      image: `${image.vendor}:${image.names[0]}:${image.arch}`,
      baseImage: image.path,
      baseDigest: image.digest,
      arch: image.arch,
      user,
      cpus,
      memoryMiB,
      diskBytes,
      sshPort: freePort(),
      instanceId,
      hostPublicKey: hostKey.publicKey,
      isolate: options.isolate ?? false,
      createdAt: new Date().toISOString(),
    };
    await saveInstance(tmp, config);
    try {
      await Deno.rename(tmp, paths.dir);
    } catch (error) {
      // Another create of the same name finished first (rename fails with ENOTEMPTY).
      if (await exists(paths.dir)) throw alreadyExists(error);
      throw error;
    }
    return config;
  } catch (error) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}

/** Removes temporary directories of creates whose process died (e.g. kill -9). */
async function sweepAbandonedCreates(machines: string): Promise<void> {
  for await (const entry of Deno.readDir(machines)) {
    const m = /^\.[A-Za-z0-9-]+\.creating-(\d+)$/.exec(entry.name);
    if (!m || !entry.isDirectory) continue;
    if (Number(m[1]) !== Deno.pid && (await processCommandLine(Number(m[1]))) === undefined) {
      await Deno.remove(join(machines, entry.name), { recursive: true }).catch(() => {});
    }
  }
}

/** Options for {@linkcode startInstance}. */
export interface StartOptions {
  accel?: AccelMode;
  /** Wait until SSH key login works; default true. */
  wait?: boolean;
  timeoutMs?: number;
}

/** Starts an instance's QEMU (if not running) and, by default, waits until SSH login works. */
export async function startInstance(
  ctx: Context,
  name: string,
  options: StartOptions = {},
): Promise<InstanceConfig> {
  const paths = pathsFor(ctx.paths.machines, name);
  await loadInstance(ctx.paths.machines, name);
  let config: InstanceConfig;
  {
    using _lock = await lockInstance(paths);
    // Read under the lock: a start that held it may have just chosen new ports.
    config = await loadInstance(ctx.paths.machines, name);
    const pid = await runningPid(paths);
    let running = pid !== undefined;
    if (running) {
      // A QEMU left behind (e.g. its `cubic start` was killed during the KVM probe) may hold a
      // dead guest; waiting for SSH from it would never end.
      const health = await probeGuest(paths, config.monitorPort);
      if (!health.ok) {
        ctx.ui.warn(
          `${name}'s QEMU (pid ${pid}) is running but ${health.reason}; ending it and starting again`,
        );
        await forceStop(paths, health.monitorAnswers ? config.monitorPort : undefined);
        running = false;
      }
    }
    if (!running) config = await launch(ctx, paths, config, options.accel ?? "auto");
  }
  if (options.wait ?? true) await waitUntilReady(ctx, paths, config, options.timeoutMs ?? 300_000);
  return config;
}

async function launch(
  ctx: Context,
  paths: InstancePaths,
  config: InstanceConfig,
  mode: AccelMode,
): Promise<InstanceConfig> {
  await checkBaseImage(config);
  const binary = await findQemuProgram(qemuBinaryName(config.arch), ctx.env);
  const firmware = await findFirmware(config.arch, ctx.env);
  if (!(await exists(paths.firmwareVars))) {
    await Deno.copyFile(firmware.varsTemplate, paths.firmwareVars);
    await Deno.chmod(paths.firmwareVars, 0o600);
  }
  if (!(await exists(join(paths.tlsDir, "ca-cert.pem")))) {
    await writeTlsDir(
      paths.tlsDir,
      generateTlsMaterial({ commonName: `cubic-${config.name}`.slice(0, 48) }),
    );
  }
  // The console log holds this boot (the previous one stays in serial.log.1), so a timeout's
  // console tail never mixes two boots. QEMU creates its logs with the umask's mode; an existing
  // file keeps ours.
  await Deno.rename(paths.serialLog, `${paths.serialLog}.1`).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  for (const log of [paths.serialLog, paths.qemuLog]) {
    await Deno.writeTextFile(log, "", { append: true, mode: 0o600 });
    await Deno.chmod(log, 0o600);
  }
  if (portInUse(config.sshPort)) config.sshPort = freePort();
  config.monitorPort = freePort();
  config.consolePort = freePort();
  // Saved before QEMU exists: if this process dies mid-start (kill -9 during the KVM probe), the
  // next command can still reach the QEMU it left behind. The accelerator is not known yet.
  delete config.accel;
  await saveInstance(paths.dir, config);

  const kernel = kernelRelease();
  const first = firstAccelerator(mode, {
    kvmDevice: await kvmDeviceExists(),
    sameArch: config.arch === hostArch(),
    verdict: await readVerdict(ctx.paths.cache),
    kernel,
  });
  let accel: Accelerator = first.accel;
  ctx.ui.debug(
    `accelerator: trying ${accel} (--accel ${mode}${first.note ? `; ${first.note}` : ""})`,
  );
  let sandbox = true;
  const run = async (a: Accelerator) => {
    const args = qemuArgs({
      name: config.name,
      arch: config.arch,
      accel: a,
      cpus: config.cpus,
      memoryMiB: config.memoryMiB,
      firmwareCode: firmware.code,
      firmwareVars: paths.firmwareVars,
      disk: paths.disk,
      seed: paths.seed,
      sshPort: config.sshPort,
      monitorPort: config.monitorPort!,
      consolePort: config.consolePort!,
      tlsDir: paths.tlsDir,
      pidfile: paths.pidfile,
      serialLog: paths.serialLog,
      isolate: config.isolate,
      hostForwards: [],
      sandbox,
    });
    ctx.ui.debug(`starting ${binary} ${args.join(" ")}`);
    return await launchQemu(binary, args, { logFile: paths.qemuLog });
  };

  let result = await run(accel);
  if (!result.success && /seccomp|sandbox/i.test(result.stderr)) {
    // Some QEMU builds lack seccomp support; run without the sandbox rather than not at all.
    ctx.ui.warn(
      `QEMU cannot sandbox itself with seccomp here (${
        firstLine(result.stderr)
      }); starting without -sandbox`,
    );
    sandbox = false;
    result = await run(accel);
  }
  if (!result.success && accel === "kvm" && mode === "auto") {
    const reason = firstLine(result.stderr) || `QEMU exited with status ${result.code}`;
    if (/kvm|msr|vmx|svm/i.test(result.stderr)) {
      await rememberKvmBroken(ctx.paths.cache, reason, kernel);
    }
    ctx.ui.warn(
      `KVM could not start this VM (${reason}); falling back to software emulation (TCG), which is much slower`,
    );
    accel = "tcg";
    result = await run(accel);
  }
  if (!result.success) {
    throw new UserError(
      `Starting QEMU for '${config.name}' failed: ${
        firstLine(result.stderr) || `exit status ${result.code}`
      }`,
      {
        code: "QemuFailed",
        hint: `QEMU's messages are in ${paths.qemuLog}`,
      },
    );
  }
  if (accel === "kvm") {
    const dead = await kvmGuestDied(paths, config.monitorPort!);
    if (dead) {
      if (mode === "on") {
        await forceStop(paths, config.monitorPort!);
        throw new UserError(
          `Starting '${config.name}' with KVM failed: the guest stopped at once (${dead})`,
          {
            code: "KvmBroken",
            hint: "This host's KVM cannot run the guest; use --accel auto or --accel off",
          },
        );
      }
      await forceStop(paths, config.monitorPort!);
      await rememberKvmBroken(ctx.paths.cache, `guest stopped with QMP status '${dead}'`, kernel);
      ctx.ui.warn(
        `KVM is present but cannot run guests on this host (QMP status '${dead}'); falling back to software emulation (TCG), which is much slower. Cubic remembers this for this host.`,
      );
      accel = "tcg";
      result = await run(accel);
      if (!result.success) {
        throw new UserError(
          `Starting QEMU for '${config.name}' failed: ${firstLine(result.stderr)}`,
          {
            code: "QemuFailed",
            hint: `QEMU's messages are in ${paths.qemuLog}`,
          },
        );
      }
    }
  } else if (first.note && mode === "auto") {
    ctx.ui.info(`Using software emulation (TCG): ${first.note}`);
  }
  config.accel = accel;
  await saveInstance(paths.dir, config);
  // For OpenSSH users: `ssh -o UserKnownHostsFile=<this>` checks the same pinned host key.
  const [type, key] = config.hostPublicKey.split(" ");
  await writePrivateFile(paths.knownHosts, `[127.0.0.1]:${config.sshPort} ${type} ${key}\n`);
  return config;
}

/** Watches a fresh KVM guest for a few seconds; returns the fatal run state, if any. */
async function kvmGuestDied(
  paths: InstancePaths,
  monitorPort: number,
): Promise<string | undefined> {
  const tls = await readClientTls(paths.tlsDir);
  const qmp = await QmpClient.connect(monitorPort, tls, { timeoutMs: 10_000 });
  try {
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline) {
      const status = await qmp.execute<{ status: string }>("query-status");
      if (isDeadRunState(status.status)) return status.status;
      await new Promise((r) => setTimeout(r, 250));
    }
    return undefined;
  } finally {
    qmp.close();
  }
}

/** What {@linkcode probeGuest} found out about a running QEMU. */
export type GuestHealth =
  | { ok: true; status: string }
  | { ok: false; reason: string; monitorAnswers: boolean };

/**
 * Asks a running QEMU's monitor how its guest is (QMP `query-status`, within a short budget).
 * Not ok: the guest is dead (internal-error, shutdown, guest-panicked, io-error) or the monitor
 * does not answer. `prelaunch` and `paused` are alive: someone may continue them.
 */
export async function probeGuest(
  paths: InstancePaths,
  monitorPort: number | undefined,
  options: { timeoutMs?: number } = {},
): Promise<GuestHealth> {
  if (monitorPort === undefined) {
    return { ok: false, reason: "its monitor port is not recorded", monitorAnswers: false };
  }
  const timeoutMs = options.timeoutMs ?? 5_000;
  let qmp: QmpClient;
  try {
    qmp = await QmpClient.connect(monitorPort, await readClientTls(paths.tlsDir), { timeoutMs });
  } catch (error) {
    return {
      ok: false,
      reason: `its monitor does not answer (${(error as Error).message})`,
      monitorAnswers: false,
    };
  }
  try {
    const { status } = await qmp.execute<{ status: string }>("query-status", undefined, {
      timeoutMs,
    });
    if (isDeadRunState(status)) {
      return {
        ok: false,
        reason: `its guest is dead (QMP status '${status}')`,
        monitorAnswers: true,
      };
    }
    return { ok: true, status };
  } catch (error) {
    return {
      ok: false,
      reason: `its monitor does not answer (${(error as Error).message})`,
      monitorAnswers: false,
    };
  } finally {
    qmp.close();
  }
}

/**
 * Ends QEMU now: QMP `quit` when a monitor port is given and answers, else SIGTERM (QEMU exits
 * cleanly on it); SIGKILL if it lingers. Bounded: about 10 s at worst.
 */
async function forceStop(paths: InstancePaths, monitorPort: number | undefined): Promise<void> {
  const pid = await runningPid(paths);
  if (pid === undefined) return;
  let quitSent = false;
  if (monitorPort !== undefined) {
    try {
      const qmp = await QmpClient.connect(monitorPort, await readClientTls(paths.tlsDir), {
        timeoutMs: 3_000,
      });
      await qmp.quit({ timeoutMs: 3_000 });
      quitSent = true;
    } catch {
      // fall through to the signals
    }
  }
  if (!quitSent) await signalProcess(pid, "SIGTERM");
  if (!(await waitForQemuExit(paths, pid, quitSent ? 5_000 : 2_000))) {
    await signalProcess(pid, "SIGKILL");
    await waitForQemuExit(paths, pid, 5_000);
  }
  await Deno.remove(paths.pidfile).catch(() => {});
}

/**
 * Waits until the instance's QEMU `pid` is gone; false on timeout. An exited QEMU that nobody
 * reaped yet (a zombie: no command line) counts as gone.
 */
async function waitForQemuExit(
  paths: InstancePaths,
  pid: number,
  timeoutMs: number,
): Promise<boolean> {
  const gone = async () => !(await processCommandLine(pid))?.join(" ").includes(paths.pidfile);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await gone()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return await gone();
}

/**
 * Fails clearly when the cached image the instance's disk is an overlay of was deleted, or was
 * changed since Cubic verified it so that QEMU would open other host files through it.
 */
async function checkBaseImage(config: InstanceConfig): Promise<void> {
  const problem = await baseImageProblem(config);
  if (problem === undefined) return;
  if (problem.kind === "changed") {
    throw new UserError(`Starting '${config.name}' failed: ${problem.reason}`, {
      code: "BaseImageChanged",
      exitCode: ExitCode.verification,
      hint:
        `Something rewrote the cached image after it was verified; do not boot it. Delete ${config.baseImage} and the instance (\`cubic delete --yes ${config.name}\`), then create it again`,
    });
  }
  if (problem.kind === "unusable") {
    throw new UserError(`Starting '${config.name}' failed: ${problem.reason}`, {
      code: "BaseImageMissing",
      hint: `Check the file, or delete the instance with \`cubic delete --yes ${config.name}\``,
    });
  }
  throw new UserError(
    `Starting '${config.name}' failed: its base image ${config.baseImage} is gone from the image cache (the instance's disk holds only the changes made on top of it)`,
    {
      code: "BaseImageMissing",
      hint:
        `\`cubic pull ${config.image}\` restores it only if the vendor still publishes the same build: \`cubic show ${config.image}\` must show the checksum ${config.baseDigest}. If it shows another, that build is gone and '${config.name}' cannot boot again; delete it with \`cubic delete --yes ${config.name}\``,
    },
  );
}

/**
 * Why a verified image in the cache must not be booted any more (its header now names other host
 * files, or is not a self-contained qcow2), or `undefined` when its header is still fine.
 */
async function changedImage(path: string): Promise<string | undefined> {
  const problem = qcow2Problem(await inspectQcow2Header(path));
  return problem && `the cached image ${path} changed after it was verified: ${problem.detail}`;
}

/**
 * Why an instance's base image cannot be used — `gone` (deleted), `unusable` (not a readable
 * file) or `changed` (see {@linkcode changedImage}) — or `undefined` when it is fine.
 */
async function baseImageProblem(
  config: InstanceConfig,
): Promise<{ kind: "gone" | "unusable" | "changed"; reason: string } | undefined> {
  try {
    if (!(await Deno.stat(config.baseImage)).isFile) {
      return { kind: "unusable", reason: `its base image ${config.baseImage} is not a file` };
    }
    const changed = await changedImage(config.baseImage);
    return changed === undefined ? undefined : { kind: "changed", reason: changed };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return { kind: "gone", reason: `its base image ${config.baseImage} is missing` };
    }
    return {
      kind: "unusable",
      reason: `its base image ${config.baseImage} cannot be read (${errorMessage(error)})`,
    };
  }
}

/** The SSH target of an instance. */
export async function sshTarget(
  ctx: Context,
  config: InstanceConfig,
  user?: string,
): Promise<SshTarget> {
  const paths = pathsFor(ctx.paths.machines, config.name);
  return {
    host: "127.0.0.1",
    port: config.sshPort,
    user: user ?? config.user,
    privateKey: await Deno.readTextFile(paths.sshKey),
    hostPublicKey: config.hostPublicKey,
  };
}

async function waitUntilReady(
  ctx: Context,
  paths: InstancePaths,
  config: InstanceConfig,
  timeoutMs: number,
): Promise<void> {
  const target = await sshTarget(ctx, config);
  const started = Date.now();
  const spinner = ctx.ui.spinner(`Waiting for ${config.name} to accept SSH logins`);
  const abort = new AbortController();
  // A QEMU that exits, or a guest that stops dead (KVM internal error, panic, power-off), should
  // fail the wait at once, not after the timeout. The monitor serves one client at a time, so it
  // is asked only every few seconds and a busy monitor is not taken as a verdict.
  let watching = true;
  let wake = () => {};
  const watcher = (async () => {
    for (let tick = 1; watching && !abort.signal.aborted; tick++) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (!watching) break;
      if (await runningPid(paths) === undefined) {
        abort.abort(new Error("QEMU exited"));
      } else if (tick % 5 === 0) {
        const health = await probeGuest(paths, config.monitorPort, { timeoutMs: 2_000 });
        if (!health.ok && health.monitorAnswers) abort.abort(new Error(health.reason));
      }
    }
  })();
  try {
    await waitForSsh(target, {
      timeoutMs,
      signal: abort.signal,
      onAttempt: (n) =>
        spinner.update(`Waiting for ${config.name} to accept SSH logins (attempt ${n})`),
    });
  } catch (error) {
    const tail = await tailOf(paths.serialLog, 15);
    if (abort.signal.aborted) {
      const reason = (abort.signal.reason as Error).message;
      throw new UserError(
        reason === "QEMU exited"
          ? `Starting '${config.name}' failed: QEMU exited while the guest was booting`
          : `Starting '${config.name}' failed: ${reason} while it was booting`,
        {
          code: "QemuExited",
          cause: error,
          hint: `See ${paths.qemuLog}. Last console lines:\n${tail}`,
        },
      );
    }
    if (error instanceof UserError && error.code === "StartTimeout") {
      throw new UserError(
        `Waiting for '${config.name}' failed: no SSH login after ${
          Math.round((Date.now() - started) / 1000)
        } s (${error.message})`,
        {
          code: "StartTimeout",
          exitCode: ExitCode.timeout,
          cause: error,
          hint:
            `Raise --timeout, or look at the console log ${paths.serialLog}. Last console lines:\n${tail}`,
        },
      );
    }
    throw error;
  } finally {
    watching = false;
    wake();
    await watcher;
    spinner.stop();
  }
}

/** Options for {@linkcode stopInstance}. */
export interface StopOptions {
  /** Time allowed for a clean ACPI shutdown before QEMU is ended; default 60 s. */
  timeoutMs?: number;
  /** Skip the clean shutdown. */
  force?: boolean;
}

/**
 * Stops an instance: ACPI power-down over QMP, then force. The clean part, connecting to the
 * monitor included, ends within `timeoutMs` even when QEMU is frozen.
 */
export async function stopInstance(
  ctx: Context,
  name: string,
  options: StopOptions = {},
): Promise<"stopped" | "forced" | "not-running"> {
  const paths = pathsFor(ctx.paths.machines, name);
  await loadInstance(ctx.paths.machines, name);
  using _lock = await lockInstance(paths);
  const config = await loadInstance(ctx.paths.machines, name);
  const pid = await runningPid(paths);
  if (pid === undefined) return "not-running";
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  // Whether `quit` over QMP is worth a try when forcing: not after the monitor did not answer.
  let tryMonitor = true;
  if (!options.force && config.monitorPort !== undefined) {
    const spinner = ctx.ui.spinner(`Stopping ${name}`);
    try {
      tryMonitor = false;
      const qmp = await QmpClient.connect(config.monitorPort, await readClientTls(paths.tlsDir), {
        timeoutMs: Math.min(10_000, left()),
      });
      tryMonitor = true;
      try {
        await qmp.execute("system_powerdown", undefined, { timeoutMs: Math.min(10_000, left()) });
      } finally {
        qmp.close();
      }
      if (await waitForQemuExit(paths, pid, left())) {
        await Deno.remove(paths.pidfile).catch(() => {});
        return "stopped";
      }
      ctx.ui.warn(
        `${name} did not power off within ${Math.round(timeoutMs / 1000)} s; ending QEMU`,
      );
    } catch (error) {
      ctx.ui.warn(`clean shutdown of ${name} failed (${(error as Error).message}); ending QEMU`);
    } finally {
      spinner.stop();
    }
  }
  await forceStop(paths, tryMonitor ? config.monitorPort : undefined);
  return "forced";
}

/** Deletes an instance (stopping it first), even one whose `instance.json` is broken. */
export async function deleteInstance(ctx: Context, name: string): Promise<void> {
  const paths = pathsFor(ctx.paths.machines, name);
  let monitorPort: number | undefined;
  try {
    monitorPort = (await loadInstance(ctx.paths.machines, name)).monitorPort;
  } catch (error) {
    if (!(error instanceof BrokenInstance)) throw error;
  }
  using _lock = await lockInstance(paths);
  await forceStop(paths, monitorPort);
  await Deno.remove(paths.dir, { recursive: true });
}

/** One row of `cubic instances`; every key is always present (null when not known). */
export interface InstanceStatus {
  name: string;
  image: string | null;
  /** `broken`: its `instance.json` or its base image cannot be used; `reason` says why. */
  state: "running" | "stopped" | "broken";
  cpus: number | null;
  memoryMiB: number | null;
  diskBytes: number | null;
  diskUsedBytes: number | null;
  sshPort: number | null;
  /** The accelerator of a running instance. */
  accel: "kvm" | "tcg" | null;
  /** QEMU's process id while it runs. */
  pid: number | null;
  reason: string | null;
}

/** Status of every instance, broken ones included. */
export async function listInstances(ctx: Context): Promise<InstanceStatus[]> {
  const out: InstanceStatus[] = [];
  for (const name of await listInstanceNames(ctx.paths.machines)) {
    const paths = pathsFor(ctx.paths.machines, name);
    const pid = (await runningPid(paths)) ?? null;
    const used = (await diskUsedBytes(paths.disk)) ?? null;
    let config: InstanceConfig;
    try {
      config = await loadInstance(ctx.paths.machines, name);
    } catch (error) {
      if (error instanceof UserError && error.code === "UnknownInstance") continue; // just deleted
      if (!(error instanceof BrokenInstance)) throw error;
      out.push({
        name,
        image: null,
        state: "broken",
        cpus: null,
        memoryMiB: null,
        diskBytes: null,
        diskUsedBytes: used,
        sshPort: null,
        accel: null,
        pid,
        reason: error.problem,
      });
      continue;
    }
    // A deleted base image is data loss already done: say so here, not at the next boot.
    const baseProblem = await missingBaseImage(config);
    out.push({
      name,
      image: config.image,
      state: baseProblem !== undefined ? "broken" : pid === null ? "stopped" : "running",
      cpus: config.cpus,
      memoryMiB: config.memoryMiB,
      diskBytes: config.diskBytes,
      diskUsedBytes: used,
      sshPort: config.sshPort,
      accel: pid === null ? null : config.accel ?? null,
      pid,
      reason: baseProblem ?? null,
    });
  }
  return out;
}

/** Why the instance's base image cannot be used, or `undefined` when it is there. */
async function missingBaseImage(config: InstanceConfig): Promise<string | undefined> {
  const problem = await baseImageProblem(config);
  if (problem === undefined || problem.kind !== "gone") return problem?.reason;
  return `its base image ${config.baseImage} is missing from the image cache (\`cubic pull ${config.image}\` restores it only while the vendor publishes the same build)`;
}

/**
 * Runs `fn` with the instance's SSH target once the guest accepts logins. A running instance is
 * tried at once (one SSH handshake instead of two); a stopped one is started and waited for.
 */
export async function withReadyGuest<T>(
  ctx: Context,
  name: string,
  options: StartOptions & { user?: string | undefined },
  fn: (target: SshTarget) => Promise<T>,
): Promise<T> {
  const config = await loadInstance(ctx.paths.machines, name);
  if (await runningPid(pathsFor(ctx.paths.machines, name)) !== undefined) {
    try {
      return await fn(await sshTarget(ctx, config, options.user));
    } catch (error) {
      // Not up yet (still booting, or sshd before cloud-init added our key): wait, then retry.
      // Both errors are raised before the remote command runs, so retrying cannot run it twice.
      if (!(error instanceof UserError && ["SshUnreachable", "SshRefused"].includes(error.code))) {
        throw error;
      }
    }
  }
  const ready = await ensureReady(ctx, name, options);
  try {
    return await fn(await sshTarget(ctx, ready, options.user));
  } catch (error) {
    const user = options.user;
    if (
      !(error instanceof UserError && error.code === "SshRefused") || user === undefined ||
      user === ready.user
    ) {
      throw error;
    }
    throw new UserError(error.message, {
      cause: error,
      code: error.code,
      hint: `Cubic set '${name}' up for the user ${ready.user} (with passwordless sudo): ` +
        `\`cubic exec ${name} -- …\`; ${user} can log in only once its ~/.ssh/authorized_keys ` +
        "in the guest holds the instance's key",
    });
  }
}

/** Makes sure the instance runs and accepts SSH; returns its config. */
export async function ensureReady(
  ctx: Context,
  name: string,
  options: StartOptions = {},
): Promise<InstanceConfig> {
  return await startInstance(ctx, name, { ...options, wait: true });
}

function firstLine(text: string): string {
  return text.split("\n").map((l) => l.trim()).find((l) => l !== "") ?? "";
}

/** How much of the console log's end {@linkcode tailOf} reads. */
const CONSOLE_TAIL_BYTES = 64 * 1024;

/** The last `lines` readable lines of a console log (see {@linkcode consoleTail}). */
async function tailOf(path: string, lines: number): Promise<string> {
  let text: string;
  try {
    using file = await Deno.open(path, { read: true });
    const size = (await file.stat()).size;
    const start = Math.max(0, size - CONSOLE_TAIL_BYTES);
    await file.seek(start, Deno.SeekMode.Start);
    const bytes = new Uint8Array(size - start);
    let filled = 0;
    while (filled < bytes.length) {
      const n = await file.read(bytes.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    text = new TextDecoder().decode(bytes.subarray(0, filled));
  } catch {
    return "(no console log)";
  }
  return consoleTail(text, lines) || "(the console printed nothing yet)";
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Validates a name without touching disk (for commands that take names). */
export { validateName };
