/**
 * Verified downloads against a real HTTP mirror on 127.0.0.1 in Debian's layout, through the
 * real CLI. The image is a small real qcow2 made by qemu-img (the boot tests use the real one).
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { listDir, makeCubicHome, runCubic } from "../support/cli.ts";
import { layoutDebianMirror } from "../support/debian_mirror.ts";
import { startMirrorServer } from "../support/mirror_server.ts";

async function qemuImg(...args: string[]): Promise<void> {
  const out = await new Deno.Command("qemu-img", { args, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

/** A mirror whose bookworm image is a small qcow2; `mutate` may change the served image afterwards. */
async function withMirror(
  fn: (ctx: { url: string; requests: string[]; image: string; root: string }) => Promise<void>,
  prepare?: (image: string, dir: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "cubic-mirror-" });
  const image = join(dir, "source.qcow2");
  await qemuImg("create", "-q", "-f", "qcow2", image, "32M");
  await prepare?.(image, dir);
  const root = join(dir, "root");
  await layoutDebianMirror(image, root);
  const server = await startMirrorServer(root);
  try {
    await fn({ url: `${server.url}/images/cloud/`, requests: server.requests, image, root });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A Debian mirror URL on a 127.0.0.1 port nothing listens on. */
function unreachableMirrorUrl(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return `http://127.0.0.1:${port}/images/cloud/`;
}

Deno.test("create downloads, verifies and caches the image once, and a second instance reuses it", async () => {
  await withMirror(async ({ url, requests }) => {
    const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url });
    try {
      const first = await runCubic(["create", "one", "--image", "debian:12"], { env: home.env });
      assertEquals(first.code, 0, first.stderr);
      const cached = (await listDir(home.images)).filter((n) => !n.startsWith("."));
      assertEquals(cached.length, 2, cached.join(","));
      assertMatch(cached[0]!, /^debian-12-amd64-[0-9a-f]{16}\.qcow2$/);
      const imageGets = () => requests.filter((p) => p.endsWith(".qcow2")).length;
      assertEquals(imageGets(), 1);

      const second = await runCubic(["create", "two", "--image", "debian:bookworm"], {
        env: home.env,
      });
      assertEquals(second.code, 0, second.stderr);
      assertEquals(imageGets(), 1, "the second instance must not download again");
      assertEquals(await listDir(home.machines), ["one", "two"]);
    } finally {
      await Deno.remove(home.root, { recursive: true });
    }
  });
});

Deno.test("a tampered image byte ends with InvalidChecksum, exit 3 and an empty cache", async () => {
  await withMirror(async ({ url, image }) => {
    // Flip one byte after the checksum file was written.
    const file = await Deno.open(image, { read: true, write: true });
    await file.seek(70_000, Deno.SeekMode.Start);
    await file.write(new Uint8Array([0x5a]));
    file.close();
    const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url });
    try {
      const result = await runCubic(["create", "bad", "--image", "debian:12"], { env: home.env });
      assertEquals(result.code, 3, result.stderr);
      assertMatch(
        result.stderr,
        /^error: Verifying 'debian-12-generic-amd64\.qcow2' failed: .* does not match/m,
      );
      assertMatch(result.stderr, /^hint: .*nothing was cached/m);
      assertEquals((await listDir(home.images)).filter((n) => !n.endsWith(".lock")), []);
      assertEquals(await listDir(home.machines), []);
    } finally {
      await Deno.remove(home.root, { recursive: true });
    }
  });
});

Deno.test("an image with a qcow2 backing file is rejected even when its checksum matches", async () => {
  await withMirror(
    async ({ url }) => {
      const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url });
      try {
        const result = await runCubic(["create", "x", "--image", "debian:12"], { env: home.env });
        assertEquals(result.code, 3, result.stderr);
        assertMatch(result.stderr, /names a backing file/);
        assertMatch(result.stderr, /^hint: .*nothing was cached/m);
        assertEquals((await listDir(home.images)).filter((n) => !n.endsWith(".lock")), []);
      } finally {
        await Deno.remove(home.root, { recursive: true });
      }
    },
    async (image, dir) => {
      await qemuImg("create", "-q", "-f", "qcow2", join(dir, "host-file.qcow2"), "32M");
      await Deno.remove(image);
      await qemuImg(
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        join(dir, "host-file.qcow2"),
        image,
      );
    },
  );
});

