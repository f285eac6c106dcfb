/**
 * A private mirror whose URL carries credentials (`http://user:secret@host/`): Cubic sends them
 * (the server refuses requests without them) and never shows them — not in output, errors,
 * hints or notices, and not in the files it stores — through the real CLI.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { type CliResult, listDir, makeCubicHome, runCubic } from "../support/cli.ts";
import { layoutDebianMirror } from "../support/debian_mirror.ts";
import { startMirrorServer } from "../support/mirror_server.ts";

const USER = "mirror-user";
const SECRET = "hunter2-s3cret";

async function qemuImg(...args: string[]): Promise<void> {
  const out = await new Deno.Command("qemu-img", { args, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

/** A Debian-layout mirror that answers 401 without the credentials. */
async function withPrivateMirror(
  fn: (ctx: { url: (password?: string) => string; image: string }) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "cubic-private-mirror-" });
  const image = join(dir, "source.qcow2");
  await qemuImg("create", "-q", "-f", "qcow2", image, "32M");
  const root = join(dir, "root");
  await layoutDebianMirror(image, root);
  const server = await startMirrorServer(root, { basicAuth: { user: USER, password: SECRET } });
  const port = server.port;
  try {
    await fn({
      url: (password = SECRET) => `http://${USER}:${password}@127.0.0.1:${port}/images/cloud/`,
      image,
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function assertNoSecret(result: CliResult, secret = SECRET): void {
  assert(
    !result.stdout.includes(secret) && !result.stderr.includes(secret),
    `the output shows the password:\n${result.stdout}\n${result.stderr}`,
  );
}

/** Every file under `dir`, read as text, must not contain the secret. */
async function assertNoSecretIn(dir: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) await assertNoSecretIn(path);
    else if (entry.isFile && !entry.name.endsWith(".qcow2")) {
      const text = await Deno.readTextFile(path);
      assert(!text.includes(SECRET), `${path} stores the password`);
    }
  }
}

Deno.test("a mirror URL's credentials are sent, and neither pull, show nor images shows them", async () => {
  await withPrivateMirror(async ({ url }) => {
    const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url() });
    try {
      const pull = await runCubic(["pull", "debian:12"], { env: home.env });
      assertEquals(pull.code, 0, pull.stderr);
      assertNoSecret(pull);
      const cached = (await listDir(home.images)).filter((n) => n.endsWith(".qcow2"));
      assertEquals(cached.length, 1, pull.stderr);

      const show = await runCubic(["show", "debian:12"], { env: home.env });
      assertEquals(show.code, 0, show.stderr);
      assertMatch(show.stdout, /^Image URL: +http:\/\/127\.0\.0\.1:\d+\/images\/cloud\//m);
      assertNoSecret(show);
      const json = await runCubic(["show", "debian:12", "--json"], { env: home.env });
      assertEquals(json.code, 0, json.stderr);
      assertNoSecret(json);

      const images = await runCubic(["images", "--json"], { env: home.env });
      assertEquals(images.code, 0, images.stderr);
      assertNoSecret(images);
      await assertNoSecretIn(home.cache);
    } finally {
      await Deno.remove(home.root, { recursive: true });
    }
  });
});

Deno.test("a wrong mirror password is an HTTP 401 error that does not echo the password", async () => {
  await withPrivateMirror(async ({ url }) => {
    const wrong = "wrong-pa55word";
    const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url(wrong) });
    try {
      const result = await runCubic(["pull", "debian:12"], { env: home.env });
      assertEquals(result.code, 1, result.stderr);
      assertMatch(
        result.stderr,
        /^error: Fetching 'http:\/\/127\.0\.0\.1:\d+\/.*' failed: HTTP 401/m,
      );
      assertMatch(result.stderr, /^hint: The mirror refused the credentials/m);
      assertNoSecret(result, wrong);
      const images = await runCubic(["images"], { env: home.env });
      assertMatch(images.stderr, /debian: listing failed: .*HTTP 401/);
      assertNoSecret(images, wrong);
    } finally {
      await Deno.remove(home.root, { recursive: true });
    }
  });
});

Deno.test("errors about an image the private mirror lacks or serves corrupted do not show the password", async () => {
  await withPrivateMirror(async ({ url, image }) => {
    const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url() });
    try {
      const unknown = await runCubic(["pull", "debian:potato"], { env: home.env });
      assertEquals(unknown.code, 1, unknown.stderr);
      assertMatch(unknown.stderr, /mirror at http:\/\/127\.0\.0\.1:\d+\/images\/cloud\/ does not/);
      assertNoSecret(unknown);

      const file = await Deno.open(image, { read: true, write: true });
      await file.seek(70_000, Deno.SeekMode.Start);
      await file.write(new Uint8Array([0x5a]));
      file.close();
      const tampered = await runCubic(["pull", "debian:12"], { env: home.env });
      assertEquals(tampered.code, 3, tampered.stderr);
      assertNoSecret(tampered);
    } finally {
      await Deno.remove(home.root, { recursive: true });
    }
  });
});

Deno.test("a mirror URL with credentials that is not http(s) is refused without showing them", async () => {
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: `ftp://${USER}:${SECRET}@127.0.0.1/x/` });
  try {
    const result = await runCubic(["pull", "debian:12"], { env: home.env });
    assertEquals(result.code, 1, result.stderr);
    assertMatch(result.stderr, new RegExp(`'ftp://${USER}:\\*\\*\\*@127\\.0\\.0\\.1/x/'`));
    assertNoSecret(result);
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});
