/**
 * Checks that keep bad input from turning into late or confusing failures: instance.json's shape,
 * option values (usage errors, exit 2), firmware variables, HOME, host resources.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "../support/assert.ts";
import { parseAccelMode, rememberKvmBroken } from "../../src/accel.ts";
import { deletePrompt } from "../../src/cli/delete.ts";
import { parseCpus, parseMemory, parseSizeOption, parseTimeout } from "../../src/cli/options.ts";
import { ExitCode, UserError } from "../../src/errors.ts";
import { firmwareOverride } from "../../src/firmware.ts";
import { resourceWarnings } from "../../src/instance.ts";
import { cubicPaths } from "../../src/paths.ts";
import {
  BrokenInstance,
  type InstanceConfig,
  instanceConfigProblem,
  loadInstance,
  validateUser,
} from "../../src/store.ts";

const good: InstanceConfig = {
  version: 1,
  name: "dev",
  image: "debian:12:amd64",
  baseImage: "/cache/debian-12-amd64-0123456789abcdef.qcow2",
  baseDigest: "0123456789abcdef",
  arch: "amd64",
  user: "cubic",
  cpus: 2,
  memoryMiB: 1024,
  diskBytes: 20 * 1024 ** 3,
  sshPort: 40022,
  instanceId: "cubic-dev-12345678",
  hostPublicKey: "ssh-ed25519 AAAA root@dev",
  isolate: false,
  createdAt: "2025-01-01T00:00:00.000Z",
};

Deno.test("a complete instance.json passes the shape check, with or without start-time fields", () => {
  assertEquals(instanceConfigProblem(good, "dev"), undefined);
  assertEquals(
    instanceConfigProblem({ ...good, monitorPort: 1, consolePort: 2, accel: "tcg" }, "dev"),
    undefined,
  );
});

Deno.test("an instance.json with a missing or mistyped field is named precisely", () => {
  assertEquals(instanceConfigProblem({}, "dev"), "has no 'version'");
  assertEquals(instanceConfigProblem([], "dev"), "does not hold a JSON object");
  assertEquals(instanceConfigProblem(null, "dev"), "does not hold a JSON object");
  const { cpus: _, ...noCpus } = good;
  assertEquals(instanceConfigProblem(noCpus, "dev"), "has no 'cpus'");
  assertEquals(
    instanceConfigProblem({ ...good, cpus: "2" }, "dev"),
    `has an invalid 'cpus' ("2"; expected a whole number of at least 1)`,
  );
  for (
    const bad of [
      { sshPort: 70000 },
      { arch: "riscv64" },
      { isolate: "no" },
      { memoryMiB: 1.5 },
      { monitorPort: "x" },
      { accel: "hvf" },
      { hostPublicKey: "" },
    ]
  ) {
    assert(instanceConfigProblem({ ...good, ...bad }, "dev")?.includes("invalid"), String(bad));
  }
  assertEquals(
    instanceConfigProblem(good, "other"),
    "belongs to the instance 'dev', not 'other'",
  );
});

Deno.test("loading a corrupt or empty instance.json is a BrokenInstance error, never a TypeError", async () => {
  const machines = await Deno.makeTempDir({ prefix: "cubic-store-test-" });
  try {
    for (
      const [name, text, problem] of [
        ["bad", "{bad", "is not valid JSON"],
        ["empty", "{}", "has no 'version'"],
        ["nothing", "", "is not valid JSON"],
      ]
    ) {
      await Deno.mkdir(join(machines, name!));
      await Deno.writeTextFile(join(machines, name!, "instance.json"), text!);
      const error = await assertRejects<BrokenInstance>(
        () => loadInstance(machines, name!),
        BrokenInstance,
        problem,
      );
      assertEquals(error.code, "BrokenInstance");
      assertEquals(error.problem, `instance.json ${problem}`);
      assert(error.hint?.includes(`cubic delete --yes ${name}`), error.hint);
    }
    await Deno.mkdir(join(machines, "dev"));
    await Deno.writeTextFile(join(machines, "dev", "instance.json"), JSON.stringify(good));
    assertEquals(await loadInstance(machines, "dev"), good);
  } finally {
    await Deno.remove(machines, { recursive: true });
  }
});

Deno.test("invalid option values are usage errors (exit code 2)", () => {
  const usage = (fn: () => unknown, includes: string) => {
    const error = assertThrows<UserError>(fn, UserError, includes);
    assertEquals(error.exitCode, ExitCode.usage, error.message);
  };
  usage(() => parseCpus("0"), "from 1 to 255");
  usage(() => parseCpus("256"), "from 1 to 255");
  usage(() => parseCpus("1024"), "from 1 to 255");
  usage(() => parseCpus("two"), "--cpus");
  usage(() => parseMemory("10"), "--memory");
  usage(() => parseMemory("128M"), "at least 256M");
  usage(() => parseSizeOption("lots", "--disk"), "--disk");
  usage(() => parseTimeout("abc"), "--timeout");
  usage(() => parseTimeout("0"), "--timeout");
  usage(() => parseTimeout(""), "--timeout");
  usage(() => parseAccelMode("bogus"), "auto, on or off");
  usage(() => validateUser("Root"), "guest user");
  assertEquals(parseCpus("255"), 255);
  assertEquals(parseTimeout("90"), 90_000);
  assertEquals(parseTimeout("1.5s"), 1_500);
});

Deno.test("CUBIC_FIRMWARE_CODE without CUBIC_FIRMWARE_VARS (or the reverse) names the missing one", () => {
  assertEquals(firmwareOverride({}), undefined);
  assertEquals(firmwareOverride({ CUBIC_FIRMWARE_CODE: "/c", CUBIC_FIRMWARE_VARS: "/v" }), {
    code: "/c",
    varsTemplate: "/v",
    descriptor: "CUBIC_FIRMWARE_CODE",
  });
  const noVars = assertThrows<UserError>(
    () => firmwareOverride({ CUBIC_FIRMWARE_CODE: "/c" }),
    UserError,
    "CUBIC_FIRMWARE_VARS is not set",
  );
  assertEquals(noVars.code, "FirmwareIncomplete");
  assert(noVars.hint?.includes("Set CUBIC_FIRMWARE_VARS"), noVars.hint);
  assertThrows(
    () => firmwareOverride({ CUBIC_FIRMWARE_VARS: "/v" }),
    UserError,
    "CUBIC_FIRMWARE_CODE is not set",
  );
});

Deno.test("without HOME (and without absolute XDG directories) Cubic's paths are a UserError with a hint", () => {
  const error = assertThrows<UserError>(() => cubicPaths({}), UserError, "HOME is not set");
  assertEquals(error.code, "UnsetHome");
  assert(error.hint?.includes("HOME"), error.hint);
  assertThrows(() => cubicPaths({ XDG_DATA_HOME: "/d", XDG_CACHE_HOME: "/c" }), UserError);
  assertEquals(
    cubicPaths({ XDG_DATA_HOME: "/d", XDG_CACHE_HOME: "/c", XDG_CONFIG_HOME: "/e" }).machines,
    "/d/cubic/machines",
  );
});

Deno.test("more vCPUs or memory than the host has gives a warning each, not an error", () => {
  const host = { cpus: 2, memoryBytes: 8 * 1024 ** 3 };
  assertEquals(resourceWarnings({ cpus: 2, memoryMiB: 8192 }, host), []);
  const [cpus, memory, ...rest] = resourceWarnings({ cpus: 3, memoryMiB: 8193 }, host);
  assertEquals(rest, []);
  assert(cpus?.includes("3 vCPUs are more than this host's 2 logical CPUs"), cpus);
  assert(memory?.includes("more than this host's 8.0 GiB of RAM"), memory);
});

Deno.test("the delete prompt reads naturally for one instance and for several", () => {
  assertEquals(deletePrompt(["dev"]), "Delete dev and all its data? [y/N]");
  assertEquals(
    deletePrompt(["a", "b"]),
    "Delete 2 instances (a, b) and all their data? [y/N]",
  );
});

Deno.test("the remembered KVM verdict is written owner-only (0600)", async () => {
  const cache = await Deno.makeTempDir({ prefix: "cubic-accel-test-" });
  try {
    await Deno.writeTextFile(join(cache, "accel.json"), "{}", { mode: 0o644 });
    await rememberKvmBroken(cache, "internal-error", "6.1");
    assertEquals((await Deno.stat(join(cache, "accel.json"))).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
