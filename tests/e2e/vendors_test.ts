/**
 * Other vendors' layouts end to end: the real Debian test image published as Ubuntu, Fedora and
 * Arch Linux publish theirs (file names, checksum formats, signature files), signed by a key the
 * test generates and trusts through config.yaml. Each layout is pulled, verified, booted and
 * logged into for real. Untrusted and tampered signatures are refused before anything is cached.
 */
import { join } from "node:path";
import { assertEquals, assertMatch } from "../support/assert.ts";
import { listDir, makeCubicHome, runCubic } from "../support/cli.ts";
import { startMirrorServer } from "../support/mirror_server.ts";
import { createTestSigningKey, trustKeyInConfig } from "../support/test_signing_key.ts";
import { testImage } from "../support/test_image.ts";
import {
  layoutArchlinux,
  layoutFedora,
  layoutUbuntu,
  type VendorLayout,
} from "../support/vendor_mirrors.ts";

Deno.test({
  name: "ubuntu, fedora and archlinux layouts verify their signatures and boot end to end",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const image = await testImage();
    const key = await createTestSigningKey();
    const root = await Deno.makeTempDir({ prefix: "cubic-vendors-" });
    const layouts: VendorLayout[] = [
      await layoutUbuntu(image, root, key),
      await layoutFedora(image, root, key),
      await layoutArchlinux(image, root, key),
    ];
    const server = await startMirrorServer(root);
    const mirrors: Record<string, string> = {};
    for (const l of layouts) {
      mirrors[`CUBIC_MIRROR_${l.vendor.toUpperCase()}`] = `${server.url}${l.basePath}`;
    }
    const home = await makeCubicHome(mirrors);
    const cubic = (args: string[], stdin?: string) =>
      runCubic(args, { env: home.env, ...(stdin === undefined ? {} : { stdin }) });
    try {
      await t.step(
        "a signature by a key nobody trusts is refused and nothing is cached",
        async () => {
          for (const l of layouts) {
            const r = await cubic(["pull", l.image]);
            assertEquals(r.code, 3, `${l.vendor}: ${r.stderr}`);
            assertMatch(r.stderr, new RegExp(key.fingerprint.slice(-16), "i"));
          }
          assertEquals((await listDir(home.images)).filter((n) => !n.startsWith(".")), []);
        },
      );

      await trustKeyInConfig(
        home.env.XDG_CONFIG_HOME!,
        layouts.map((l) => l.vendor),
        key.publicKey,
      );

      await t.step("a checksum file changed after signing is refused", async () => {
        const sums = join(root, "minimal/releases/noble/release/SHA256SUMS");
        const original = await Deno.readTextFile(sums);
        await Deno.writeTextFile(sums, original.replace(/^0/m, "1"));
        try {
          const r = await cubic(["pull", "ubuntu:noble"]);
          assertEquals(r.code, 3, r.stderr);
          assertMatch(r.stderr, /signature/i);
          assertEquals((await listDir(home.images)).filter((n) => !n.startsWith(".")), []);
        } finally {
          await Deno.writeTextFile(sums, original);
        }
      });

      for (const l of layouts) {
        await t.step(
          `${l.image} is verified by its signature, and run boots it and runs a command`,
          async () => {
            const name = `v-${l.vendor}`;
            const show = await cubic(["show", l.image]);
            assertEquals(show.code, 0, show.stderr);
            assertMatch(show.stdout, /^Signature: +(verified, signed by [0-9A-F]{40}|OpenPGP)/m);
            // `run` is create + start + the command: README's one-command promise, per vendor.
            // Arch's run gets the command as a piped script instead: the script's output only,
            // no login banner, and the script's exit code.
            const base = ["run", name, "-i", l.image, "--cpus", "2", "--memory", "1G"];
            const piped = l.vendor === "archlinux";
            const r = piped
              ? await cubic(base, "cat /etc/os-release\nexit 9\n")
              : await cubic([...base, "--", "cat /etc/os-release"]);
            assertEquals(r.code, piped ? 9 : 0, r.stderr);
            assertMatch(r.stdout, /^ID=debian$/m);
            if (piped) assertMatch(r.stdout, /^PRETTY_NAME=/, "the script's output comes first");
            const cached = JSON.parse((await cubic(["instances", "--json"])).stdout);
            assertEquals(cached.map((i: { name: string }) => i.name), [name]);
            assertEquals((await cubic(["delete", "--yes", name])).code, 0);
          },
        );
      }
    } finally {
      await runCubic(["stop", "--all", "--force"], { env: home.env }).catch(() => {});
      await server.close();
      await key.remove();
      await Deno.remove(home.root, { recursive: true }).catch(() => {});
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
