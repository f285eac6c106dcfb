import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { debian } from "./debian.ts";
import { fixtureFetcher, FIXTURES } from "../tests/support/fixture_fetcher.ts";
import { expectedDigest } from "../src/checksum.ts";
import { HttpError } from "../src/http.ts";

const BASE = "https://cloud.debian.org/images/cloud/";
const ctx = () => ({
  baseUrl: BASE,
  fetchText: fixtureFetcher(BASE, `${FIXTURES}debian/images/cloud/`),
});

Deno.test("debian resolves debian:12 to bookworm's latest generic amd64 qcow2 and SHA512SUMS", async () => {
  const ref = await debian.resolve(ctx(), "12", "amd64");
  assertEquals(ref, {
    vendor: "debian",
    names: ["12", "bookworm"],
    arch: "amd64",
    imageUrl: `${BASE}bookworm/latest/debian-12-generic-amd64.qcow2`,
    fileName: "debian-12-generic-amd64.qcow2",
    checksumUrl: `${BASE}bookworm/latest/SHA512SUMS`,
    algorithm: "sha512",
  });
});

Deno.test("debian resolves the codename bookworm the same as the version 12", async () => {
  const a = await debian.resolve(ctx(), "bookworm", "arm64");
  const b = await debian.resolve(ctx(), "12", "arm64");
  assertEquals(a, b);
  assertEquals(a?.fileName, "debian-12-generic-arm64.qcow2");
});

Deno.test("debian resolves trixie to version 13", async () => {
  const ref = await debian.resolve(ctx(), "trixie", "amd64");
  assertEquals(ref?.names, ["13", "trixie"]);
});

Deno.test("debian returns nothing for a codename whose latest/ directory is missing", async () => {
  assertEquals(await debian.resolve(ctx(), "forky", "amd64"), undefined);
  assertEquals(await debian.resolve(ctx(), "14", "amd64"), undefined);
});

Deno.test("debian returns nothing for an unknown release name", async () => {
  assertEquals(await debian.resolve(ctx(), "potato", "amd64"), undefined);
  assertEquals(await debian.resolve(ctx(), "99", "amd64"), undefined);
});

Deno.test("debian lists bookworm and trixie with both arches and skips backports and EOL codenames", async () => {
  const releases = await debian.releases(ctx());
  assertEquals(releases.map((r) => r.names), [["12", "bookworm"], ["13", "trixie"]]);
  assertEquals(releases[0]?.arches.sort(), ["amd64", "arm64"]);
});

Deno.test("debian's SHA512SUMS fixture lists the generic amd64 image once with a sha512 digest", async () => {
  const text = await Deno.readTextFile(`${FIXTURES}debian/images/cloud/bookworm/latest/SHA512SUMS`);
  const digest = expectedDigest(text, "debian-12-generic-amd64.qcow2", { algorithm: "sha512" });
  assertEquals(digest.length, 128);
});

Deno.test("debian surfaces a mirror failure other than 404", async () => {
  const failing = {
    baseUrl: BASE,
    fetchText: () => Promise.reject(new Error("connection reset")),
  };
  await assertRejects(
    () => debian.resolve(failing, "bookworm", "amd64"),
    Error,
    "connection reset",
  );
});

Deno.test("debian's release list fails on a 503 for a codename's latest/ instead of dropping it", async () => {
  const fixtures = ctx().fetchText;
  const flaky = {
    baseUrl: BASE,
    fetchText: (url: string) =>
      url === `${BASE}bookworm/latest/`
        ? Promise.reject(new HttpError(url, 503, "Service Unavailable"))
        : fixtures(url),
  };
  await assertRejects(() => debian.releases(flaky), HttpError, "HTTP 503");
});

Deno.test("debian's release list skips only codenames whose latest/ is a 404", async () => {
  const fixtures = ctx().fetchText;
  const gone = {
    baseUrl: BASE,
    fetchText: (url: string) =>
      url === `${BASE}trixie/latest/`
        ? Promise.reject(new HttpError(url, 404, "Not Found"))
        : fixtures(url),
  };
  assertEquals((await debian.releases(gone)).map((r) => r.names), [["12", "bookworm"]]);
});