Deno.test("an image with an external data file naming a host file is rejected even when its checksum matches", async () => {
  await withMirror(
    async ({ url }) => {
      const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url });
      try {
        const result = await runCubic(["create", "x", "--image", "debian:12"], { env: home.env });
        assertEquals(result.code, 3, result.stderr);
        assertMatch(
          result.stderr,
          /^error: Checking 'debian-12-generic-amd64\.qcow2' failed: .*external data file \('.*secret\.raw'\)/m,
        );
        assertMatch(result.stderr, /^hint: .*nothing was cached/m);
        assertEquals((await listDir(home.images)).filter((n) => !n.endsWith(".lock")), []);
        assertEquals(await listDir(home.machines), []);
      } finally {
        await Deno.remove(home.root, { recursive: true });
      }
    },
    async (image, dir) => {
      const secret = join(dir, "secret.raw");
      await Deno.writeFile(secret, new Uint8Array(4 << 20).fill(0x53));
      await Deno.remove(image);
      await qemuImg(
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        `data_file=${secret},data_file_raw=on,preallocation=metadata`,
        image,
        "4M",
      );
    },
  );
});

/** Rewrites bytes of a real qcow2 at `offset` (a big-endian field of the header). */
async function patchImage(image: string, offset: number, bytes: number[]): Promise<void> {
  const file = await Deno.open(image, { read: true, write: true });
  try {
    await file.seek(offset, Deno.SeekMode.Start);
    await file.write(new Uint8Array(bytes));
  } finally {
    file.close();
  }
}

/** Images whose checksum matches but whose content Cubic must refuse, by the code it reports. */
const REJECTED: readonly {
  code: string;
  message: RegExp;
  prepare: (image: string) => Promise<void>;
}[] = [
  {
    code: "NotQcow2",
    message: /it is not a qcow2 disk image/,
    prepare: (image) => Deno.writeFile(image, new Uint8Array(1 << 20).fill(0x42)),
  },
  {
    code: "UnknownQcow2Feature",
    message: /incompatible features Cubic does not know \(bits 0x10000000000\)/,
    // Incompatible feature bit 40 (offset 72, big-endian u64: byte 74 holds bits 40..47).
    prepare: (image) => patchImage(image, 74, [0x01]),
  },
  {
    code: "MalformedQcow2",
    message: /its qcow2 header is malformed \(qcow2 version 4 is not supported\)/,
    prepare: (image) => patchImage(image, 4, [0, 0, 0, 4]),
  },
  {
    // The mirror controls the name: printed escaped, it can neither retitle the terminal nor
    // erase the error line and draw a fake "verified".
    code: "BackingFileImage (a name with terminal escape sequences)",
    message:
      /names a backing file \('x\\x1b\]0;PWNED\\x07\\x1b\[2K\\x1b\[1A\\x1b\[32mFAKE: verified OK\\x1b\[0m'\)/,
    prepare: async (image) => {
      await Deno.remove(image);
      const evil = "x\x1b]0;PWNED\x07\x1b[2K\x1b[1A\x1b[32mFAKE: verified OK\x1b[0m";
      await qemuImg("create", "-q", "-u", "-f", "qcow2", "-F", "raw", "-b", evil, image, "16M");
    },
  },
];

