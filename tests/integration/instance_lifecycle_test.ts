/**
 * Instance lifecycle edge cases through the real CLI, without booting a guest: broken
 * instance.json files, option checks before any work, racing creates, a deleted base image, a
 * QEMU left behind by an interrupted start, and a frozen QEMU. Where a QEMU must be "running",
 * a stand-in process plays it (its command line names the instance's pidfile, as QEMU's does).
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { type CubicHome, listDir, makeCubicHome, runCubic } from "../support/cli.ts";
import { layoutDebianMirror } from "../support/debian_mirror.ts";
import { startMirrorServer } from "../support/mirror_server.ts";

/** A home whose Debian mirror serves a small real qcow2; everything is removed afterwards. */
async function withMirrorHome(
  fn: (home: CubicHome, scratch: string) => Promise<void>,
  extraEnv: Record<string, string> = {},
): Promise<void> {
  const scratch = await Deno.makeTempDir({ prefix: "cubic-lifecycle-" });
  const image = join(scratch, "source.qcow2");
  const out = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", "qcow2", image, "16M"],
  }).output();
  assert(out.success);
  await layoutDebianMirror(image, join(scratch, "mirror"));
  const server = await startMirrorServer(join(scratch, "mirror"));
  const home = await makeCubicHome({
    CUBIC_MIRROR_DEBIAN: `${server.url}/images/cloud/`,
    ...extraEnv,
  });
  try {
    await fn(home, scratch);
  } finally {
    await server.close();
    await Deno.remove(home.root, { recursive: true });
    await Deno.remove(scratch, { recursive: true });
  }
}

/** Starts a process that looks like the instance's QEMU to Cubic; returns its pid. */
async function fakeRunningQemu(instanceDir: string): Promise<number> {
  const pidfile = join(instanceDir, "qemu.pid");
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", `tail -f /dev/null '${pidfile}' </dev/null >/dev/null 2>&1 & echo $!`],
    stdout: "piped",
  });
  const pid = Number(new TextDecoder().decode((await child.output()).stdout).trim());
  await Deno.writeTextFile(pidfile, `${pid}\n`);
  return pid;
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie has ended
  } catch {
    return false;
  }
}

