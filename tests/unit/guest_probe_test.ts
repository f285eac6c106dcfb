/**
 * `probeGuest` against a real QEMU without disks (no guest boots, ~0.1 s each): how `start`
 * tells a QEMU worth waiting for from one left behind with a dead guest or a mute monitor.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { generateTlsMaterial, readClientTls, writeTlsDir } from "../../src/ca.ts";
import { probeGuest } from "../../src/instance.ts";
import { instancePaths } from "../../src/paths.ts";
import { QmpClient } from "../../src/qmp.ts";
import { freePort } from "../../src/store.ts";

const tls = generateTlsMaterial({ commonName: "probe-test" });

/** Runs a disk-less QEMU (paused with -S) whose monitor needs the instance's certificates. */
async function withQemu(
  fn: (ctx: { paths: ReturnType<typeof instancePaths>; port: number }) => Promise<void>,
): Promise<void> {
  const machines = await Deno.makeTempDir({ prefix: "cubic-probe-test-" });
  const paths = instancePaths(machines, "probe");
  await Deno.mkdir(paths.dir);
  await writeTlsDir(paths.tlsDir, tls);
  const port = freePort();
  const child = new Deno.Command("qemu-system-x86_64", {
    args: [
      ...["-machine", "q35", "-accel", "tcg", "-nodefaults", "-display", "none", "-S"],
      ...["-m", "64"],
      // A reset request becomes a shutdown, and a shutdown pauses QEMU in the `shutdown` state
      // instead of ending it: how a guest that powered off looks with -no-shutdown.
      ...["-action", "reboot=shutdown,shutdown=pause"],
      ...["-object", `tls-creds-x509,id=tls0,dir=${paths.tlsDir},endpoint=server,verify-peer=on`],
      "-chardev",
      `socket,id=qmp,host=127.0.0.1,port=${port},server=on,wait=off,tls-creds=tls0`,
      ...["-mon", "chardev=qmp,mode=control"],
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitForListener(port);
    await fn({ paths, port });
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
    await Deno.remove(machines, { recursive: true });
  }
}

async function waitForListener(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function qmp(dir: string, port: number, command: string): Promise<void> {
  const client = await QmpClient.connect(port, await readClientTls(dir), { timeoutMs: 5_000 });
  try {
    await client.execute(command);
  } finally {
    client.close();
  }
}

Deno.test("a paused (prelaunch or stopped) guest counts as alive, a running one too", async () => {
  await withQemu(async ({ paths, port }) => {
    assertEquals(await probeGuest(paths, port), { ok: true, status: "prelaunch" });
    await qmp(paths.tlsDir, port, "cont");
    assertEquals(await probeGuest(paths, port), { ok: true, status: "running" });
    await qmp(paths.tlsDir, port, "stop");
    assertEquals(await probeGuest(paths, port), { ok: true, status: "paused" });
  });
});

Deno.test("a guest that shut down while QEMU stays is dead, and the monitor still answers", async () => {
  await withQemu(async ({ paths, port }) => {
    await qmp(paths.tlsDir, port, "cont");
    await qmp(paths.tlsDir, port, "system_reset");
    let health = await probeGuest(paths, port);
    for (let i = 0; i < 20 && health.ok; i++) {
      await new Promise((r) => setTimeout(r, 100)); // the reset is handled by QEMU's main loop
      health = await probeGuest(paths, port);
    }
    assertEquals(health, {
      ok: false,
      reason: "its guest is dead (QMP status 'shutdown')",
      monitorAnswers: true,
    });
  });
});

Deno.test("a monitor that is not recorded, refuses connections or never answers is not ok", async () => {
  const machines = await Deno.makeTempDir({ prefix: "cubic-probe-test-" });
  const paths = instancePaths(machines, "mute");
  await Deno.mkdir(paths.dir);
  await writeTlsDir(paths.tlsDir, tls);
  // Accepts TCP (the kernel does) but never speaks TLS: a frozen QEMU.
  const frozen = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const unrecorded = await probeGuest(paths, undefined);
    assertEquals(unrecorded.ok, false);
    assert(!unrecorded.ok && !unrecorded.monitorAnswers);
    assert(!unrecorded.ok && unrecorded.reason.includes("not recorded"));

    const refused = await probeGuest(paths, freePort());
    assert(!refused.ok && !refused.monitorAnswers && refused.reason.includes("does not answer"));

    const started = Date.now();
    const mute = await probeGuest(paths, frozen.addr.port, { timeoutMs: 500 });
    assert(!mute.ok && !mute.monitorAnswers, JSON.stringify(mute));
    assert(Date.now() - started < 3_000, "the probe must keep to its budget");
  } finally {
    frozen.close();
    await Deno.remove(machines, { recursive: true });
  }
});
