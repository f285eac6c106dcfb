import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { descriptorMatches, findFirmware } from "../../src/firmware.ts";
import { firstAccelerator, isDeadRunState, parseAccelMode } from "../../src/accel.ts";
import { UserError } from "../../src/errors.ts";

const plain = {
  "interface-types": ["uefi"],
  mapping: {
    device: "flash",
    executable: { filename: "/usr/share/OVMF/OVMF_CODE_4M.fd", format: "raw" },
    "nvram-template": { filename: "/usr/share/OVMF/OVMF_VARS_4M.fd", format: "raw" },
  },
  targets: [{ architecture: "x86_64", machines: ["pc-i440fx-*", "pc-q35-*"] }],
  features: ["acpi-s3", "amd-sev", "verbose-dynamic"],
};

Deno.test("a plain UEFI flash descriptor for q35 matches amd64 only", () => {
  assert(descriptorMatches(plain, "amd64"));
  assert(!descriptorMatches(plain, "arm64"));
});

Deno.test("secure-boot and SMM firmware is skipped", () => {
  assert(!descriptorMatches({ ...plain, features: ["secure-boot", "requires-smm"] }, "amd64"));
  assert(!descriptorMatches({ ...plain, features: ["enrolled-keys"] }, "amd64"));
});

Deno.test("finds this host's OVMF through QEMU's firmware descriptors", async () => {
  const fw = await findFirmware("amd64", { HOME: "/nonexistent" });
  assertEquals(fw.code, "/usr/share/OVMF/OVMF_CODE_4M.fd");
  assertEquals(fw.varsTemplate, "/usr/share/OVMF/OVMF_VARS_4M.fd");
});

Deno.test("missing firmware names the package to install", async () => {
  const error = await findFirmware("arm64", { HOME: "/nonexistent" }).catch((e) => e);
  assert(error instanceof UserError);
  assert(error.hint?.includes("qemu-efi-aarch64"), error.hint);
});

const host = { kvmDevice: true, sameArch: true, verdict: undefined, kernel: "6.1" };

Deno.test("auto tries KVM first when /dev/kvm exists and nothing is known against it", () => {
  assertEquals(firstAccelerator("auto", host).accel, "kvm");
});

Deno.test("auto goes straight to TCG when KVM was found broken on this kernel", () => {
  const verdict = { kvmBroken: true, reason: "internal-error", kernel: "6.1", checkedAt: "" };
  assertEquals(firstAccelerator("auto", { ...host, verdict }).accel, "tcg");
  assertEquals(firstAccelerator("auto", { ...host, verdict, kernel: "6.2" }).accel, "kvm");
});

Deno.test("auto uses TCG without /dev/kvm or for a foreign arch; off always uses TCG", () => {
  assertEquals(firstAccelerator("auto", { ...host, kvmDevice: false }).accel, "tcg");
  assertEquals(firstAccelerator("auto", { ...host, sameArch: false }).accel, "tcg");
  assertEquals(firstAccelerator("off", host).accel, "tcg");
});

Deno.test("on refuses a foreign-arch guest", () => {
  assertThrows(() => firstAccelerator("on", { ...host, sameArch: false }), UserError, "arch");
});

Deno.test("internal-error and guest-panicked are dead run states; running and paused are not", () => {
  assert(isDeadRunState("internal-error") && isDeadRunState("guest-panicked"));
  assert(!isDeadRunState("running") && !isDeadRunState("prelaunch"));
});

Deno.test("--accel accepts auto, on and off only", () => {
  assertEquals(parseAccelMode("on"), "on");
  assertThrows(() => parseAccelMode("kvm"), UserError, "auto, on or off");
});
