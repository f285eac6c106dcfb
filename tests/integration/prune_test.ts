/**
 * `cubic prune` never deletes an image an instance is based on, however the cache is reached,
 * refuses when it cannot tell, and clears abandoned partial downloads; `cubic instances` flags
 * an instance whose base image is gone. Real CLI, real qemu-img, a Debian-layout mirror on
 * 127.0.0.1.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { type CubicHome, listDir, makeCubicHome, runCubic } from "../support/cli.ts";
import { layoutDebianMirror } from "../support/debian_mirror.ts";
import { startMirrorServer } from "../support/mirror_server.ts";

async function withInstance(
  fn: (home: CubicHome, cubic: (...args: string[]) => ReturnType<typeof runCubic>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cubic-prune-" });
  const image = join(dir, "source.qcow2");
  const out = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", "qcow2", image, "16M"],
  }).output();
  assert(out.success);
  await layoutDebianMirror(image, join(dir, "root"));
  const server = await startMirrorServer(join(dir, "root"));
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: `${server.url}/images/cloud/` });
  try {
    const created = await runCubic(["create", "keep", "-i", "debian:12"], { env: home.env });
    assertEquals(created.code, 0, created.stderr);
    await fn(home, (...args) => runCubic(args, { env: home.env }));
  } finally {
    await server.close();
    await Deno.remove(home.root, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
}

async function cachedImages(images: string): Promise<string[]> {
  return (await listDir(images)).filter((n) => n.endsWith(".qcow2"));
}

async function editInstance(home: CubicHome, edit: (config: Record<string, unknown>) => void) {
  const path = join(home.machines, "keep", "instance.json");
  const config = JSON.parse(await Deno.readTextFile(path));
  edit(config);
  await Deno.writeTextFile(path, JSON.stringify(config, null, 2));
}

Deno.test("prune keeps an instance's base image when the cache is reached through a symlink", async () => {
  await withInstance(async (home, cubic) => {
    const [image] = await cachedImages(home.images);
    assert(image !== undefined);
    const linked = join(home.root, "cache-link");
    await Deno.symlink(join(home.root, "cache"), linked);
    const viaLink = await runCubic(["prune", "--yes"], {
      env: { ...home.env, XDG_CACHE_HOME: linked },
    });
    assertEquals(viaLink.code, 0, viaLink.stderr);
    assertMatch(viaLink.stderr, /Nothing to prune/);
    assertEquals(await cachedImages(home.images), [image]);

    // The other way round: the instance recorded the symlinked path, prune sees the real one.
    await editInstance(home, (c) => c.baseImage = join(linked, "cubic", "images", image));
    const viaReal = await cubic("prune", "--yes");
    assertEquals(viaReal.code, 0, viaReal.stderr);
    assertEquals(await cachedImages(home.images), [image]);
    const list = await cubic("instances", "--json");
    assertEquals(JSON.parse(list.stdout)[0].state, "stopped", list.stderr);
  });
});

Deno.test("prune keeps the file the instance's disk is really backed by, whatever instance.json says", async () => {
  await withInstance(async (home, cubic) => {
    const [image] = await cachedImages(home.images);
    assert(image !== undefined);
    const elsewhere = join(home.root, "elsewhere.qcow2");
    await Deno.copyFile(join(home.images, image), elsewhere);
    await editInstance(home, (c) => c.baseImage = elsewhere);
    const r = await cubic("prune", "--yes");
    assertEquals(r.code, 0, r.stderr);
    assertEquals(await cachedImages(home.images), [image]);
  });
});

Deno.test("prune refuses and deletes nothing when an instance's base image cannot be found", async () => {
  await withInstance(async (home, cubic) => {
    const [image] = await cachedImages(home.images);
    assert(image !== undefined);
    const gone = join(home.root, "old-home", ".cache", "cubic", "images", image);
    await editInstance(home, (c) => c.baseImage = gone);
    const r = await cubic("prune", "--yes");
    assertEquals(r.code, 1, r.stderr);
    assertMatch(
      r.stderr,
      /^error: Pruning failed: the instance 'keep' is based on .*old-home.*, which cannot be found$/m,
    );
    assertMatch(r.stderr, /^hint: Nothing was deleted\. .*cubic delete --yes keep/m);
    assertEquals(await cachedImages(home.images), [image]);
  });
});

Deno.test("prune refuses while an instance is broken", async () => {
  await withInstance(async (home, cubic) => {
    await Deno.writeTextFile(join(home.machines, "keep", "instance.json"), "{broken");
    const r = await cubic("prune", "--yes");
    assertEquals(r.code, 1, r.stderr);
    assertMatch(r.stderr, /^error: Pruning failed: the instance 'keep' is broken/m);
    assertEquals((await cachedImages(home.images)).length, 1);
  });
});

Deno.test("instances flags an instance whose base image was deleted as broken, with the reason", async () => {
  await withInstance(async (home, cubic) => {
    for (const name of await listDir(home.images)) {
      if (name.endsWith(".qcow2") || name.endsWith(".qcow2.json")) {
        await Deno.remove(join(home.images, name));
      }
    }
    const table = await cubic("instances");
    assertEquals(table.code, 0, table.stderr);
    assertMatch(table.stdout, /^keep\s+debian:12:amd64\s+broken\s/m);
    assertMatch(table.stderr, /keep is broken: its base image .* is missing from the image cache/);
    const rows = JSON.parse((await cubic("instances", "--json")).stdout);
    assertEquals(rows[0].state, "broken");
    assertMatch(rows[0].reason, /cubic pull debian:12:amd64/);
  });
});

Deno.test("prune removes partial downloads abandoned for over an hour and keeps a live one", async () => {
  const home = await makeCubicHome();
  try {
    await Deno.mkdir(home.images, { recursive: true });
    const old = join(home.images, ".debian-12-amd64.partial");
    const live = join(home.images, ".debian-13-amd64.partial");
    await Deno.writeFile(old, new Uint8Array(3 * 1024 * 1024));
    await Deno.writeTextFile(`${old}.json`, "{}");
    await Deno.writeFile(live, new Uint8Array(1024));
    await Deno.writeTextFile(`${live}.json`, "{}");
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await Deno.utime(old, twoHoursAgo, twoHoursAgo);
    await Deno.utime(`${old}.json`, twoHoursAgo, twoHoursAgo);

    const asked = await runCubic(["prune"], { env: home.env });
    assertEquals(asked.code, 1, "no terminal to ask on");
    assertEquals((await listDir(home.images)).length, 4);

    const r = await runCubic(["prune", "--yes"], { env: home.env });
    assertEquals(r.code, 0, r.stderr);
    assertMatch(
      r.stdout,
      /abandoned download\s+3\.0 MiB\s+.*\.debian-12-amd64\.partial \(last written 2 hours ago\)/,
    );
    assertMatch(r.stderr, /^Freed 3\.0 MiB \(1 abandoned download\)$/m);
    assertEquals(await listDir(home.images), [
      ".debian-13-amd64.partial",
      ".debian-13-amd64.partial.json",
    ]);
    const again = await runCubic(["prune", "--yes"], { env: home.env });
    assertMatch(again.stderr, /Nothing to prune/);
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});
