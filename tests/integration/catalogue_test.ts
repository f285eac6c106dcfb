/**
 * `cubic images`, `show`, `pull` and `prune` through the real CLI against a real mirror on
 * 127.0.0.1 in Debian's layout (a small real qcow2 stands in for the image).
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { listDir, makeCubicHome, runCubic } from "../support/cli.ts";
import { layoutDebianMirror } from "../support/debian_mirror.ts";
import { startMirrorServer } from "../support/mirror_server.ts";

async function mirror() {
  const dir = await Deno.makeTempDir({ prefix: "cubic-cat-" });
  const image = join(dir, "source.qcow2");
  const out = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", "qcow2", image, "16M"],
  }).output();
  assert(out.success);
  await layoutDebianMirror(image, join(dir, "root"));
  const server = await startMirrorServer(join(dir, "root"));
  return {
    url: `${server.url}/images/cloud/`,
    requests: server.requests,
    async close() {
      await server.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("images --json lists debian 12 with its alias, arch, size and cache state", async () => {
  const m = await mirror();
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: m.url });
  try {
    const before = await runCubic(["images", "--json"], { env: home.env });
    assertEquals(before.code, 0, before.stderr);
    const rows = JSON.parse(before.stdout);
    assertEquals(rows.length, 1);
    const size = rows[0].size;
    assertEquals({ ...rows[0], size: 0, imageUrl: "" }, {
      vendor: "debian",
      name: "12",
      aliases: ["bookworm"],
      arch: "amd64",
      size: 0,
      cached: false,
      signed: false,
      imageUrl: "",
    });
    assert(size > 0, "the size comes from the mirror's Content-Length");
    assertEquals((await runCubic(["pull", "debian:bookworm"], { env: home.env })).code, 0);
    const after = JSON.parse((await runCubic(["images", "--json"], { env: home.env })).stdout);
    assertEquals(after[0].cached, true);
  } finally {
    await m.close();
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("images uses the stored list when the mirror is down and says so on stderr", async () => {
  const m = await mirror();
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: m.url });
  try {
    assertEquals((await runCubic(["images"], { env: home.env })).code, 0);
    await m.close();
    const offline = await runCubic(["images", "--refresh"], { env: home.env });
    assertEquals(offline.code, 0, offline.stderr);
    assertMatch(offline.stdout, /^debian:12\s+debian:bookworm\s+amd64/m);
    assertMatch(offline.stderr, /debian: mirror unreachable .* showing its list from /);
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("images reports a vendor whose mirror fails instead of dropping it silently", async () => {
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: "http://127.0.0.1:1/images/cloud/" });
  try {
    const r = await runCubic(["images"], { env: home.env });
    assertEquals(r.code, 1, "no vendor offered anything");
    assertMatch(
      r.stderr,
      /debian: listing failed: Fetching 'http:\/\/127\.0\.0\.1:1\/images\/cloud\/' failed/,
    );
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("show of an image prints its URLs and digest and says Debian publishes no signature", async () => {
  const m = await mirror();
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: m.url });
  try {
    const r = await runCubic(["show", "debian:12"], { env: home.env });
    assertEquals(r.code, 0, r.stderr);
    assertMatch(
      r.stdout,
      /^Image URL: +http:\/\/127\.0\.0\.1:\d+\/images\/cloud\/bookworm\/latest\/debian-12-generic-amd64\.qcow2$/m,
    );
    assertMatch(r.stdout, /^Checksum: +sha512:[0-9a-f]{128}$/m);
    assertMatch(
      r.stdout,
      /^Signature: +none: Debian publishes no signature .* only its checksum is verified$/m,
    );
    assertMatch(r.stdout, /^Cached: +no/m);
  } finally {
    await m.close();
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("prune frees only cached images no instance is based on", async () => {
  const m = await mirror();
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: m.url });
  try {
    assertEquals(
      (await runCubic(["create", "keep", "-i", "debian:12"], { env: home.env })).code,
      0,
    );
    const nothing = await runCubic(["prune", "--yes"], { env: home.env });
    assertEquals(nothing.code, 0);
    assertMatch(nothing.stderr, /Nothing to prune/);
    assertEquals((await listDir(home.images)).filter((n) => n.endsWith(".qcow2")).length, 1);

    const refused = await runCubic(["delete", "keep"], { env: home.env });
    assertEquals(refused.code, 1, "delete without --yes and without a terminal must refuse");
    assertEquals(await listDir(home.machines), ["keep"]);
    assertEquals((await runCubic(["delete", "--yes", "keep"], { env: home.env })).code, 0);
    const asked = await runCubic(["prune"], { env: home.env });
    assertEquals(asked.code, 1);
    assertMatch(asked.stderr, /hint: Run `cubic prune --yes`/);
    const freed = await runCubic(["prune", "--yes"], { env: home.env });
    assertEquals(freed.code, 0, freed.stderr);
    assertEquals(
      (await listDir(home.images)).filter((n) => n.endsWith(".qcow2") || n.endsWith(".json")),
      [],
    );
  } finally {
    await m.close();
    await Deno.remove(home.root, { recursive: true });
  }
});
