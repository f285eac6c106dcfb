/**
 * Every built-in provider against its vendor's real layout, through the real CLI: one small real
 * qcow2 (made by qemu-img) is published on one local mirror on 127.0.0.1 as each vendor publishes
 * its cloud image — file names, checksum formats, signature files (made with a throwaway GnuPG
 * key that config.yaml trusts) — then pulled, verified and cached. No VM boots.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../support/assert.ts";
import { type CubicHome, listDir, makeCubicHome, runCubic } from "../support/cli.ts";
import { layoutDebianMirror } from "../support/debian_mirror.ts";
import { startMirrorServer } from "../support/mirror_server.ts";
import {
  createTestSigningKey,
  type TestSigningKey,
  trustKeyInConfig,
} from "../support/test_signing_key.ts";
import {
  layoutAlmalinux,
  layoutArchlinux,
  layoutCentosStream,
  layoutFedora,
  layoutGentoo,
  layoutOpensuse,
  layoutRockylinux,
  layoutUbuntu,
  type VendorLayout,
} from "../support/vendor_mirrors.ts";
import { PROVIDERS } from "../../providers/mod.ts";
import { mirrorEnvName } from "../../src/config.ts";
import { fetchText } from "../../src/http.ts";
import type { ImageRef } from "../../src/provider.ts";

type Publish = (image: string, root: string, key: TestSigningKey) => Promise<VendorLayout>;

/** One layout per provider id; a provider missing here fails the test instead of being skipped. */
const LAYOUTS: Readonly<Record<string, Publish>> = {
  debian: async (image, root) => {
    await layoutDebianMirror(image, root);
    return { vendor: "debian", basePath: "/images/cloud/", image: "debian:12" };
  },
  almalinux: layoutAlmalinux,
  archlinux: layoutArchlinux,
  "centos-stream": (image, root) => layoutCentosStream(image, root),
  fedora: layoutFedora,
  gentoo: layoutGentoo,
  opensuse: layoutOpensuse,
  rockylinux: (image, root) => layoutRockylinux(image, root),
  ubuntu: layoutUbuntu,
};

/** A cached image's `.json` sidecar, as far as this test reads it. */
interface Sidecar {
  vendor: string;
  names: string[];
  arch: string;
  imageUrl: string;
  algorithm: "sha256" | "sha512";
  digest: string;
  size: number;
  trust?: unknown;
}

/** The trust record Cubic must write for `ref` when `key` signed everything on the mirror. */
function expectedTrust(ref: ImageRef, key: TestSigningKey): unknown {
  const signature = ref.signature;
  if (signature === undefined) return { kind: "checksum-only" };
  return signature.kind === "clearsigned"
    ? {
      kind: "signature",
      over: "checksum",
      signer: key.fingerprint,
      signatureUrl: ref.checksumUrl,
    }
    : {
      kind: "signature",
      over: signature.over,
      signer: key.fingerprint,
      signatureUrl: signature.url,
    };
}