function kill(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/**
 * A stand-in for qemu-system-x86_64: keeps a copy of instance.json as it is when QEMU is
 * launched, and leaves behind a process that looks like this instance's QEMU but has no monitor.
 */
async function fakeQemuDir(scratch: string): Promise<{ dir: string; launches: string }> {
  const dir = join(scratch, "fake-qemu");
  const launches = join(scratch, "launches");
  await Deno.mkdir(dir);
  await Deno.mkdir(launches);
  const script = join(dir, "qemu-system-x86_64");
  await Deno.writeTextFile(
    script,
    `#!/bin/sh
pidfile=
prev=
for arg in "$@"; do
  [ "$prev" = "-pidfile" ] && pidfile=$arg
  prev=$arg
done
n=$(ls '${launches}' | wc -l)
cp "$(dirname "$pidfile")/instance.json" '${launches}'/launch-$n.json
tail -f /dev/null "$pidfile" </dev/null >/dev/null 2>&1 &
echo $! > "$pidfile"
`,
  );
  await Deno.chmod(script, 0o755);
  return { dir, launches };
}

async function firmwareFiles(scratch: string): Promise<Record<string, string>> {
  const code = join(scratch, "code.fd");
  const vars = join(scratch, "vars.fd");
  await Deno.writeFile(code, new Uint8Array(4096));
  await Deno.writeFile(vars, new Uint8Array(4096));
  return { CUBIC_FIRMWARE_CODE: code, CUBIC_FIRMWARE_VARS: vars };
}

async function readPid(home: CubicHome, name: string): Promise<number> {
  return Number((await Deno.readTextFile(join(home.machines, name, "qemu.pid"))).trim());
}

Deno.test("a corrupt instance.json is listed as broken, stop --all carries on past it, and delete --yes removes it", async () => {
  await withMirrorHome(async (home) => {
    const cubic = (...args: string[]) => runCubic(args, { env: home.env });
    assertEquals((await cubic("create", "good", "-i", "debian:12")).code, 0);
    for (const [name, text] of [["bad", "{bad"], ["empty", "{}"]]) {
      await Deno.mkdir(join(home.machines, name!), { mode: 0o700 });
      await Deno.writeTextFile(join(home.machines, name!, "instance.json"), text!);
    }
    // The broken instance's QEMU still runs: delete must end it too.
    const qemu = await fakeRunningQemu(join(home.machines, "bad"));
    try {
      const table = await cubic("instances");
      assertEquals(table.code, 0, table.stderr);
      assertMatch(table.stdout, /^bad\s+-\s+broken\s/m);
      assertMatch(table.stdout, /^empty\s+-\s+broken\s/m);
      assertMatch(table.stdout, /^good\s+debian:12:amd64\s+stopped\s/m);
      assertMatch(table.stderr, /bad is broken: instance\.json is not valid JSON/);
      assertMatch(table.stderr, /empty is broken: instance\.json has no 'version'/);

      const json = await cubic("instances", "--json");
      assertEquals(json.code, 0, json.stderr);
      const rows = JSON.parse(json.stdout);
      assertEquals(rows.map((r: { name: string; state: string }) => [r.name, r.state]), [
        ["bad", "broken"],
        ["empty", "broken"],
        ["good", "stopped"],
      ]);
      assertEquals(rows[0].reason, "instance.json is not valid JSON");
      assertEquals(rows[0].pid, qemu);
      assertEquals([rows[2].accel, rows[2].pid, rows[2].reason], [null, null, null]);

      const shown = await cubic("show", "empty");
      assertEquals(shown.code, 1);
      assertMatch(
        shown.stderr,
        /^error: Reading the instance 'empty' failed: .* has no 'version'$/m,
      );
      assertMatch(shown.stderr, /^hint: .*`cubic delete --yes empty`/m);
      assert(!shown.stderr.includes("TypeError"), shown.stderr);

      const stopAll = await cubic("stop", "--all");
      assertEquals(stopAll.code, 1, stopAll.stderr);
      assertMatch(stopAll.stderr, /^good is not running$/m);
      assertMatch(stopAll.stderr, /^warning: Reading the instance 'bad' failed/m);
      assertMatch(stopAll.stderr, /^error: Stopping 2 of 3 instances failed: bad, empty$/m);

      const deleted = await cubic("delete", "--yes", "bad", "empty");
      assertEquals(deleted.code, 0, deleted.stderr);
      assertEquals(await listDir(home.machines), ["good"]);
      assert(!alive(qemu), "the broken instance's QEMU must be ended");
      assertEquals((await cubic("stop", "--all")).code, 0);
    } finally {
      kill(qemu);
    }
  });
});

Deno.test("invalid option values are usage errors (exit 2) found before anything is created", async () => {
  const home = await makeCubicHome();
  try {
    const cases: [string[], RegExp][] = [
      [["run", "x", "-i", "debian:12", "--timeout", "abc"], /--timeout 'abc'/],
      [["run", "x", "-i", "debian:12", "--accel", "bogus"], /--accel 'bogus'/],
      [["run", "x", "-i", "debian:12", "--cpus", "0"], /--cpus '0'/],
      [["run", "x", "-i", "debian:12", "--user", "Root"], /guest user/],
      [["create", "x", "-i", "debian:12", "--cpus", "1024"], /from 1 to 255/],
      [["create", "x", "-i", "debian:12", "--cpus", "256"], /from 1 to 255/],
      [["create", "x", "-i", "debian:12", "--memory", "10"], /--memory '10'/],
      [["create", "x", "-i", "debian:12", "--disk", "big"], /--disk 'big'/],
      [["start", "x", "--timeout", "abc"], /--timeout 'abc'/],
      [["exec", "x", "--accel", "bogus", "--", "true"], /--accel 'bogus'/],
      [["stop"], /no instance was named/],
      [["stop", "x", "--timeout", "abc"], /--timeout 'abc'/],
      [["run", "../x", "-i", "debian:12"], /'\.\.\/x' as an instance name failed/],
      [["create", "a".repeat(64), "-i", "debian:12"], /as an instance name failed/],
      [["exec", "under_score", "--", "true"], /'under_score' as an instance name failed/],
      [["delete", "--yes", "x.y"], /'x\.y' as an instance name failed/],
      [["create", "x", "-i", "debian:12", "--user", "nobody"], /'nobody' .* a system account/],
      [["run", "x", "-i", "debian:12", "-u", "www-data"], /'www-data' .* a system account/],
      [["exec", "x", "uname", "-a"], /unknown option '-a'\nhint: put the guest command after --/],
      [["pull"], /missing required argument 'images'\nhint: see `cubic pull --help`/],
      [["exec", "@x", "--", "true"], /expected \[user@\]instance/],
    ];
    for (const [args, message] of cases) {
      const r = await runCubic(args, { env: home.env });
      assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assertMatch(r.stderr, message, args.join(" "));
      assertMatch(r.stderr, /^hint: /m, args.join(" "));
    }
    // A user in run's name would be dropped: it is refused like any other invalid name.
    const at = await runCubic(["run", "bob@who", "-i", "debian:12"], { env: home.env });
    assertEquals(at.code, 2, at.stderr);
    assertMatch(at.stderr, /^error: Using 'bob@who' as a new instance name failed: .*--user/m);
    assertMatch(at.stderr, /^hint: cubic run who --user bob/m);
    assertEquals(await listDir(home.machines), [], "nothing may be created");
    assertEquals(await listDir(home.images), [], "nothing may be downloaded");
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("create warns, but succeeds, when vCPUs or memory exceed what the host has", async () => {
  await withMirrorHome(async (home) => {
    const cpus = navigator.hardwareConcurrency + 1;
    const memoryG = Math.ceil(Deno.systemMemoryInfo().total / 1024 ** 3) + 1;
    const r = await runCubic(
      ["create", "big", "-i", "debian:12", "--cpus", String(cpus), "--memory", `${memoryG}G`],
      { env: home.env },
    );
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stderr, new RegExp(`^warning: ${cpus} vCPUs are more than this host's`, "m"));
    assertMatch(r.stderr, /^warning: .* of guest memory is more than this host's .* of RAM/m);
    const config = JSON.parse(await Deno.readTextFile(join(home.machines, "big", "instance.json")));
    assertEquals([config.cpus, config.memoryMiB], [cpus, memoryG * 1024]);
  });
});

Deno.test("parallel creates of one name: one wins, the others fail with InstanceExists and leave nothing", async () => {
  await withMirrorHome(async (home) => {
    const results = await Promise.all(
      [1, 2, 3].map(() => runCubic(["create", "race1", "-i", "debian:12"], { env: home.env })),
    );
    assertEquals(results.map((r) => r.code).sort(), [0, 1, 1], results.map((r) => r.stderr).join());
    for (const r of results.filter((r) => r.code !== 0)) {
      assertMatch(r.stderr, /^error: Creating the instance 'race1' failed: it already exists$/m);
      assert(!r.stderr.includes("unexpected failure"), r.stderr);
    }
    assertEquals(await listDir(home.machines), ["race1"]);
  });
});

Deno.test("a name that differs from an existing instance's only in case is refused: hostnames ignore case", async () => {
  await withMirrorHome(async (home) => {
    assertEquals(
      (await runCubic(["create", "Web1", "-i", "debian:12"], { env: home.env })).code,
      0,
    );
    const r = await runCubic(["create", "web1", "-i", "debian:12"], { env: home.env });
    assertEquals(r.code, 1, r.stderr);
    assertMatch(r.stderr, /^error: Creating the instance 'web1' failed: 'Web1' exists, /m);
    assertMatch(r.stderr, /^hint: Use 'Web1', or pick another name$/m);
    assertEquals(await listDir(home.machines), ["Web1"]);
  });
});

Deno.test("a cached image rewritten after verification to name a host file is refused by create, start and instances", async () => {
  await withMirrorHome(async (home, scratch) => {
    assertEquals(
      (await runCubic(["create", "before", "-i", "debian:12"], { env: home.env })).code,
      0,
    );
    const config = JSON.parse(
      await Deno.readTextFile(join(home.machines, "before", "instance.json")),
    );
    const evil = join(scratch, "evil.qcow2");
    const made = await new Deno.Command("qemu-img", {
      args: ["create", "-q", "-u", "-f", "qcow2", "-F", "raw", "-b", "/etc/shadow", evil, "16M"],
    }).output();
    assert(made.success);
    await Deno.copyFile(evil, config.baseImage);

    const create = await runCubic(["create", "after", "-i", "debian:12"], { env: home.env });
    assertEquals(create.code, 3, create.stderr);
    assertMatch(
      create.stderr,
      /^error: Creating the instance 'after' failed: the cached image .* changed after it was verified: the image names a backing file \('\/etc\/shadow'\)/m,
    );
    assertEquals(await listDir(home.machines), ["before"]);

    const start = await runCubic(["start", "before"], { env: home.env });
    assertEquals(start.code, 3, start.stderr);
    assertMatch(
      start.stderr,
      /^error: Starting 'before' failed: the cached image .* changed after/m,
    );
    assertMatch(
      start.stderr,
      /^hint: Something rewrote the cached image after it was verified; do not boot it/m,
    );
    assert(!/kvm|qemu-system/i.test(start.stderr), start.stderr);

    const list = await runCubic(["instances", "--json"], { env: home.env });
    assertEquals(list.code, 0, list.stderr);
    const [entry] = JSON.parse(list.stdout);
    assertEquals(entry.state, "broken");
    assertMatch(entry.reason, /changed after it was verified/);
  });
});

Deno.test("without HOME, Cubic fails with a UserError and a hint, not as a bug", async () => {
  const r = await runCubic(["instances"], { env: {} });
  assertEquals(r.code, 1, r.stderr);
  assertMatch(r.stderr, /^error: Finding Cubic's directories failed: HOME is not set/m);
  assertMatch(r.stderr, /^hint: Set HOME/m);
  assert(!r.stderr.includes("unexpected failure"), r.stderr);
});

Deno.test("start with the base image gone from the cache says so and when pull can restore it", async () => {
  await withMirrorHome(async (home) => {
    assertEquals(
      (await runCubic(["create", "orphan", "-i", "debian:12"], { env: home.env })).code,
      0,
    );
    const config = JSON.parse(
      await Deno.readTextFile(join(home.machines, "orphan", "instance.json")),
    );
    await Deno.remove(config.baseImage);
    const r = await runCubic(["start", "orphan"], { env: home.env });
    assertEquals(r.code, 1, r.stderr);
    assertMatch(
      r.stderr,
      /^error: Starting 'orphan' failed: its base image .*\.qcow2 is gone from the image cache/m,
    );
    assertMatch(r.stderr, /^hint: `cubic pull debian:12:amd64` restores it only if/m);
    assert(r.stderr.includes(config.baseDigest), "the hint names the digest to compare");
    assertMatch(r.stderr, /cannot boot again/);
    assert(!/kvm/i.test(r.stderr), r.stderr);
  });
});

Deno.test("a QEMU left behind without a working monitor is ended and launched again; ports are saved before launch", async () => {
  await withMirrorHome(async (home, scratch) => {
    const fake = await fakeQemuDir(scratch);
    const firmware = await firmwareFiles(scratch);
    const env = { ...home.env, CUBIC_QEMU_DIR: fake.dir };
    const cubic = (args: string[], extra: Record<string, string> = firmware) =>
      runCubic(args, { env: { ...env, ...extra } });
    assertEquals((await cubic(["create", "left", "-i", "debian:12"])).code, 0);
    const pids: number[] = [];
    try {
      const half = await cubic(["start", "--no-wait", "--accel", "off", "left"], {
        CUBIC_FIRMWARE_CODE: firmware.CUBIC_FIRMWARE_CODE!,
      });
      assertEquals(half.code, 1, half.stderr);
      assertMatch(half.stderr, /CUBIC_FIRMWARE_VARS is not set/);
      assertEquals(await listDir(fake.launches), [], "no QEMU may be launched");

      const first = await cubic(["start", "--no-wait", "--accel", "off", "left"]);
      assertEquals(first.code, 0, first.stderr);
      const atLaunch = JSON.parse(await Deno.readTextFile(join(fake.launches, "launch-0.json")));
      for (const port of ["sshPort", "monitorPort", "consolePort"]) {
        assert(Number.isInteger(atLaunch[port]), `${port} must be in instance.json before launch`);
      }
      const stale = await readPid(home, "left");
      pids.push(stale);
      assert(alive(stale));

      const again = await cubic(["start", "--no-wait", "--accel", "off", "left"]);
      assertEquals(again.code, 0, again.stderr);
      pids.push(await readPid(home, "left"));
      assertMatch(
        again.stderr,
        /^warning: left's QEMU \(pid \d+\) is running but its monitor does not answer .*; ending it and starting again$/m,
      );
      assert(!alive(stale), "the stale QEMU must be ended");
      assertEquals((await listDir(fake.launches)).length, 2);

      // What an interrupted start left before this fix: no monitor port at all.
      const file = join(home.machines, "left", "instance.json");
      const config = JSON.parse(await Deno.readTextFile(file));
      delete config.monitorPort;
      await Deno.writeTextFile(file, JSON.stringify(config));
      const third = await cubic(["start", "--no-wait", "--accel", "off", "left"]);
      assertEquals(third.code, 0, third.stderr);
      pids.push(await readPid(home, "left"));
      assertMatch(third.stderr, /its monitor port is not recorded; ending it and starting again/);
      assert(!alive(pids[1]!));
      assertEquals((await cubic(["stop", "--force", "left"])).code, 0);
      assert(!alive(pids[2]!));
    } finally {
      pids.forEach(kill);
      await readPid(home, "left").then(kill, () => {});
    }
  });
});

Deno.test("stop --timeout bounds the whole stop of a frozen QEMU, connecting to its monitor included", async () => {
  await withMirrorHome(async (home, scratch) => {
    const fake = await fakeQemuDir(scratch);
    const env = { ...home.env, ...(await firmwareFiles(scratch)), CUBIC_QEMU_DIR: fake.dir };
    assertEquals((await runCubic(["create", "frozen", "-i", "debian:12"], { env })).code, 0);
    let monitor: Deno.Listener | undefined;
    try {
      const start = await runCubic(["start", "--no-wait", "--accel", "off", "frozen"], { env });
      assertEquals(start.code, 0, start.stderr);
      const config = JSON.parse(
        await Deno.readTextFile(join(home.machines, "frozen", "instance.json")),
      );
      const pid = await readPid(home, "frozen");
      // A frozen QEMU: the kernel still accepts TCP on its monitor port, nobody answers.
      monitor = Deno.listen({ hostname: "127.0.0.1", port: config.monitorPort });
      Deno.kill(pid, "SIGSTOP");
      const started = Date.now();
      const r = await runCubic(["stop", "--timeout", "2", "frozen"], { env });
      const seconds = (Date.now() - started) / 1000;
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stderr, /^warning: clean shutdown of frozen failed/m);
      assertMatch(r.stderr, /^frozen stopped \(forced\)$/m);
      assert(!alive(pid), "the frozen QEMU must be ended");
      // 2 s for the clean stop, then SIGTERM (ignored while frozen), 2 s, SIGKILL; plus start-up.
      assert(seconds < 10, `stop took ${seconds} s`);
    } finally {
      monitor?.close();
      await readPid(home, "frozen").then(kill, () => {});
    }
  });
});

Deno.test("start of several instances launches every one it can and reports the ones that failed", async () => {
  await withMirrorHome(async (home, scratch) => {
    const fake = await fakeQemuDir(scratch);
    const env = { ...home.env, ...(await firmwareFiles(scratch)), CUBIC_QEMU_DIR: fake.dir };
    const cubic = (args: string[]) => runCubic(args, { env });
    assertEquals((await cubic(["create", "one", "-i", "debian:12"])).code, 0);
    assertEquals((await cubic(["create", "two", "-i", "debian:12"])).code, 0);
    try {
      const r = await cubic(["start", "--no-wait", "--accel", "off", "one", "ghost", "two"]);
      assertEquals(r.code, 1, r.stderr);
      assertMatch(r.stderr, /^warning: ghost: Finding the instance 'ghost' failed/m);
      assertMatch(r.stderr, /^error: Starting 1 of 3 instances failed: ghost$/m);
      assertEquals((await listDir(fake.launches)).length, 2, "one and two were launched");
      assert(alive(await readPid(home, "one")) && alive(await readPid(home, "two")));
    } finally {
      for (const name of ["one", "two"]) await readPid(home, name).then(kill, () => {});
    }
  });
});

Deno.test("run whose start fails keeps the instance it created and says how to retry or remove it", async () => {
  await withMirrorHome(async (home, scratch) => {
    const fake = await fakeQemuDir(scratch);
    const env = { ...home.env, ...(await firmwareFiles(scratch)), CUBIC_QEMU_DIR: fake.dir };
    try {
      const r = await runCubic(
        ["run", "kept", "-i", "debian:12", "--accel", "off", "--timeout", "2", "--", "true"],
        { env },
      );
      // The stand-in QEMU never answers SSH: a start timeout, with an empty console.
      assertEquals(r.code, 4, r.stderr);
      assertMatch(r.stderr, /Last console lines:\n\(the console printed nothing yet\)$/m);
      assertMatch(
        r.stderr,
        /^'kept' was created and is kept: try again with `cubic start kept` \(taking --accel and --timeout\), or remove it with `cubic delete --yes kept`$/m,
      );
      assertEquals(await listDir(home.machines), ["kept"]);
    } finally {
      await readPid(home, "kept").then(kill, () => {});
    }
  });
});
