import { assert, assertEquals } from "../support/assert.ts";
import { escapeQemuOption, qemuArgs, type QemuSpec } from "../../src/qemu.ts";

const spec: QemuSpec = {
  name: "dev",
  arch: "amd64",
  accel: "tcg",
  cpus: 2,
  memoryMiB: 1024,
  firmwareCode: "/usr/share/OVMF/OVMF_CODE_4M.fd",
  firmwareVars: "/m/dev/efivars.fd",
  disk: "/m/dev/disk.qcow2",
  seed: "/m/dev/cidata.iso",
  sshPort: 40022,
  monitorPort: 40100,
  consolePort: 40101,
  tlsDir: "/m/dev/tls",
  pidfile: "/m/dev/qemu.pid",
  serialLog: "/m/dev/serial.log",
  isolate: false,
  hostForwards: [],
};

function optionValues(args: string[], option: string): string[] {
  return args.flatMap((a, i) => (a === option ? [args[i + 1]!] : []));
}

Deno.test("every socket QEMU opens listens on 127.0.0.1", () => {
  const args = qemuArgs(spec);
  const chardevs = optionValues(args, "-chardev");
  assertEquals(chardevs.length, 2);
  for (const c of chardevs) {
    assert(c.includes("host=127.0.0.1,") && c.includes("tls-creds=tls0"), c);
  }
  const netdev = optionValues(args, "-netdev")[0]!;
  assert(netdev.includes("hostfwd=tcp:127.0.0.1:40022-:22"), netdev);
  assert(!/hostfwd=tcp::|0\.0\.0\.0/.test(netdev), netdev);
});

Deno.test("the monitor and console require a client certificate from the instance CA", () => {
  const objects = optionValues(qemuArgs(spec), "-object");
  assert(objects.includes("tls-creds-x509,id=tls0,dir=/m/dev/tls,endpoint=server,verify-peer=on"));
  assertEquals(optionValues(qemuArgs(spec), "-mon"), ["chardev=qmp0,mode=control"]);
});

Deno.test("UEFI code is read-only and the variable store is the instance's own copy", () => {
  const drives = optionValues(qemuArgs(spec), "-drive");
  assertEquals(drives.slice(0, 2), [
    "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
    "if=pflash,format=raw,unit=1,file=/m/dev/efivars.fd",
  ]);
});

Deno.test("the system disk boots first and the seed is a read-only raw disk", () => {
  const args = qemuArgs(spec);
  assert(optionValues(args, "-device").includes("virtio-blk-pci,drive=disk0,bootindex=0"));
  assert(
    optionValues(args, "-drive").includes(
      "if=none,id=seed0,format=raw,readonly=on,file=/m/dev/cidata.iso",
    ),
  );
});

Deno.test("TCG caps the translation cache and uses the max CPU model", () => {
  const args = qemuArgs(spec);
  assertEquals(optionValues(args, "-accel"), ["tcg,tb-size=256"]);
  assertEquals(optionValues(args, "-cpu"), ["max"]);
});

Deno.test("KVM uses the host CPU model", () => {
  const args = qemuArgs({ ...spec, accel: "kvm" });
  assertEquals(optionValues(args, "-accel"), ["kvm"]);
  assertEquals(optionValues(args, "-cpu"), ["host"]);
});

Deno.test("QEMU runs detached with a pidfile, the serial log and a seccomp sandbox", () => {
  const args = qemuArgs(spec);
  assert(args.includes("-daemonize"));
  assertEquals(optionValues(args, "-pidfile"), ["/m/dev/qemu.pid"]);
  assert(optionValues(args, "-chardev")[1]!.includes("logfile=/m/dev/serial.log"));
  assertEquals(optionValues(args, "-sandbox"), ["on,obsolete=deny,resourcecontrol=deny"]);
  assertEquals(optionValues(args, "-smp"), ["2"]);
  assertEquals(optionValues(args, "-m"), ["1024M"]);
});

Deno.test("--isolate restricts the user network", () => {
  assert(optionValues(qemuArgs({ ...spec, isolate: true }), "-netdev")[0]!.includes("restrict=on"));
  assert(!optionValues(qemuArgs(spec), "-netdev")[0]!.includes("restrict=on"));
});

Deno.test("commas in paths are doubled inside option values, and the pidfile stays as it is", () => {
  const m = "/tmp/da,ta/cubic/machines/dev";
  const args = qemuArgs({
    ...spec,
    firmwareCode: "/opt/fw,x/OVMF_CODE.fd",
    firmwareVars: `${m}/efivars.fd`,
    disk: `${m}/disk.qcow2`,
    seed: `${m}/cidata.iso`,
    tlsDir: `${m}/tls`,
    pidfile: `${m}/qemu.pid`,
    serialLog: `${m}/serial.log`,
  });
  const e = "/tmp/da,,ta/cubic/machines/dev";
  assertEquals(optionValues(args, "-drive"), [
    "if=pflash,format=raw,unit=0,readonly=on,file=/opt/fw,,x/OVMF_CODE.fd",
    `if=pflash,format=raw,unit=1,file=${e}/efivars.fd`,
    `if=none,id=disk0,format=qcow2,file=${e}/disk.qcow2,discard=unmap`,
    `if=none,id=seed0,format=raw,readonly=on,file=${e}/cidata.iso`,
  ]);
  assert(
    optionValues(args, "-object").includes(
      `tls-creds-x509,id=tls0,dir=${e}/tls,endpoint=server,verify-peer=on`,
    ),
  );
  assert(optionValues(args, "-chardev")[1]!.endsWith(`,logfile=${e}/serial.log,logappend=on`));
  // -pidfile takes a plain file name, not an option list: escaping it would name another file.
  assertEquals(optionValues(args, "-pidfile"), [`${m}/qemu.pid`]);
});

Deno.test("an option value with a comma cannot inject another option", () => {
  assertEquals(escapeQemuOption("/x,readonly=off"), "/x,,readonly=off");
  assertEquals(escapeQemuOption("/a,,b"), "/a,,,,b");
  assertEquals(escapeQemuOption("/plain/path"), "/plain/path");
});
