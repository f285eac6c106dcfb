import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { rockylinux } from "./rockylinux.ts";
import { fixtureFetcher, FIXTURES } from "../tests/support/fixture_fetcher.ts";
import { expectedDigest } from "../src/checksum.ts";

const BASE = "https://dl.rockylinux.org/pub/rocky/";
const ctx = () => ({
  baseUrl: BASE,
  fetchText: fixtureFetcher(BASE, `${FIXTURES}rockylinux/pub/rocky/`),
});

Deno.test("rockylinux resolves rockylinux:9 on amd64 to the pinned GenericCloud-Base build and its own CHECKSUM", async () => {
  const dir = `${BASE}9/images/x86_64/`;
  const file = "Rocky-9-GenericCloud-Base-9.8-20260525.0.x86_64.qcow2";
  assertEquals(await rockylinux.resolve(ctx(), "9", "amd64"), {
    vendor: "rockylinux",
    names: ["9"],
    arch: "amd64",
    imageUrl: dir + file,
    fileName: file,
    checksumUrl: `${dir}${file}.CHECKSUM`,
    algorithm: "sha256",
  });
});

Deno.test("rockylinux resolves rockylinux:10 on arm64 to the aarch64 directory", async () => {
  const dir = `${BASE}10/images/aarch64/`;
  const file = "Rocky-10-GenericCloud-Base-10.2-20260525.0.aarch64.qcow2";
  const ref = await rockylinux.resolve(ctx(), "10", "arm64");
  assertEquals(ref?.imageUrl, dir + file);
  assertEquals(ref?.fileName, file);
  assertEquals(ref?.checksumUrl, `${dir}${file}.CHECKSUM`);
  assertEquals(ref?.signature, undefined);
});

Deno.test("rockylinux falls back to the newest minor directory when the major one has no images", async () => {
  const fixtures = fixtureFetcher(BASE, `${FIXTURES}rockylinux/pub/rocky/`);
  // A mirror where 10/ is empty and 10.2/ holds what the fixture's 10/ holds.
  const fetchText = (url: string) =>
    url.startsWith(`${BASE}10/`)
      ? fixtures(`${BASE}10/nothing/`)
      : fixtures(url.replace(`${BASE}10.2/`, `${BASE}10/`));
  const ref = await rockylinux.resolve({ baseUrl: BASE, fetchText }, "10", "amd64");
  assertEquals(
    ref?.imageUrl,
    `${BASE}10.2/images/x86_64/Rocky-10-GenericCloud-Base-10.2-20260525.0.x86_64.qcow2`,
  );
  assertEquals(ref?.names, ["10"]);
});

Deno.test("rockylinux returns nothing for a release without images, minor versions and unknown names", async () => {
  assertEquals(await rockylinux.resolve(ctx(), "8", "amd64"), undefined);
  assertEquals(await rockylinux.resolve(ctx(), "9.8", "amd64"), undefined);
  assertEquals(await rockylinux.resolve(ctx(), "99", "arm64"), undefined);
  assertEquals(await rockylinux.resolve(ctx(), "sig", "amd64"), undefined);
});

Deno.test("rockylinux lists 9 and 10 with both arches", async () => {
  assertEquals(await rockylinux.releases(ctx()), [
    { names: ["9"], arches: ["amd64", "arm64"] },
    { names: ["10"], arches: ["amd64", "arm64"] },
  ]);
});

Deno.test("rockylinux's per-image CHECKSUM fixtures list every resolved image past the size comments", async () => {
  for (const release of ["9", "10"]) {
    for (const arch of ["amd64", "arm64"] as const) {
      const c = ctx();
      const ref = await rockylinux.resolve(c, release, arch);
      const text = await c.fetchText(ref!.checksumUrl);
      assertEquals(expectedDigest(text, ref!.fileName, { algorithm: "sha256" }).length, 64);
    }
  }
});

Deno.test("rockylinux surfaces a mirror failure other than 404", async () => {
  const failing = { baseUrl: BASE, fetchText: () => Promise.reject(new Error("connection reset")) };
  await assertRejects(() => rockylinux.resolve(failing, "9", "amd64"), Error, "connection reset");
  await assertRejects(() => rockylinux.releases(failing), Error, "connection reset");
});
