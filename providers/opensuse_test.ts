import { assertEquals, assertRejects, assertThrows } from "../tests/support/assert.ts";
import { opensuse } from "./opensuse.ts";
import { fixtureFetcher, FIXTURES } from "../tests/support/fixture_fetcher.ts";
import { expectedDigest } from "../src/checksum.ts";
import { UserError } from "../src/errors.ts";

const BASE = "https://download.opensuse.org/";
const ctx = () => ({ baseUrl: BASE, fetchText: fixtureFetcher(BASE, `${FIXTURES}opensuse/`) });
const OBS = `${BASE}repositories/Cloud:/Images:/Leap_15.6/images/`;
const APPLIANCES = `${BASE}distribution/leap/16.0/appliances/`;

Deno.test("opensuse resolves opensuse:15.6 on amd64 to the versioned OBS build, with literal colons and no signature", async () => {
  const file = "openSUSE-Leap-15.6.x86_64-1.0.0-NoCloud-Build3.311.qcow2";
  assertEquals(await opensuse.resolve(ctx(), "15.6", "amd64"), {
    vendor: "opensuse",
    names: ["15.6"],
    arch: "amd64",
    imageUrl: OBS + file,
    fileName: file,
    checksumUrl: `${OBS}${file}.sha256`,
    algorithm: "sha256",
  });
});

Deno.test("opensuse resolves opensuse:15.6 on arm64 to the aarch64 build with its own build number", async () => {
  const file = "openSUSE-Leap-15.6.aarch64-1.0.0-NoCloud-Build3.309.qcow2";
  const ref = await opensuse.resolve(ctx(), "15.6", "arm64");
  assertEquals(ref?.imageUrl, OBS + file);
  assertEquals(ref?.checksumUrl, `${OBS}${file}.sha256`);
});

Deno.test("opensuse resolves opensuse:16.0 to the Minimal-VM Cloud appliance and its detached .sha256.asc", async () => {
  const file = "Leap-16.0-Minimal-VM.x86_64-Cloud-Build18.7.qcow2";
  assertEquals(await opensuse.resolve(ctx(), "16.0", "amd64"), {
    vendor: "opensuse",
    names: ["16.0"],
    arch: "amd64",
    imageUrl: APPLIANCES + file,
    fileName: file,
    checksumUrl: `${APPLIANCES}${file}.sha256`,
    algorithm: "sha256",
    signature: { kind: "detached", url: `${APPLIANCES}${file}.sha256.asc`, over: "checksum" },
  });
  const arm = await opensuse.resolve(ctx(), "16.0", "arm64");
  assertEquals(arm?.fileName, "Leap-16.0-Minimal-VM.aarch64-Cloud-Build18.7.qcow2");
});

Deno.test("opensuse's alias checksum names the Build file, so only the versioned name matches exactly", async () => {
  const c = ctx();
  const alias = await c.fetchText(`${APPLIANCES}Leap-16.0-Minimal-VM.aarch64-Cloud.qcow2.sha256`);
  assertThrows(
    () =>
      expectedDigest(alias, "Leap-16.0-Minimal-VM.aarch64-Cloud.qcow2", { algorithm: "sha256" }),
    UserError,
    "does not list it",
  );
  const ref = await opensuse.resolve(c, "16.0", "arm64");
  const text = await c.fetchText(ref!.checksumUrl);
  // Verbatim from download.opensuse.org.
  assertEquals(
    expectedDigest(text, ref!.fileName, { algorithm: "sha256" }),
    "2e9eeb56e7523775f1f01261f4900f289e20c38910226b0c1e5aa7228a84194a",
  );
});

Deno.test("opensuse's checksum fixtures list every resolved image, clear-signed or not", async () => {
  for (const release of ["15.6", "16.0"]) {
    for (const arch of ["amd64", "arm64"] as const) {
      const c = ctx();
      const ref = await opensuse.resolve(c, release, arch);
      const text = await c.fetchText(ref!.checksumUrl);
      assertEquals(expectedDigest(text, ref!.fileName, { algorithm: "sha256" }).length, 64);
      if (ref!.signature?.kind === "detached") await c.fetchText(ref!.signature.url);
    }
  }
});

Deno.test("opensuse returns nothing for an EOL Leap, Tumbleweed and malformed versions", async () => {
  assertEquals(await opensuse.resolve(ctx(), "15.5", "amd64"), undefined);
  assertEquals(await opensuse.resolve(ctx(), "16.1", "amd64"), undefined);
  assertEquals(await opensuse.resolve(ctx(), "tumbleweed", "amd64"), undefined);
  assertEquals(await opensuse.resolve(ctx(), "15", "amd64"), undefined);
});

Deno.test("opensuse lists Leap 15.6 and 16.0 with both arches from the Cloud:Images project", async () => {
  assertEquals(await opensuse.releases(ctx()), [
    { names: ["15.6"], arches: ["amd64", "arm64"] },
    { names: ["16.0"], arches: ["amd64", "arm64"] },
  ]);
});

Deno.test("opensuse surfaces a mirror failure other than 404", async () => {
  const failing = { baseUrl: BASE, fetchText: () => Promise.reject(new Error("connection reset")) };
  await assertRejects(() => opensuse.resolve(failing, "15.6", "amd64"), Error, "connection reset");
  await assertRejects(() => opensuse.releases(failing), Error, "connection reset");
});
