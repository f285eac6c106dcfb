import { assertEquals, assertThrows } from "../support/assert.ts";
import { validateName, validateUser } from "../../src/store.ts";
import { parseImageName } from "../../src/images.ts";
import { parseSize } from "../../src/size.ts";
import { parseTarget, remoteCommand } from "../../src/cli/options.ts";
import { UserError } from "../../src/errors.ts";

Deno.test("accepts hostname-like instance names", () => {
  for (const name of ["dev", "web-1", "A9", "x".repeat(63)]) assertEquals(validateName(name), name);
});

Deno.test("rejects instance names that could escape the machines directory or are not hostnames", () => {
  for (
    const name of [
      "",
      "..",
      ".",
      "a/b",
      "../etc",
      "-x",
      "x-",
      "a b",
      "a.b",
      "café",
      "x".repeat(64),
      "a_b",
    ]
  ) {
    const error = assertThrows<UserError>(
      () => validateName(name),
      UserError,
      "letters, digits and hyphens",
    );
    assertEquals(error.code, "InvalidName");
  }
});

Deno.test("rejects root and upper-case guest users", () => {
  assertEquals(validateUser("cubic"), "cubic");
  for (const user of ["root", "Bob", "1x", "a b", ""]) {
    assertThrows(() => validateUser(user), UserError);
  }
});

Deno.test("parses vendor:name[:arch] with the host arch as default", () => {
  assertEquals(parseImageName("debian:12", "amd64"), {
    vendor: "debian",
    name: "12",
    arch: "amd64",
  });
  assertEquals(parseImageName("ubuntu:noble:arm64", "amd64"), {
    vendor: "ubuntu",
    name: "noble",
    arch: "arm64",
  });
  assertEquals(parseImageName("ubuntu:24.04:aarch64", "amd64").arch, "arm64");
  assertEquals(parseImageName("centos-stream:10", "arm64").vendor, "centos-stream");
});

Deno.test("rejects malformed image names with an example in the hint", () => {
  for (
    const text of [
      "debian",
      "debian:",
      ":12",
      "debian:12:riscv64",
      "debian:12:amd64:x",
      "Debian:12",
    ]
  ) {
    const error = assertThrows<UserError>(() => parseImageName(text, "amd64"), UserError);
    assertEquals(error.code, "InvalidImageName");
    assertEquals(error.exitCode, 2, "a malformed image name is a usage error");
  }
});

Deno.test("says which part of an image name is wrong: an unknown arch, an upper-case vendor", () => {
  const message = (text: string) =>
    assertThrows<UserError>(() => parseImageName(text, "amd64"), UserError).message;
  assertEquals(
    message("debian:12:riscv64"),
    "Reading the image name 'debian:12:riscv64' failed: unknown arch 'riscv64' (Cubic runs amd64 and arm64 guests)",
  );
  assertEquals(
    message("Debian:12"),
    "Reading the image name 'Debian:12' failed: vendor names are lower case ('debian')",
  );
  assertEquals(
    message("debian:12:amd64:x"),
    "Reading the image name 'debian:12:amd64:x' failed: expected vendor:name[:arch]",
  );
});

Deno.test("parses sizes with binary units", () => {
  assertEquals(parseSize("512M", "--memory"), 512 * 1024 ** 2);
  assertEquals(parseSize("2G", "--memory"), 2 * 1024 ** 3);
  assertEquals(parseSize("1.5G", "--disk"), 1.5 * 1024 ** 3);
  assertEquals(parseSize("20GiB", "--disk"), 20 * 1024 ** 3);
  assertEquals(parseSize("4096B", "--disk"), 4096);
});

Deno.test("rejects sizes without a unit or with garbage", () => {
  for (const text of ["512", "2X", "-1G", "G", "0G"]) {
    assertThrows(() => parseSize(text, "--memory"), UserError);
  }
});

Deno.test("splits [user@]instance", () => {
  assertEquals(parseTarget("dev"), { user: undefined, name: "dev" });
  assertEquals(parseTarget("alice@dev"), { user: "alice", name: "dev" });
  assertThrows(() => parseTarget("a@b@c"), UserError);
});

Deno.test("passes one word as a shell line and quotes several words one by one", () => {
  assertEquals(remoteCommand(["ls | wc -l"]), "ls | wc -l");
  assertEquals(remoteCommand(["uname", "-a"]), "uname -a");
  assertEquals(remoteCommand(["echo", "it's a $HOME"]), `echo 'it'\\''s a $HOME'`);
});
