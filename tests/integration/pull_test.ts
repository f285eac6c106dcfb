/**
 * `cubic pull` of several images attempts every one, reports each failure and exits non-zero at
 * the end; a malformed image name is a usage error (exit 2). Real CLI against a Debian-layout
 * mirror on 127.0.0.1 with bookworm and trixie.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { type CubicHome, listDir, makeCubicHome, runCubic } from "../support/cli.ts";
import { layoutDebianMirror } from "../support/debian_mirror.ts";
import { startMirrorServer } from "../support/mirror_server.ts";

async function withMirror(
  fn: (home: CubicHome, root: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cubic-pull-" });
  const image = join(dir, "source.qcow2");
  const out = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", "qcow2", image, "16M"],
  }).output();
  assert(out.success);
  const root = join(dir, "root");
  await layoutDebianMirror(image, root);
  await layoutDebianMirror(image, root, { codename: "trixie", version: "13" });
  const server = await startMirrorServer(root);
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: `${server.url}/images/cloud/` });
  try {
    await fn(home, root);
  } finally {
    await server.close();
    await Deno.remove(home.root, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
}

async function cached(home: CubicHome): Promise<string[]> {
  return (await listDir(home.images)).filter((n) => n.endsWith(".qcow2"));
}

/** Makes the mirror's SHA512SUMS for `codename` promise another digest than the image has. */
async function corrupt(root: string, codename: string, version: string): Promise<void> {
  const sums = join(root, "images/cloud", codename, "latest", "SHA512SUMS");
  const text = await Deno.readTextFile(sums);
  await Deno.writeTextFile(
    sums,
    text.replace(
      new RegExp(`^[0-9a-f]{128}(  debian-${version}-generic-amd64\\.qcow2)$`, "m"),
      `${"0".repeat(128)}$1`,
    ),
  );
}

Deno.test("pull carries on past an image that fails and reports it at the end", async () => {
  await withMirror(async (home) => {
    const r = await runCubic(["pull", "debian:potato", "debian:12"], { env: home.env });
    assertEquals(r.code, 1, r.stderr);
    assertMatch(r.stderr, /^warning: debian:potato: Looking up the image 'debian:potato:amd64'/m);
    assertMatch(r.stderr, /^debian:12: verified sha512 /m);
    assertMatch(r.stderr, /^error: Pulling 1 of 2 images failed: debian:potato$/m);
    assertEquals((await cached(home)).length, 1, "debian:12 was pulled after the failure");
  });
});

Deno.test("pull keeps exit code 3 when every image failed verification", async () => {
  await withMirror(async (home, root) => {
    await corrupt(root, "bookworm", "12");
    await corrupt(root, "trixie", "13");
    const r = await runCubic(["pull", "debian:12", "debian:13"], { env: home.env });
    assertEquals(r.code, 3, r.stderr);
    assertMatch(r.stderr, /^warning: debian:12: /m);
    assertMatch(r.stderr, /^warning: debian:13: /m);
    assertMatch(r.stderr, /^error: Pulling 2 of 2 images failed: debian:12, debian:13$/m);
    assertEquals(await cached(home), []);
  });
});

Deno.test("a malformed image name is a usage error (exit 2) and nothing is pulled", async () => {
  await withMirror(async (home) => {
    const pull = await runCubic(["pull", "debian:12", "debian:12:riscv"], { env: home.env });
    assertEquals(pull.code, 2, pull.stderr);
    assertMatch(pull.stderr, /^error: Reading the image name 'debian:12:riscv' failed/m);
    assertEquals(await cached(home), []);
    const create = await runCubic(["create", "x", "-i", "debian:12:riscv"], { env: home.env });
    assertEquals(create.code, 2, create.stderr);
    assertEquals(await listDir(home.machines), []);
  });
});
