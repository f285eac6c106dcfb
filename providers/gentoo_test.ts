import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { gentoo } from "./gentoo.ts";
import { fixtureFetcher, FIXTURES } from "../tests/support/fixture_fetcher.ts";
import { expectedDigest } from "../src/checksum.ts";

const BASE = "https://distfiles.gentoo.org/releases/";
const ctx = () => ({
  baseUrl: BASE,
  fetchText: fixtureFetcher(BASE, `${FIXTURES}gentoo/releases/`),
});

Deno.test("gentoo resolves gentoo:latest on amd64 to the current stamped cloud-init image and its .sha256", async () => {
  const dir = `${BASE}amd64/autobuilds/current-di-amd64-cloudinit/`;
  const file = "di-amd64-cloudinit-20260913T163055Z.qcow2";
  assertEquals(await gentoo.resolve(ctx(), "latest", "amd64"), {
    vendor: "gentoo",
    names: ["latest"],
    arch: "amd64",
    imageUrl: dir + file,
    fileName: file,
    checksumUrl: `${dir}${file}.sha256`,
    algorithm: "sha256",
  });
});

Deno.test("gentoo returns nothing for arm64 where the mirror has no arm64 cloud-init build", async () => {
  assertEquals(await gentoo.resolve(ctx(), "latest", "arm64"), undefined);
});

Deno.test("gentoo returns nothing for a name other than latest", async () => {
  assertEquals(await gentoo.resolve(ctx(), "20260913T163055Z", "amd64"), undefined);
  assertEquals(await gentoo.resolve(ctx(), "stable", "amd64"), undefined);
});

Deno.test("gentoo lists latest for the arches the mirror publishes", async () => {
  assertEquals(await gentoo.releases(ctx()), [{ names: ["latest"], arches: ["amd64"] }]);
});

Deno.test("gentoo's clear-signed .sha256 fixture lists the resolved image under its # SHA256 HASH header", async () => {
  const c = ctx();
  const ref = await gentoo.resolve(c, "latest", "amd64");
  const text = await c.fetchText(ref!.checksumUrl);
  assertEquals(expectedDigest(text, ref!.fileName, { algorithm: "sha256" }).length, 64);
});

Deno.test("gentoo surfaces a mirror failure other than 404", async () => {
  const failing = { baseUrl: BASE, fetchText: () => Promise.reject(new Error("connection reset")) };
  await assertRejects(() => gentoo.resolve(failing, "latest", "amd64"), Error, "connection reset");
  await assertRejects(() => gentoo.releases(failing), Error, "connection reset");
});
