/**
 * Signatures end to end through the real CLI, against vendor layouts on a local mirror signed by
 * a throwaway GnuPG key: `cubic show` believes a checksum file exactly as `cubic pull` does (same
 * keys, same verification), detached signatures are checked over the bytes received, signature
 * files are capped in size, a failed signature fetch is reported as such, weak and untrusted
 * signatures say why, and config.yaml keys a vendor cannot use are reported. No VM boots.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { type CubicHome, listDir, makeCubicHome, runCubic } from "../support/cli.ts";
import { layoutDebianMirror } from "../support/debian_mirror.ts";
import { type FaultyServer, filesUnder, startFaultyServer } from "../support/faulty_server.ts";
import { startMirrorServer } from "../support/mirror_server.ts";
import {
  createTestSigningKey,
  type TestSigningKey,
  trustKeyInConfig,
} from "../support/test_signing_key.ts";
import {
  layoutArchlinux,
  layoutFedora,
  layoutUbuntu,
  type VendorLayout,
} from "../support/vendor_mirrors.ts";

const UBUNTU_DIR = "minimal/releases/noble/release";
const UBUNTU_IMAGE = "ubuntu-24.04-minimal-cloudimg-amd64.img";
const FEDORA_DIR = "pub/fedora/linux/releases/44/Cloud/x86_64/images";
const FEDORA_CHECKSUM = "Fedora-Cloud-44-1.7-x86_64-CHECKSUM";
const FEDORA_IMAGE = "Fedora-Cloud-Base-Generic-44-1.7.x86_64.qcow2";
const ARCH_IMAGE = "Arch-Linux-x86_64-cloudimg-20261201.400000.qcow2";
const ARCH_IMAGE_PATH = `/images/latest/${ARCH_IMAGE}`;
const ARCH_SIG_PATH = `${ARCH_IMAGE_PATH}.sig`;
const MIB = 1024 * 1024;
/** A digest no real image has: what an attacker would put in a checksum file. */
const FORGED = "f".repeat(64);

type Publish = (image: string, root: string, key: TestSigningKey) => Promise<VendorLayout>;

interface World {
  root: string;
  image: string;
  key: TestSigningKey;
  /** The mirror base URL env for a layout on `url`. */
  env(url: string, layout: VendorLayout): Record<string, string>;
}

