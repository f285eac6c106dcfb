/**
 * A provider added by dropping a YAML file into ~/.config/cubic/providers/ (no rebuild), used
 * through the real CLI against a real mirror on 127.0.0.1 in that provider's layout.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { listDir, makeCubicHome, runCubic } from "../support/cli.ts";
import { startMirrorServer } from "../support/mirror_server.ts";

const PROVIDER = `
id: tinyos
name: Tiny OS
base_url: https://mirror.invalid/tinyos/
release_pattern: '^(\\d+\\.\\d+)$'
directory: "{release}/{arch}/"
image_pattern: 'tinyos-{release}-{arch}-\\d+\\.qcow2'
checksum_file: SHA256SUMS
algorithm: sha256
arches: { amd64: x86_64 }
`;

async function tinyMirror(): Promise<{ root: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "cubic-user-provider-" });
  const images = join(dir, "root", "tinyos", "1.2", "x86_64");
  await Deno.mkdir(images, { recursive: true });
  await Deno.mkdir(join(dir, "root", "tinyos", "1.1", "x86_64"), { recursive: true });
  const lines: string[] = [];
  for (const build of ["20260101", "20260301"]) {
    const file = `tinyos-1.2-x86_64-${build}.qcow2`;
    const out = await new Deno.Command("qemu-img", {
      args: ["create", "-q", "-f", "qcow2", join(images, file), "8M"],
    })
      .output();
    assert(out.success);
    const digest = createHash("sha256").update(await Deno.readFile(join(images, file))).digest(
      "hex",
    );
    lines.push(`${digest}  ${file}`);
  }
  await Deno.writeTextFile(join(images, "SHA256SUMS"), lines.join("\n") + "\n");
  return { root: join(dir, "root"), dir };
}

Deno.test("a YAML provider in ~/.config/cubic/providers shows up in images and creates instances", async () => {
  const mirror = await tinyMirror();
  const server = await startMirrorServer(mirror.root);
  const home = await makeCubicHome({ CUBIC_MIRROR_TINYOS: `${server.url}/tinyos/` });
  try {
    await Deno.mkdir(join(home.env.XDG_CONFIG_HOME!, "cubic", "providers"), { recursive: true });
    await Deno.writeTextFile(
      join(home.env.XDG_CONFIG_HOME!, "cubic", "providers", "tinyos.yaml"),
      PROVIDER,
    );
    const images = await runCubic(["images", "--json"], { env: home.env });
    assertEquals(images.code, 0, images.stderr);
    const tiny = JSON.parse(images.stdout).filter((r: { vendor: string }) => r.vendor === "tinyos");
    assertEquals(tiny.map((r: { name: string; arch: string }) => `${r.name}:${r.arch}`), [
      "1.2:amd64",
    ]);
    assertMatch(tiny[0].imageUrl, /tinyos-1\.2-x86_64-20260301\.qcow2$/);
    const created = await runCubic(["create", "t1", "-i", "tinyos:1.2"], { env: home.env });
    assertEquals(created.code, 0, created.stderr);
    assertEquals(await listDir(home.machines), ["t1"]);
  } finally {
    await server.close();
    await Deno.remove(home.root, { recursive: true });
    await Deno.remove(mirror.dir, { recursive: true });
  }
});

Deno.test("a broken provider file is a clear error naming the file and the field", async () => {
  const home = await makeCubicHome();
  try {
    await Deno.mkdir(join(home.env.XDG_CONFIG_HOME!, "cubic", "providers"), { recursive: true });
    await Deno.writeTextFile(
      join(home.env.XDG_CONFIG_HOME!, "cubic", "providers", "bad.yaml"),
      "id: bad\nbase_url: https://x.invalid/\n",
    );
    const r = await runCubic(["images"], { env: home.env });
    assertEquals(r.code, 1);
    assertMatch(r.stderr, /^error: Reading the provider file '.*bad\.yaml' failed: /m);
    assertMatch(r.stderr, /^hint: .*Adding a distribution/m);
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});
