import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { fedora } from "./fedora.ts";
import { fixtureFetcher, FIXTURES } from "../tests/support/fixture_fetcher.ts";
import { expectedDigest } from "../src/checksum.ts";
import { FEDORA_44_KEY } from "./keys/fedora.ts";

const BASE = "https://dl.fedoraproject.org/pub/fedora/linux/releases/";
const ctx = () => ({
  baseUrl: BASE,
  fetchText: fixtureFetcher(BASE, `${FIXTURES}fedora/pub/fedora/linux/releases/`),
});

Deno.test("fedora resolves fedora:44 on amd64 to the compose-dated Generic image and its clear-signed CHECKSUM", async () => {
  const dir = `${BASE}44/Cloud/x86_64/images/`;
  assertEquals(await fedora.resolve(ctx(), "44", "amd64"), {
    vendor: "fedora",
    names: ["44"],
    arch: "amd64",
    imageUrl: `${dir}Fedora-Cloud-Base-Generic-44-1.7.x86_64.qcow2`,
    fileName: "Fedora-Cloud-Base-Generic-44-1.7.x86_64.qcow2",
    checksumUrl: `${dir}Fedora-Cloud-44-1.7-x86_64-CHECKSUM`,
    algorithm: "sha256",
    signature: { kind: "clearsigned" },
    keys: [FEDORA_44_KEY],
  });
});

Deno.test("fedora resolves fedora:44 on arm64 to the aarch64 directory and CHECKSUM", async () => {
  const dir = `${BASE}44/Cloud/aarch64/images/`;
  const ref = await fedora.resolve(ctx(), "44", "arm64");
  assertEquals(ref?.imageUrl, `${dir}Fedora-Cloud-Base-Generic-44-1.7.aarch64.qcow2`);
  assertEquals(ref?.fileName, "Fedora-Cloud-Base-Generic-44-1.7.aarch64.qcow2");
  assertEquals(ref?.checksumUrl, `${dir}Fedora-Cloud-44-1.7-aarch64-CHECKSUM`);
  assertEquals(ref?.signature, { kind: "clearsigned" });
});

Deno.test("fedora takes each release's own compose id into the image and checksum names", async () => {
  const f42 = await fedora.resolve(ctx(), "42", "amd64");
  assertEquals(f42?.fileName, "Fedora-Cloud-Base-Generic-42-1.1.x86_64.qcow2");
  assertEquals(
    f42?.checksumUrl,
    `${BASE}42/Cloud/x86_64/images/Fedora-Cloud-42-1.1-x86_64-CHECKSUM`,
  );
  const f43 = await fedora.resolve(ctx(), "43", "arm64");
  assertEquals(f43?.fileName, "Fedora-Cloud-Base-Generic-43-1.6.aarch64.qcow2");
  assertEquals(
    f43?.checksumUrl,
    `${BASE}43/Cloud/aarch64/images/Fedora-Cloud-43-1.6-aarch64-CHECKSUM`,
  );
});

Deno.test("fedora returns nothing for releases up to 40, releases the mirror lacks and non-numeric names", async () => {
  assertEquals(await fedora.resolve(ctx(), "40", "amd64"), undefined);
  assertEquals(await fedora.resolve(ctx(), "41", "amd64"), undefined);
  assertEquals(await fedora.resolve(ctx(), "99", "arm64"), undefined);
  assertEquals(await fedora.resolve(ctx(), "rawhide", "amd64"), undefined);
  assertEquals(await fedora.resolve(ctx(), "test", "amd64"), undefined);
});

Deno.test("fedora lists 42, 43 and 44 with both arches and skips test/", async () => {
  assertEquals(await fedora.releases(ctx()), [
    { names: ["42"], arches: ["amd64", "arm64"] },
    { names: ["43"], arches: ["amd64", "arm64"] },
    { names: ["44"], arches: ["amd64", "arm64"] },
  ]);
});

Deno.test("fedora's clear-signed CHECKSUM fixtures list every resolved image past the size comments", async () => {
  for (const release of ["42", "43", "44"]) {
    for (const arch of ["amd64", "arm64"] as const) {
      const c = ctx();
      const ref = await fedora.resolve(c, release, arch);
      const text = await c.fetchText(ref!.checksumUrl);
      assertEquals(text.startsWith("-----BEGIN PGP SIGNED MESSAGE-----"), true);
      assertEquals(expectedDigest(text, ref!.fileName, { algorithm: "sha256" }).length, 64);
    }
  }
});

Deno.test("fedora's verbatim 44 aarch64 CHECKSUM yields the real digest of the Generic image", async () => {
  const c = ctx();
  const ref = await fedora.resolve(c, "44", "arm64");
  const text = await c.fetchText(ref!.checksumUrl);
  assertEquals(
    expectedDigest(text, ref!.fileName, { algorithm: "sha256" }),
    "55c60a3b80d3616a08705afd0459e75fe9f03c54aba7a46e4002a41a72fa0d5b",
  );
});

Deno.test("fedora surfaces a mirror failure other than 404", async () => {
  const failing = { baseUrl: BASE, fetchText: () => Promise.reject(new Error("connection reset")) };
  await assertRejects(() => fedora.resolve(failing, "44", "amd64"), Error, "connection reset");
  await assertRejects(() => fedora.releases(failing), Error, "connection reset");
});

Deno.test("fedora binds each release to its own signing key, so another release's key cannot vouch for it", async () => {
  const ref = await fedora.resolve(ctx(), "44", "amd64");
  assertEquals(ref?.keys, [FEDORA_44_KEY]);
});