/** A small real qcow2, a signing key and a mirror root; everything is removed afterwards. */
async function withWorld(fn: (world: World) => Promise<void>): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "cubic-trust-" });
  const image = join(work, "x.qcow2");
  const made = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", "qcow2", image, "16M"],
    stderr: "piped",
  }).output();
  assert(made.success, new TextDecoder().decode(made.stderr));
  const key = await createTestSigningKey();
  try {
    await fn({
      root: join(work, "mirror"),
      image,
      key,
      env: (url, layout) => ({
        [`CUBIC_MIRROR_${layout.vendor.toUpperCase().replaceAll("-", "_")}`]:
          `${url}${layout.basePath}`,
      }),
    });
  } finally {
    await key.remove();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/** A Cubic home for `env` that trusts `key` (when given) for `vendors` in config.yaml. */
async function home(
  env: Record<string, string>,
  trust?: { key: TestSigningKey; vendors: string[] },
): Promise<CubicHome> {
  const h = await makeCubicHome(env);
  if (trust) await trustKeyInConfig(h.env.XDG_CONFIG_HOME!, trust.vendors, trust.key.publicKey);
  return h;
}

/** Serves `root` with the static mirror server while `fn` runs. */
async function serving(root: string, fn: (url: string) => Promise<void>): Promise<void> {
  const server = await startMirrorServer(root);
  try {
    await fn(server.url);
  } finally {
    await server.close();
  }
}

/** The layout published by `publish` on a faulty server, while `fn` runs. */
async function faulty(
  world: World,
  publish: Publish,
  fn: (server: FaultyServer, layout: VendorLayout) => Promise<void>,
): Promise<void> {
  const layout = await publish(world.image, world.root, world.key);
  const server = startFaultyServer(await filesUnder(world.root));
  try {
    await fn(server, layout);
  } finally {
    await server.close();
  }
}

async function removeHome(h: CubicHome): Promise<void> {
  await Deno.remove(h.root, { recursive: true }).catch(() => {});
}

/** The cache's visible entries (images and their records), without the lock and partials. */
async function cached(h: CubicHome): Promise<string[]> {
  return (await listDir(h.images)).filter((n) => !n.startsWith("."));
}

// ---- cubic show verifies like cubic pull ---------------------------------------------------

Deno.test("show verifies a signed checksum file like pull and names the signer and every trusted key", async () => {
  await withWorld(async (world) => {
    const layouts = [
      await layoutUbuntu(world.image, world.root, world.key),
      await layoutFedora(world.image, world.root, world.key),
      await layoutArchlinux(world.image, world.root, world.key),
    ];
    await serving(world.root, async (url) => {
      const h = await home(
        Object.assign({}, ...layouts.map((l) => world.env(url, l))),
        { key: world.key, vendors: ["ubuntu", "fedora", "archlinux"] },
      );
      try {
        const fpr = world.key.fingerprint;
        const ubuntu = await runCubic(["show", "ubuntu:noble"], { env: h.env });
        assertEquals(ubuntu.code, 0, ubuntu.stderr);
        assertMatch(
          ubuntu.stdout,
          new RegExp(
            `^Signature: +verified, signed by ${fpr} \\(OpenPGP detached signature http://127\\.0\\.0\\.1:\\d+/${UBUNTU_DIR}/SHA256SUMS\\.gpg over the checksum file; checked against 2 keys: 1 Ubuntu key built into Cubic, 1 from config\\.yaml\\)$`,
            "m",
          ),
        );
        const fedora = await runCubic(["show", "fedora:44"], { env: h.env });
        assertEquals(fedora.code, 0, fedora.stderr);
        assertMatch(
          fedora.stdout,
          new RegExp(
            `^Signature: +verified, signed by ${fpr} \\(OpenPGP clear-signed checksum file; checked against 2 keys: 1 Fedora key built into Cubic, 1 from config\\.yaml\\)$`,
            "m",
          ),
        );
        const arch = await runCubic(["show", "archlinux:latest:amd64"], { env: h.env });
        assertEquals(arch.code, 0, arch.stderr);
        assertMatch(
          arch.stdout,
          /^Signature: +OpenPGP detached signature over the image at http:\/\/127\.0\.0\.1:\d+\/images\/latest\/Arch-.*\.qcow2\.sig, checked when the image is downloaded, against 2 keys: 1 Arch Linux key built into Cubic, 1 from config\.yaml$/m,
        );
        const json = await runCubic(["show", "--json", "ubuntu:noble"], { env: h.env });
        assertEquals(json.code, 0, json.stderr);
        assertEquals(JSON.parse(json.stdout).signer, fpr);
      } finally {
        await removeHome(h);
      }
    });
  });
});

Deno.test("show refuses a SHA256SUMS changed after signing with exit 3, as pull does, and never prints its digest", async () => {
  await withWorld(async (world) => {
    const layout = await layoutUbuntu(world.image, world.root, world.key);
    const sums = join(world.root, UBUNTU_DIR, "SHA256SUMS");
    const original = await Deno.readTextFile(sums);
    await Deno.writeTextFile(
      sums,
      original.replace(
        /^[0-9a-f]{64}( \*ubuntu-24\.04-minimal-cloudimg-amd64\.img)$/m,
        `${FORGED}$1`,
      ),
    );
    assert((await Deno.readTextFile(sums)).includes(FORGED));
    await serving(world.root, async (url) => {
      const h = await home(world.env(url, layout), { key: world.key, vendors: ["ubuntu"] });
      try {
        for (const args of [["show", "ubuntu:noble"], ["show", "--json", "ubuntu:noble"]]) {
          const shown = await runCubic(args, { env: h.env });
          assertEquals(shown.code, 3, shown.stderr);
          assertMatch(
            shown.stderr,
            /^error: Verifying the OpenPGP signature of "http:.*\/SHA256SUMS" failed: the signature by [0-9A-F]{40} is not valid/m,
          );
          assert(!shown.stdout.includes(FORGED), shown.stdout);
        }
        const pulled = await runCubic(["pull", "ubuntu:noble"], { env: h.env });
        assertEquals(pulled.code, 3, pulled.stderr);
        assertEquals(await cached(h), []);
      } finally {
        await removeHome(h);
      }
    });
  });
});

Deno.test("show refuses a Fedora CHECKSUM with a forged clear-signed block put before the vendor's", async () => {
  await withWorld(async (world) => {
    const layout = await layoutFedora(world.image, world.root, world.key);
    const attacker = await createTestSigningKey("Attacker");
    try {
      const dir = join(world.root, FEDORA_DIR);
      const forged = join(dir, ".forged");
      await Deno.writeTextFile(forged, `SHA256 (${FEDORA_IMAGE}) = ${FORGED}\n`);
      await attacker.sign(forged, { out: `${forged}.asc`, mode: "clearsign" });
      const checksum = join(dir, FEDORA_CHECKSUM);
      await Deno.writeTextFile(
        checksum,
        (await Deno.readTextFile(`${forged}.asc`)) + (await Deno.readTextFile(checksum)),
      );
      await serving(world.root, async (url) => {
        const h = await home(world.env(url, layout), { key: world.key, vendors: ["fedora"] });
        try {
          const shown = await runCubic(["show", "fedora:44"], { env: h.env });
          assertEquals(shown.code, 3, shown.stderr);
          assertMatch(shown.stderr, new RegExp(`made by ${attacker.fingerprint}`));
          assert(!shown.stdout.includes(FORGED), shown.stdout);
          const pulled = await runCubic(["pull", "fedora:44"], { env: h.env });
          assertEquals(pulled.code, 3, pulled.stderr);
          assertEquals(await cached(h), []);
        } finally {
          await removeHome(h);
        }
      });
    } finally {
      await attacker.remove();
    }
  });
});

// ---- detached signatures over the bytes received --------------------------------------------

Deno.test("a validly signed SHA256SUMS with a byte-order mark and bytes that are not UTF-8 verifies", async () => {
  await withWorld(async (world) => {
    const layout = await layoutUbuntu(world.image, world.root, world.key);
    const sums = join(world.root, UBUNTU_DIR, "SHA256SUMS");
    const lines = new TextEncoder().encode(await Deno.readTextFile(sums));
    // A BOM, then a Latin-1 comment ("Prüfsummen"), then the real lines.
    const latin1 = Uint8Array.from([..."# Pr\u00fcfsummen\n"].map((c) => c.charCodeAt(0)));
    await Deno.writeFile(sums, new Uint8Array([0xef, 0xbb, 0xbf, ...latin1, ...lines]));
    await world.key.sign(sums, { out: `${sums}.gpg`, mode: "detach-armor" });
    await serving(world.root, async (url) => {
      const h = await home(world.env(url, layout), { key: world.key, vendors: ["ubuntu"] });
      try {
        const shown = await runCubic(["show", "ubuntu:noble"], { env: h.env });
        assertEquals(shown.code, 0, shown.stderr);
        assertMatch(shown.stdout, /^Signature: +verified, signed by /m);
        const pulled = await runCubic(["pull", "ubuntu:noble"], { env: h.env });
        assertEquals(pulled.code, 0, pulled.stderr);
        const [record] = (await cached(h)).filter((n) => n.endsWith(".json"));
        assert(record, "no cached image");
        const meta = JSON.parse(await Deno.readTextFile(join(h.images, record)));
        assertEquals(meta.trust.signer, world.key.fingerprint);
      } finally {
        await removeHome(h);
      }
    });
  });
});

// ---- untrusted, weak and oversized signatures -------------------------------------------------

Deno.test("an untrusted signer's hint names the keys config.yaml adds, and only the built-in ones without it", async () => {
  await withWorld(async (world) => {
    const layout = await layoutUbuntu(world.image, world.root, world.key);
    const other = await createTestSigningKey("Another Mirror");
    try {
      await serving(world.root, async (url) => {
        const withConfig = await home(world.env(url, layout), { key: other, vendors: ["ubuntu"] });
        const without = await home(world.env(url, layout));
        try {
          const a = await runCubic(["pull", "ubuntu:noble"], { env: withConfig.env });
          assertEquals(a.code, 3, a.stderr);
          assertMatch(
            a.stderr,
            new RegExp(`made by ${world.key.fingerprint}, which is not a trusted key`),
          );
          assertMatch(
            a.stderr,
            /^hint: Cubic trusts the vendor keys built into it plus the 1 key\(s\) under 'keys: \{ ubuntu: \[\.\.\.\] \}' in config\.yaml, and none of them made this signature/m,
          );
          assert(!a.stderr.includes("trusts only"), a.stderr);

          const b = await runCubic(["pull", "ubuntu:noble"], { env: without.env });
          assertEquals(b.code, 3, b.stderr);
          assertMatch(b.stderr, /^hint: Cubic trusts only the vendor keys built into it /m);
          assertEquals(await cached(withConfig), []);
          assertEquals(await cached(without), []);
        } finally {
          await removeHome(withConfig);
          await removeHome(without);
        }
      });
    } finally {
      await other.remove();
    }
  });
});

Deno.test("a signature made with SHA-1 is refused as too weak, not as a changed file", async () => {
  await withWorld(async (world) => {
    const layout = await layoutUbuntu(world.image, world.root, world.key);
    const sums = join(world.root, UBUNTU_DIR, "SHA256SUMS");
    await world.key.sign(sums, { out: `${sums}.gpg`, mode: "detach-armor", digest: "SHA1" });
    await serving(world.root, async (url) => {
      const h = await home(world.env(url, layout), { key: world.key, vendors: ["ubuntu"] });
      try {
        for (const command of ["pull", "show"]) {
          const r = await runCubic([command, "ubuntu:noble"], { env: h.env });
          assertEquals(r.code, 3, r.stderr);
          assertMatch(
            r.stderr,
            /^error: Verifying the OpenPGP signature of .* failed: the signature by [0-9A-F]{40} uses the hash algorithm SHA1, which is too weak to prove anything$/m,
          );
          assert(!/changed/.test(r.stderr), r.stderr);
        }
        assertEquals(await cached(h), []);
      } finally {
        await removeHome(h);
      }
    });
  });
});

for (const declared of [true, false]) {
  const how = declared ? "declared by Content-Length" : "streamed without a length";
  Deno.test(`a signature file larger than 1 MiB (${how}) is refused after reading at most about 1 MiB`, async () => {
    await withWorld(async (world) => {
      await faulty(world, layoutUbuntu, async (server, layout) => {
        const gpg = `/${UBUNTU_DIR}/SHA256SUMS.gpg`;
        const huge = new Uint8Array(64 * MIB).fill(0x41);
        server.behave((r) =>
          r.path === gpg ? { status: 200, body: huge, omitLength: !declared } : {}
        );
        const h = await home(world.env(server.url, layout), {
          key: world.key,
          vendors: ["ubuntu"],
        });
        try {
          const r = await runCubic(["pull", "ubuntu:noble"], { env: h.env });
          assertEquals(r.code, 3, r.stderr);
          assertMatch(
            r.stderr,
            /^error: Verifying ubuntu:24\.04 failed: the signature at http:.*SHA256SUMS\.gpg is larger than 1 MiB, and a real one is a few KiB$/m,
          );
          assertMatch(r.stderr, /^hint: .*nothing was cached/m);
          const requests = server.requestsFor(gpg);
          assertEquals(requests.length, 1, "a too large signature is not fetched again");
          // Whatever the socket buffers took, the client stopped reading long before 64 MiB.
          assert(requests[0]!.bodyBytes < 16 * MIB, `sent ${requests[0]!.bodyBytes} bytes`);
          assertEquals(server.requestsFor(`/${UBUNTU_DIR}/${UBUNTU_IMAGE}`).length, 0);
        } finally {
          await removeHome(h);
        }
      });
    });
  });
}

// ---- a signature that cannot be fetched -------------------------------------------------------

Deno.test("an image signature the mirror fails to serve is reported as such, and the next pull fetches only the signature", async () => {
  await withWorld(async (world) => {
    await faulty(world, layoutArchlinux, async (server, layout) => {
      server.behave((r) => r.path === ARCH_SIG_PATH ? { status: 503 } : {});
      const h = await home(
        { ...world.env(server.url, layout), CUBIC_RETRY_DELAY_MS: "10" },
        { key: world.key, vendors: ["archlinux"] },
      );
      try {
        const size = (await Deno.stat(world.image)).size;
        const first = await runCubic(["pull", "archlinux:latest:amd64"], { env: h.env });
        assertEquals(first.code, 1, first.stderr);
        assertMatch(
          first.stderr,
          new RegExp(
            `^error: Fetching the signature 'http://127\\.0\\.0\\.1:\\d+${
              ARCH_SIG_PATH.replaceAll(".", "\\.")
            }' of '${
              ARCH_IMAGE.replaceAll(".", "\\.")
            }' failed after 4 attempts: HTTP 503 Service Unavailable$`,
            "m",
          ),
        );
        assertMatch(
          first.stderr,
          /^hint: The downloaded image \(.+\) is kept, not yet trusted: run `cubic pull archlinux:latest:amd64` to fetch the signature again without downloading the image again/m,
        );
        assert(!first.stderr.includes("Downloading '"), first.stderr);
        assertEquals(server.requestsFor(ARCH_SIG_PATH).length, 4);
        assertEquals(server.requestsFor(ARCH_IMAGE_PATH).length, 1);
        assertEquals(await cached(h), []);
        const partial = ".archlinux-latest-amd64.partial";
        assertEquals((await Deno.stat(join(h.images, partial))).size, size);

        server.behave(() => ({}));
        const second = await runCubic(["pull", "archlinux:latest:amd64"], { env: h.env });
        assertEquals(second.code, 0, second.stderr);
        assertEquals(server.requestsFor(ARCH_IMAGE_PATH).length, 1, "the image is not sent again");
        assertEquals(server.requestsFor(ARCH_SIG_PATH).length, 5);
        assertEquals((await cached(h)).length, 2);
        assertEquals((await listDir(h.images)).filter((n) => n.includes("partial")), []);
      } finally {
        await removeHome(h);
      }
    });
  });
});

Deno.test("a signature fetch that fails twice with 503 is retried within the same pull and verifies", async () => {
  await withWorld(async (world) => {
    await faulty(world, layoutArchlinux, async (server, layout) => {
      server.behave((r, nth) => r.path === ARCH_SIG_PATH && nth < 2 ? { status: 503 } : {});
      const h = await home(
        { ...world.env(server.url, layout), CUBIC_RETRY_DELAY_MS: "10" },
        { key: world.key, vendors: ["archlinux"] },
      );
      try {
        const r = await runCubic(["pull", "archlinux:latest:amd64"], { env: h.env });
        assertEquals(r.code, 0, r.stderr);
        assertEquals(server.requestsFor(ARCH_SIG_PATH).map((q) => q.status), [503, 503, 200]);
        assertEquals(server.requestsFor(ARCH_IMAGE_PATH).length, 1);
      } finally {
        await removeHome(h);
      }
    });
  });
});

Deno.test("an image signature that is missing (404) is exit 3 and nothing, not even the partial, is kept", async () => {
  await withWorld(async (world) => {
    await faulty(world, layoutArchlinux, async (server, layout) => {
      server.behave((r) => r.path === ARCH_SIG_PATH ? { status: 404 } : {});
      const h = await home(world.env(server.url, layout), {
        key: world.key,
        vendors: ["archlinux"],
      });
      try {
        const r = await runCubic(["pull", "archlinux:latest:amd64"], { env: h.env });
        assertEquals(r.code, 3, r.stderr);
        assertMatch(
          r.stderr,
          /^error: Verifying archlinux:latest failed: the vendor signs it, but the mirror has no signature at /m,
        );
        assertMatch(r.stderr, /^hint: .*Nothing was cached$/m);
        assertEquals(server.requestsFor(ARCH_SIG_PATH).length, 1);
        assertEquals((await listDir(h.images)).filter((n) => !n.endsWith(".lock")), []);
      } finally {
        await removeHome(h);
      }
    });
  });
});

// ---- redirects ------------------------------------------------------------------------------

for (
  const [what, location, message] of [
    [
      "to a non-http(s) URL",
      "ftp://127.0.0.1/debian.qcow2",
      /redirects to a URL that is not http or https/,
    ],
    ["in a loop", "SELF", /redirects more than 20 times \(a redirect loop\)/],
  ] as const
) {
  Deno.test(`an image that redirects ${what} fails at once with a clear error, not retried`, async () => {
    await withWorld(async (world) => {
      const publish: Publish = async (image, root) => {
        await layoutDebianMirror(image, root);
        return { vendor: "debian", basePath: "/images/cloud/", image: "debian:12" };
      };
      await faulty(world, publish, async (server, layout) => {
        const path = "/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2";
        server.behave((r) =>
          r.path === path
            ? { status: 302, headers: { Location: location === "SELF" ? path : location } }
            : {}
        );
        const h = await home({ ...world.env(server.url, layout), CUBIC_RETRY_DELAY_MS: "10" });
        try {
          const r = await runCubic(["pull", "debian:12"], { env: h.env });
          assertEquals(r.code, 1, r.stderr);
          assertMatch(
            r.stderr,
            /^error: Fetching 'http:.*debian-12-generic-amd64\.qcow2' failed: /m,
          );
          assertMatch(r.stderr, message);
          assert(!/Check the network|attempts/.test(r.stderr), r.stderr);
          assertMatch(
            r.stderr,
            /^hint: The mirror's redirects lead nowhere Cubic can download from/m,
          );
          // One attempt: the first request plus, for a loop, the redirects fetch followed.
          assertEquals(server.requestsFor(path).length, location === "SELF" ? 21 : 1);
          assertEquals((await listDir(h.images)).filter((n) => !n.endsWith(".lock")), []);
        } finally {
          await removeHome(h);
        }
      });
    });
  });
}

// ---- config.yaml keys a vendor cannot use -------------------------------------------------------

Deno.test("config.yaml keys for a vendor that signs nothing are reported as unused, once", async () => {
  await withWorld(async (world) => {
    await layoutDebianMirror(world.image, world.root);
    const layout: VendorLayout = {
      vendor: "debian",
      basePath: "/images/cloud/",
      image: "debian:12",
    };
    await serving(world.root, async (url) => {
      const h = await home(world.env(url, layout), { key: world.key, vendors: ["debian"] });
      try {
        const r = await runCubic(["pull", "debian:12", "debian:bookworm"], { env: h.env });
        assertEquals(r.code, 0, r.stderr);
        const warnings = r.stderr.match(/^warning: keys for debian are not used: .*$/gm) ?? [];
        assertEquals(warnings.length, 1, r.stderr);
        assertMatch(
          warnings[0]!,
          /^warning: keys for debian are not used: Debian publishes no signature for this image/,
        );
        const shown = await runCubic(["show", "debian:12"], { env: h.env });
        assertEquals(shown.code, 0, shown.stderr);
        assertMatch(shown.stderr, /^warning: keys for debian are not used: /m);
        const meta = (await cached(h)).filter((n) => n.endsWith(".json"));
        assertEquals(meta.length, 1);
        assertEquals(
          JSON.parse(await Deno.readTextFile(join(h.images, meta[0]!))).trust,
          { kind: "checksum-only" },
        );
      } finally {
        await removeHome(h);
      }
    });
  });
});
