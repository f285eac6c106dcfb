import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { ubuntu } from "./ubuntu.ts";
import { fixtureFetcher, FIXTURES } from "../tests/support/fixture_fetcher.ts";
import { expectedDigest } from "../src/checksum.ts";

const BASE = "https://cloud-images.ubuntu.com/minimal/releases/";
const ctx = () => ({
  baseUrl: BASE,
  fetchText: fixtureFetcher(BASE, `${FIXTURES}ubuntu/minimal/releases/`),
});

Deno.test("ubuntu resolves ubuntu:24.04 to noble's minimal amd64 image, SHA256SUMS and its detached signature", async () => {
  const ref = await ubuntu.resolve(ctx(), "24.04", "amd64");
  assertEquals(ref, {
    vendor: "ubuntu",
    names: ["24.04", "noble"],
    arch: "amd64",
    imageUrl: `${BASE}noble/release/ubuntu-24.04-minimal-cloudimg-amd64.img`,
    fileName: "ubuntu-24.04-minimal-cloudimg-amd64.img",
    checksumUrl: `${BASE}noble/release/SHA256SUMS`,
    algorithm: "sha256",
    signature: { kind: "detached", url: `${BASE}noble/release/SHA256SUMS.gpg`, over: "checksum" },
  });
});

Deno.test("ubuntu resolves the codename noble the same as the version 24.04 on arm64", async () => {
  const a = await ubuntu.resolve(ctx(), "noble", "arm64");
  const b = await ubuntu.resolve(ctx(), "24.04", "arm64");
  assertEquals(a, b);
  assertEquals(a?.imageUrl, `${BASE}noble/release/ubuntu-24.04-minimal-cloudimg-arm64.img`);
  assertEquals(a?.fileName, "ubuntu-24.04-minimal-cloudimg-arm64.img");
});

Deno.test("ubuntu resolves jammy by version and by codename", async () => {
  const ref = await ubuntu.resolve(ctx(), "22.04", "amd64");
  assertEquals(ref?.names, ["22.04", "jammy"]);
  assertEquals(ref?.fileName, "ubuntu-22.04-minimal-cloudimg-amd64.img");
  assertEquals(
    (await ubuntu.resolve(ctx(), "jammy", "arm64"))?.checksumUrl,
    `${BASE}jammy/release/SHA256SUMS`,
  );
});

Deno.test("ubuntu returns nothing for an EOL codename without release/, for streams/ and for unknown names", async () => {
  assertEquals(await ubuntu.resolve(ctx(), "focal", "amd64"), undefined);
  assertEquals(await ubuntu.resolve(ctx(), "20.04", "amd64"), undefined);
  assertEquals(await ubuntu.resolve(ctx(), "streams", "amd64"), undefined);
  assertEquals(await ubuntu.resolve(ctx(), "warty", "amd64"), undefined);
  assertEquals(await ubuntu.resolve(ctx(), "99.04", "amd64"), undefined);
  assertEquals(await ubuntu.resolve(ctx(), "24", "amd64"), undefined);
});

Deno.test("ubuntu lists jammy and noble with both arches and skips streams/ and EOL codenames", async () => {
  const releases = await ubuntu.releases(ctx());
  assertEquals(releases, [
    { names: ["22.04", "jammy"], arches: ["amd64", "arm64"] },
    { names: ["24.04", "noble"], arches: ["amd64", "arm64"] },
  ]);
});

Deno.test("ubuntu's SHA256SUMS fixture lists each resolved image once, despite its * markers and digest order", async () => {
  for (const name of ["noble", "jammy"]) {
    for (const arch of ["amd64", "arm64"] as const) {
      const c = ctx();
      const ref = await ubuntu.resolve(c, name, arch);
      const text = await c.fetchText(ref!.checksumUrl);
      assertEquals(expectedDigest(text, ref!.fileName, { algorithm: "sha256" }).length, 64);
    }
  }
});

Deno.test("ubuntu's signature URL is served next to SHA256SUMS", async () => {
  const c = ctx();
  const ref = await ubuntu.resolve(c, "noble", "amd64");
  const sig = ref?.signature?.kind === "detached" ? ref.signature.url : "";
  const text = await c.fetchText(sig);
  assertEquals(text.startsWith("-----BEGIN PGP SIGNATURE-----"), true);
});

Deno.test("ubuntu surfaces a mirror failure other than 404", async () => {
  const failing = { baseUrl: BASE, fetchText: () => Promise.reject(new Error("connection reset")) };
  await assertRejects(() => ubuntu.resolve(failing, "noble", "amd64"), Error, "connection reset");
  await assertRejects(() => ubuntu.releases(failing), Error, "connection reset");
});