for (const { code, message, prepare } of REJECTED) {
  Deno.test(`an image rejected as ${code} exits with 3, says nothing was cached and caches nothing`, async () => {
    await withMirror(
      async ({ url }) => {
        const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url });
        try {
          const result = await runCubic(["pull", "debian:12"], { env: home.env });
          assertEquals(result.code, 3, result.stderr);
          assertMatch(result.stderr, /^error: Checking 'debian-12-generic-amd64\.qcow2' failed: /m);
          assertMatch(result.stderr, message);
          assertMatch(result.stderr, /^hint: .*; nothing was cached$/m);
          assert(
            !result.stderr.includes("\x1b") && !result.stderr.includes("\x07"),
            "no raw escapes",
          );
          assertEquals((await listDir(home.images)).filter((n) => !n.endsWith(".lock")), []);
        } finally {
          await Deno.remove(home.root, { recursive: true });
        }
      },
      prepare,
    );
  });
}

Deno.test("show prints an ssh command that sh and ssh read as meant under a data directory with blanks and quotes", async () => {
  await withMirror(async ({ url }) => {
    const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url });
    const data = join(home.root, `my "data" it's`);
    const env = { ...home.env, XDG_DATA_HOME: data };
    try {
      const created = await runCubic(["create", "web", "--image", "debian:12"], { env });
      assertEquals(created.code, 0, created.stderr);
      const shown = await runCubic(["show", "web", "--json"], { env });
      assertEquals(shown.code, 0, shown.stderr);
      const { dir, sshCommand, sshPort } = JSON.parse(shown.stdout);
      assertEquals(dir, join(data, "cubic", "machines", "web"));
      const human = await runCubic(["show", "web"], { env });
      assertMatch(human.stdout, new RegExp(`^SSH: +${RegExp.escape(sshCommand)}$`, "m"));
      // ssh -G prints the configuration the command line gives and connects nowhere.
      const out = await new Deno.Command("/bin/sh", {
        args: ["-c", sshCommand.replace(/^ssh /, "ssh -G ")],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assertEquals(out.code, 0, stderr);
      assert(!/warning/i.test(stderr), stderr);
      const read = new TextDecoder().decode(out.stdout);
      const value = (name: string) =>
        read.split("\n").find((l) => l.startsWith(`${name} `))?.slice(name.length + 1);
      assertEquals(value("userknownhostsfile"), join(dir, "known_hosts"));
      assertEquals(value("identityfile"), join(dir, "ssh_client_key"));
      assertEquals(value("port"), String(sshPort));
      assertEquals(value("user"), "cubic");
    } finally {
      await Deno.remove(home.root, { recursive: true });
    }
  });
});

Deno.test("a missing image file on the mirror is a 404 error that leaves nothing behind", async () => {
  await withMirror(async ({ url, root }) => {
    await Deno.remove(join(root, "images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2"));
    // The listing still needs the entry to resolve: write a static index naming it.
    await Deno.writeTextFile(
      join(root, "images/cloud/bookworm/latest/index.html"),
      '<a href="debian-12-generic-amd64.qcow2">debian-12-generic-amd64.qcow2</a> <a href="SHA512SUMS">SHA512SUMS</a>',
    );
    const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url });
    try {
      const result = await runCubic(["create", "x", "--image", "debian:12"], { env: home.env });
      assertEquals(result.code, 1);
      assertMatch(result.stderr, /HTTP 404/);
      assertEquals((await listDir(home.images)).filter((n) => !n.endsWith(".lock")), []);
      assertEquals(await listDir(home.machines), []);
    } finally {
      await Deno.remove(home.root, { recursive: true });
    }
  });
});

Deno.test("an unknown release is a one-line error with a hint and exit 1; an unknown vendor exits 2", async () => {
  await withMirror(async ({ url }) => {
    const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url });
    try {
      const result = await runCubic(["create", "x", "--image", "debian:potato"], { env: home.env });
      assertEquals(result.code, 1);
      const lines = result.stderr.trim().split("\n");
      assertEquals(lines.length, 2, result.stderr);
      assertMatch(lines[0]!, /^error: Looking up the image 'debian:potato:amd64' failed/);
      assertMatch(lines[1]!, /^hint: .*cubic images/);
      const vendor = await runCubic(["create", "x", "--image", "plan9:4"], { env: home.env });
      assertEquals(vendor.code, 2, "an unknown vendor is bad input, like a malformed name");
      assertMatch(vendor.stderr, /hint: Known vendors: debian/);
      const typo = await runCubic(["create", "x", "--image", "debain:12"], { env: home.env });
      assertEquals(typo.code, 2);
      assertMatch(
        typo.stderr,
        /^error: Looking up the image vendor 'debain' failed: Cubic does not know it \(did you mean 'debian'\?\)$/m,
      );
      assertEquals(await listDir(home.machines), []);
    } finally {
      await Deno.remove(home.root, { recursive: true });
    }
  });
});

