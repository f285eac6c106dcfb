import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { centosStream } from "./centos-stream.ts";
import { fixtureFetcher, FIXTURES } from "../tests/support/fixture_fetcher.ts";
import { expectedDigest } from "../src/checksum.ts";

const BASE = "https://cloud.centos.org/centos/";
const ctx = () => ({
  baseUrl: BASE,
  fetchText: fixtureFetcher(BASE, `${FIXTURES}centos-stream/centos/`),
});

Deno.test("centos-stream resolves centos-stream:10 on amd64 to the newest dated GenericCloud build and its SHA256SUM", async () => {
  const dir = `${BASE}10-stream/x86_64/images/`;
  const file = "CentOS-Stream-GenericCloud-10-20260818.0.x86_64.qcow2";
  assertEquals(await centosStream.resolve(ctx(), "10", "amd64"), {
    vendor: "centos-stream",
    names: ["10"],
    arch: "amd64",
    imageUrl: dir + file,
    fileName: file,
    checksumUrl: `${dir}${file}.SHA256SUM`,
    algorithm: "sha256",
  });
});

Deno.test("centos-stream resolves centos-stream:9 on arm64 to the aarch64 directory", async () => {
  const dir = `${BASE}9-stream/aarch64/images/`;
  const file = "CentOS-Stream-GenericCloud-9-20260818.0.aarch64.qcow2";
  const ref = await centosStream.resolve(ctx(), "9", "arm64");
  assertEquals(ref?.imageUrl, dir + file);
  assertEquals(ref?.checksumUrl, `${dir}${file}.SHA256SUM`);
  assertEquals(ref?.signature, undefined);
});

Deno.test("centos-stream returns nothing for streams without images, old CentOS trees and unknown names", async () => {
  assertEquals(await centosStream.resolve(ctx(), "8", "amd64"), undefined);
  assertEquals(await centosStream.resolve(ctx(), "7", "amd64"), undefined);
  assertEquals(await centosStream.resolve(ctx(), "99", "arm64"), undefined);
  assertEquals(await centosStream.resolve(ctx(), "10-stream", "amd64"), undefined);
});

Deno.test("centos-stream lists 9 and 10 with both arches and skips 6/, 7/, 8/ and the empty 8-stream", async () => {
  assertEquals(await centosStream.releases(ctx()), [
    { names: ["9"], arches: ["amd64", "arm64"] },
    { names: ["10"], arches: ["amd64", "arm64"] },
  ]);
});

Deno.test("centos-stream's SHA256SUM fixtures list every resolved image", async () => {
  for (const release of ["9", "10"]) {
    for (const arch of ["amd64", "arm64"] as const) {
      const c = ctx();
      const ref = await centosStream.resolve(c, release, arch);
      const text = await c.fetchText(ref!.checksumUrl);
      assertEquals(expectedDigest(text, ref!.fileName, { algorithm: "sha256" }).length, 64);
    }
  }
});

Deno.test("centos-stream surfaces a mirror failure other than 404", async () => {
  const failing = { baseUrl: BASE, fetchText: () => Promise.reject(new Error("connection reset")) };
  await assertRejects(
    () => centosStream.resolve(failing, "10", "amd64"),
    Error,
    "connection reset",
  );
  await assertRejects(() => centosStream.releases(failing), Error, "connection reset");
});
