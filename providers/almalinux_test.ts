import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { almalinux } from "./almalinux.ts";
import { fixtureFetcher, FIXTURES } from "../tests/support/fixture_fetcher.ts";
import { expectedDigest } from "../src/checksum.ts";
import { ALMALINUX_10_KEY, ALMALINUX_9_KEY } from "./keys/almalinux.ts";

const BASE = "https://raw.repo.almalinux.org/almalinux/";
const ctx = () => ({
  baseUrl: BASE,
  fetchText: fixtureFetcher(BASE, `${FIXTURES}almalinux/almalinux/`),
});

Deno.test("almalinux resolves almalinux:9 on amd64 to the newest versioned GenericCloud build and CHECKSUM", async () => {
  const dir = `${BASE}9/cloud/x86_64/images/`;
  assertEquals(await almalinux.resolve(ctx(), "9", "amd64"), {
    vendor: "almalinux",
    names: ["9"],
    arch: "amd64",
    imageUrl: `${dir}AlmaLinux-9-GenericCloud-9.8-20260810.x86_64.qcow2`,
    fileName: "AlmaLinux-9-GenericCloud-9.8-20260810.x86_64.qcow2",
    checksumUrl: `${dir}CHECKSUM`,
    algorithm: "sha256",
    signature: { kind: "detached", url: `${dir}CHECKSUM.asc`, over: "checksum" },
    keys: [ALMALINUX_9_KEY],
  });
});

Deno.test("almalinux picks the newer of two builds on arm64 and skips the ext4 and OpenNebula variants", async () => {
  const ref = await almalinux.resolve(ctx(), "9", "arm64");
  assertEquals(
    ref?.imageUrl,
    `${BASE}9/cloud/aarch64/images/AlmaLinux-9-GenericCloud-9.8-20260810.aarch64.qcow2`,
  );
  assertEquals(ref?.fileName, "AlmaLinux-9-GenericCloud-9.8-20260810.aarch64.qcow2");
});

Deno.test("almalinux resolves 10 to the build with its .0 suffix on both arches, not x86_64_v2", async () => {
  const amd = await almalinux.resolve(ctx(), "10", "amd64");
  assertEquals(
    amd?.imageUrl,
    `${BASE}10/cloud/x86_64/images/AlmaLinux-10-GenericCloud-10.2-20260526.0.x86_64.qcow2`,
  );
  const arm = await almalinux.resolve(ctx(), "10", "arm64");
  assertEquals(arm?.fileName, "AlmaLinux-10-GenericCloud-10.2-20260526.0.aarch64.qcow2");
  assertEquals(arm?.checksumUrl, `${BASE}10/cloud/aarch64/images/CHECKSUM`);
});

Deno.test("almalinux binds each major to its own key: 10 is verified with the AlmaLinux OS 10 key only", async () => {
  const ref = await almalinux.resolve(ctx(), "10", "arm64");
  assertEquals(ref?.signature, {
    kind: "detached",
    url: `${BASE}10/cloud/aarch64/images/CHECKSUM.asc`,
    over: "checksum",
  });
  assertEquals(ref?.keys, [ALMALINUX_10_KEY]);
});

Deno.test("almalinux binds a major without a shipped key to no built-in key, so only config.yaml keys can vouch", async () => {
  const fetchText = fixtureFetcher(BASE, `${FIXTURES}almalinux/almalinux/`);
  // The fixture's 10/ listing served as if it were 11/.
  const renamed = {
    baseUrl: BASE,
    fetchText: (url: string) =>
      url === BASE
        ? fetchText(url).then((t) => t.replaceAll('"10/"', '"11/"'))
        : fetchText(url.replace(`${BASE}11/`, `${BASE}10/`)).then((t) =>
          t.replaceAll("-10", "-11")
        ),
  };
  const ref = await almalinux.resolve(renamed, "11", "amd64");
  assertEquals(ref?.fileName, "AlmaLinux-11-GenericCloud-11.2-20260526.0.x86_64.qcow2");
  assertEquals(ref?.signature?.kind, "detached");
  assertEquals(ref?.keys, []);
});

Deno.test("almalinux returns nothing for a release without cloud images, minor versions and unknown names", async () => {
  assertEquals(await almalinux.resolve(ctx(), "8", "amd64"), undefined);
  assertEquals(await almalinux.resolve(ctx(), "9.8", "amd64"), undefined);
  assertEquals(await almalinux.resolve(ctx(), "99", "arm64"), undefined);
  assertEquals(await almalinux.resolve(ctx(), "latest", "amd64"), undefined);
});

Deno.test("almalinux lists 9 and 10 with both arches and skips minor directories and key files", async () => {
  assertEquals(await almalinux.releases(ctx()), [
    { names: ["9"], arches: ["amd64", "arm64"] },
    { names: ["10"], arches: ["amd64", "arm64"] },
  ]);
});

Deno.test("almalinux's CHECKSUM fixtures list every resolved image by its exact versioned name", async () => {
  for (const release of ["9", "10"]) {
    for (const arch of ["amd64", "arm64"] as const) {
      const c = ctx();
      const ref = await almalinux.resolve(c, release, arch);
      const text = await c.fetchText(ref!.checksumUrl);
      assertEquals(expectedDigest(text, ref!.fileName, { algorithm: "sha256" }).length, 64);
    }
  }
});

Deno.test("almalinux surfaces a mirror failure other than 404", async () => {
  const failing = { baseUrl: BASE, fetchText: () => Promise.reject(new Error("connection reset")) };
  await assertRejects(() => almalinux.resolve(failing, "9", "amd64"), Error, "connection reset");
  await assertRejects(() => almalinux.releases(failing), Error, "connection reset");
});