/** Hex digest of a file, computed here rather than by Cubic's own code. */
async function digestOf(path: string, algorithm: "sha256" | "sha512"): Promise<string> {
  const name = algorithm === "sha256" ? "SHA-256" : "SHA-512";
  const hash = new Uint8Array(await crypto.subtle.digest(name, await Deno.readFile(path)));
  return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The visible `.qcow2` files of the cache with their sidecars. */
async function cachedImages(dir: string): Promise<{ file: string; meta: Sidecar }[]> {
  const files = (await listDir(dir)).filter((n) => !n.startsWith(".") && n.endsWith(".qcow2"));
  return await Promise.all(files.map(async (file) => ({
    file,
    meta: JSON.parse(await Deno.readTextFile(join(dir, `${file}.json`))) as Sidecar,
  })));
}

Deno.test("every built-in provider pulls a verified image from its vendor's layout on one local mirror", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "cubic-layouts-" });
  const image = join(work, "x.qcow2");
  const made = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", "qcow2", image, "16M"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert(made.success, new TextDecoder().decode(made.stderr));
  const root = join(work, "mirror");
  const key = await createTestSigningKey();
  let home: CubicHome | undefined;
  try {
    const layouts: { layout: VendorLayout; ref: ImageRef }[] = [];
    const published: VendorLayout[] = [];
    for (const provider of PROVIDERS) {
      const publish = LAYOUTS[provider.id];
      assert(publish, `no vendor layout for provider '${provider.id}'`);
      published.push(await publish(image, root, key));
    }
    const mirror = await startMirrorServer(root);
    try {
      const env: Record<string, string> = {};
      for (const [i, provider] of PROVIDERS.entries()) {
        const layout = published[i]!;
        assertEquals(layout.vendor, provider.id);
        const baseUrl = `${mirror.url}${layout.basePath}`;
        env[mirrorEnvName(provider.id)] = baseUrl;
        const name = layout.image.split(":")[1]!;
        const ref = await provider.resolve({ baseUrl, fetchText }, name, "amd64");
        assert(ref, `${provider.id} resolves nothing for ${layout.image} in its layout`);
        layouts.push({ layout, ref });
      }
      home = await makeCubicHome(env);
      // Trusted for every vendor, so checksum-only means the provider checks no signature.
      await trustKeyInConfig(
        home.env.XDG_CONFIG_HOME!,
        PROVIDERS.map((p) => p.id),
        key.publicKey,
      );
      const cubic = (args: string[]) => runCubic(args, { env: home!.env });

      for (const { layout, ref } of layouts) {
        const trust = ref.signature ? "a signature by the test key" : "checksum-only trust";
        await t.step(
          `cubic pull ${layout.image} verifies ${ref.fileName} and records ${trust}`,
          async () => {
            const r = await cubic(["pull", `${layout.image}:amd64`]);
            assertEquals(r.code, 0, `${layout.vendor}: ${r.stderr}`);
            const mine = (await cachedImages(home!.images)).filter((c) =>
              c.meta.vendor === layout.vendor
            );
            assertEquals(mine.length, 1, `${layout.vendor}: ${JSON.stringify(mine)}`);
            const { file, meta } = mine[0]!;
            assertEquals(meta.imageUrl, ref.imageUrl);
            assertEquals(meta.arch, "amd64");
            assertEquals(meta.algorithm, ref.algorithm);
            assertEquals(meta.digest, await digestOf(image, ref.algorithm));
            assertEquals(meta.size, (await Deno.stat(image)).size);
            assertEquals(
              file,
              `${ref.vendor}-${ref.names[0]}-amd64-${meta.digest.slice(0, 16)}.qcow2`,
            );
            assertEquals(meta.trust, expectedTrust(ref, key));
          },
        );
      }

      await t.step(
        "the cache holds exactly one verified image per vendor and nothing half-done",
        async () => {
          const cached = await cachedImages(home!.images);
          assertEquals(
            cached.map((c) => c.meta.vendor).sort(),
            PROVIDERS.map((p) => p.id).sort(),
          );
          for (const { file, meta } of cached) {
            assertEquals(await digestOf(join(home!.images, file), meta.algorithm), meta.digest);
          }
          const hidden = (await listDir(home!.images)).filter((n) =>
            n.startsWith(".") && !n.endsWith(".lock")
          );
          assertEquals(hidden, []);
        },
      );

      await t.step(
        "cubic images --json --all lists exactly the built-in vendors, all cached",
        async () => {
          const r = await cubic(["images", "--json", "--all"]);
          assertEquals(r.code, 0, r.stderr);
          assertEquals(r.stderr.match(/listing failed/g) ?? [], [], r.stderr);
          const rows = JSON.parse(r.stdout) as {
            vendor: string;
            name: string;
            arch: string;
            cached: boolean;
            signed: boolean;
          }[];
          assertEquals(
            [...new Set(rows.map((row) => row.vendor))].sort(),
            PROVIDERS.map((p) => p.id).sort(),
          );
          for (const { layout, ref } of layouts) {
            const row = rows.find((x) =>
              x.vendor === layout.vendor && x.name === ref.names[0] && x.arch === "amd64"
            );
            assert(row, `${layout.vendor}: no row for ${layout.image} in ${r.stdout}`);
            assertEquals(row.cached, true, layout.vendor);
            assertEquals(row.signed, ref.signature !== undefined, layout.vendor);
          }
        },
      );
    } finally {
      await mirror.close();
    }
  } finally {
    await key.remove();
    if (home) await Deno.remove(home.root, { recursive: true }).catch(() => {});
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});