Deno.test("an invalid instance name is refused before anything is downloaded", async () => {
  await withMirror(async ({ url, requests }) => {
    const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url });
    try {
      const result = await runCubic(["create", "../evil", "--image", "debian:12"], {
        env: home.env,
      });
      assertEquals(result.code, 2, result.stderr);
      assertMatch(result.stderr, /^error: Using '\.\.\/evil' as an instance name failed/m);
      assertMatch(result.stderr, /^hint: /m);
      assertEquals(requests, []);
      assertEquals(await listDir(home.root), []);
    } finally {
      await Deno.remove(home.root, { recursive: true });
    }
  });
});

Deno.test("missing QEMU says what to install and leaves no instance directory", async () => {
  await withMirror(async ({ url }) => {
    const empty = await Deno.makeTempDir();
    const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url, PATH: empty });
    try {
      const result = await runCubic(["create", "x", "--image", "debian:12"], { env: home.env });
      assertEquals(result.code, 1, result.stderr);
      assertMatch(result.stderr, /^error: Finding 'qemu-img' failed/m);
      assertMatch(result.stderr, /^hint: Install QEMU: sudo apt-get install qemu-utils/m);
      assertEquals(await listDir(home.machines), []);
    } finally {
      await Deno.remove(home.root, { recursive: true });
      await Deno.remove(empty);
    }
  });
});

Deno.test("an unreachable mirror is a network error with a hint about CUBIC_MIRROR_DEBIAN", async () => {
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: unreachableMirrorUrl() });
  try {
    const result = await runCubic(["create", "x", "--image", "debian:12"], { env: home.env });
    assertEquals(result.code, 1);
    assertMatch(
      result.stderr,
      /^error: Fetching 'http:\/\/127\.0\.0\.1:\d+\/images\/cloud\/bookworm\/latest\/' failed/m,
    );
    assert(result.stderr.includes("CUBIC_MIRROR_"), result.stderr);
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("with the mirror unreachable, create and show use the cached image and say so", async () => {
  await withMirror(async ({ url }) => {
    const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: url });
    try {
      assertEquals((await runCubic(["pull", "debian:12"], { env: home.env })).code, 0);
      const env = { ...home.env, CUBIC_MIRROR_DEBIAN: unreachableMirrorUrl() };

      const create = await runCubic(["create", "offline", "--image", "debian:12"], { env });
      assertEquals(create.code, 0, create.stderr);
      assertMatch(
        create.stderr,
        /^warning: the debian mirror is unreachable; using the cached image verified at /m,
      );

      const show = await runCubic(["show", "debian:12"], { env });
      assertEquals(show.code, 0, show.stderr);
      assertMatch(
        show.stderr,
        /^warning: the debian mirror is unreachable; showing the cached image as verified at /m,
      );
      assertMatch(show.stdout, /^Checksum: +sha512:[0-9a-f]{128}$/m);
      assertMatch(show.stdout, /^Signature: +none: only the checksum was verified at download$/m);
      assertMatch(
        show.stdout,
        /^Cached: +.*debian-12-amd64-[0-9a-f]{16}\.qcow2 \(verified .*; the mirror was not reachable\)$/m,
      );

      const json = await runCubic(["show", "--json", "debian:12"], { env });
      assertEquals(json.code, 0, json.stderr);
      const info = JSON.parse(json.stdout);
      assertEquals(info.image, "debian:12:amd64");
      assertEquals(info.imageUrl.startsWith(url), true, "the URL it was verified from");
    } finally {
      await Deno.remove(home.root, { recursive: true });
    }
  });
});
