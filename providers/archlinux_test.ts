import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { archlinux } from "./archlinux.ts";
import { fixtureFetcher, FIXTURES } from "../tests/support/fixture_fetcher.ts";
import { expectedDigest } from "../src/checksum.ts";
import { HttpError } from "../src/http.ts";

const BASE = "https://geo.mirror.pkgbuild.com/images/";
const ctx = () => ({
  baseUrl: BASE,
  fetchText: fixtureFetcher(BASE, `${FIXTURES}archlinux/images/`),
});
const VERSIONED = "Arch-Linux-x86_64-cloudimg-20260901.583572.qcow2";

Deno.test("archlinux resolves archlinux:latest to the versioned cloud image in latest/, its .SHA256 and the image's .sig", async () => {
  assertEquals(await archlinux.resolve(ctx(), "latest", "amd64"), {
    vendor: "archlinux",
    names: ["latest"],
    arch: "amd64",
    imageUrl: `${BASE}latest/${VERSIONED}`,
    fileName: VERSIONED,
    checksumUrl: `${BASE}latest/${VERSIONED}.SHA256`,
    algorithm: "sha256",
    signature: { kind: "detached", url: `${BASE}latest/${VERSIONED}.sig`, over: "image" },
  });
});

Deno.test("archlinux reads full names from nginx hrefs although the link texts are truncated", async () => {
  const c = ctx();
  const html = await c.fetchText(`${BASE}latest/`);
  assertEquals(html.includes("Arch-Linux-x86_64-cloudimg-20260901.583572.qcow..&gt;"), true);
  assertEquals((await archlinux.resolve(c, "latest", "amd64"))?.fileName, VERSIONED);
});

Deno.test("archlinux returns nothing for arm64 without asking the mirror, since Arch publishes no aarch64 image", async () => {
  const c = ctx();
  assertEquals(await archlinux.resolve(c, "latest", "arm64"), undefined);
  assertEquals(c.fetchText.requests, []);
});

Deno.test("archlinux returns nothing for a name other than latest", async () => {
  assertEquals(await archlinux.resolve(ctx(), "20260901.583572", "amd64"), undefined);
  assertEquals(await archlinux.resolve(ctx(), "rolling", "amd64"), undefined);
});

Deno.test("archlinux falls back to the unversioned alias when latest/ lists no versioned image", async () => {
  const html = await ctx().fetchText(`${BASE}latest/`);
  const aliasOnly = html.replace(/<a href="Arch-Linux-x86_64-cloudimg-\d[^"]*"/g, '<a href="x"');
  const c = { baseUrl: BASE, fetchText: () => Promise.resolve(aliasOnly) };
  const ref = await archlinux.resolve(c, "latest", "amd64");
  assertEquals(ref?.fileName, "Arch-Linux-x86_64-cloudimg.qcow2");
  assertEquals(ref?.checksumUrl, `${BASE}latest/Arch-Linux-x86_64-cloudimg.qcow2.SHA256`);
});

Deno.test("archlinux lists latest for amd64 only", async () => {
  assertEquals(await archlinux.releases(ctx()), [{ names: ["latest"], arches: ["amd64"] }]);
});

Deno.test("archlinux's versioned .SHA256 names the versioned image exactly and its .sig is served", async () => {
  const c = ctx();
  const ref = await archlinux.resolve(c, "latest", "amd64");
  const text = await c.fetchText(ref!.checksumUrl);
  assertEquals(expectedDigest(text, ref!.fileName, { algorithm: "sha256" }).length, 64);
  const sig = ref?.signature?.kind === "detached" ? ref.signature.url : "";
  await c.fetchText(sig); // a 404 would throw
});

Deno.test("archlinux's unversioned .SHA256 is rewritten to the alias name and has no signature of its own", async () => {
  const c = ctx();
  const alias = await c.fetchText(`${BASE}latest/Arch-Linux-x86_64-cloudimg.qcow2.SHA256`);
  assertEquals(alias.trim().endsWith("  Arch-Linux-x86_64-cloudimg.qcow2"), true);
  await assertRejects(
    () => c.fetchText(`${BASE}latest/Arch-Linux-x86_64-cloudimg.qcow2.SHA256.sig`),
    HttpError,
  );
});

Deno.test("archlinux returns nothing when the mirror has no latest/ and surfaces other failures", async () => {
  const missing = {
    baseUrl: BASE,
    fetchText: (url: string) => Promise.reject(new HttpError(url, 404, "Not Found")),
  };
  assertEquals(await archlinux.resolve(missing, "latest", "amd64"), undefined);
  assertEquals(await archlinux.releases(missing), []);
  const failing = { baseUrl: BASE, fetchText: () => Promise.reject(new Error("connection reset")) };
  await assertRejects(
    () => archlinux.resolve(failing, "latest", "amd64"),
    Error,
    "connection reset",
  );
});
