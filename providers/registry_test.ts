import { createHash } from "node:crypto";
import { assert, assertEquals } from "../tests/support/assert.ts";
import { PROVIDERS } from "./mod.ts";
import { fixtureFetcher, FIXTURES } from "../tests/support/fixture_fetcher.ts";
import { expectedDigest } from "../src/checksum.ts";
import type { ImageRef, Provider } from "../src/provider.ts";

const DIR = new URL("./", import.meta.url);

async function providerFiles(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(DIR)) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    if (entry.name === "mod.ts" || entry.name.endsWith("_test.ts")) continue;
    names.push(entry.name.slice(0, -".ts".length));
  }
  return names.sort();
}

/** The vendor's fixture mirror: `tests/fixtures/mirrors/<id>/<path of the default base URL>`. */
function fixtureContext(provider: Provider) {
  const base = provider.defaultBaseUrl;
  const root = `${FIXTURES}${provider.id}${new URL(base).pathname}`;
  return { baseUrl: base, fetchText: fixtureFetcher(base, root) };
}

/** Every ref the provider resolves from its fixture mirror: each listed release, name and arch. */
async function fixtureRefs(provider: Provider): Promise<ImageRef[]> {
  const ctx = fixtureContext(provider);
  const refs: ImageRef[] = [];
  for (const release of await provider.releases(ctx)) {
    for (const name of release.names) {
      for (const arch of release.arches) {
        const ref = await provider.resolve(ctx, name, arch);
        assert(ref, `${provider.id}:${name}:${arch} is listed but does not resolve`);
        refs.push(ref);
      }
    }
  }
  return refs;
}

const CRC24_INIT = 0xb704ce;
const CRC24_POLY = 0x1864cfb;

function crc24(bytes: Uint8Array): number {
  let crc = CRC24_INIT;
  for (const byte of bytes) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= CRC24_POLY;
    }
  }
  return crc & 0xffffff;
}

function base64Bytes(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/**
 * Reads an ASCII-armoured public key block and returns the v4 fingerprint of its first packet,
 * which must be a public key. Throws on anything malformed (armour lines, base64, CRC24).
 */
function armouredKeyFingerprint(armoured: string): string {
  const lines = armoured.trimEnd().split("\n");
  assertEquals(lines[0], "-----BEGIN PGP PUBLIC KEY BLOCK-----");
  assertEquals(lines.at(-1), "-----END PGP PUBLIC KEY BLOCK-----");
  let i = 1;
  while (lines[i] !== "") {
    assert(/^[A-Za-z-]+: ?.*$/.test(lines[i] ?? ""), `bad armour header ${lines[i]}`);
    i++;
  }
  const body: string[] = [];
  for (i++; i < lines.length - 1 && !lines[i]!.startsWith("="); i++) {
    assert(/^[A-Za-z0-9+/]+={0,2}$/.test(lines[i]!), `bad base64 line ${lines[i]}`);
    body.push(lines[i]!);
  }
  const bytes = base64Bytes(body.join(""));
  const checksum = lines[i]!.startsWith("=") ? lines[i]!.slice(1) : undefined;
  if (checksum !== undefined) {
    assertEquals(i, lines.length - 2, "the CRC line comes last");
    const crc = base64Bytes(checksum);
    assertEquals((crc[0]! << 16) | (crc[1]! << 8) | crc[2]!, crc24(bytes), "CRC24");
  }
  // First packet header: old format (tag in bits 5-2) or new format (tag in bits 5-0).
  const first = bytes[0]!;
  assert(first & 0x80, "not an OpenPGP packet");
  let tag: number, length: number, offset: number;
  if (first & 0x40) {
    tag = first & 0x3f;
    const o1 = bytes[1]!;
    if (o1 < 192) [length, offset] = [o1, 2];
    else if (o1 < 224) [length, offset] = [((o1 - 192) << 8) + bytes[2]! + 192, 3];
    else [length, offset] = [new DataView(bytes.buffer).getUint32(2), 6];
  } else {
    tag = (first >> 2) & 0x0f;
    const size = [1, 2, 4][first & 0x03]!;
    length = 0;
    for (let k = 0; k < size; k++) length = length * 256 + bytes[1 + k]!;
    offset = 1 + size;
  }
  assertEquals(tag, 6, "the first packet is a public key");
  const packet = bytes.subarray(offset, offset + length);
  assertEquals(packet[0], 4, "a v4 key");
  const hash = createHash("sha1");
  hash.update(Uint8Array.of(0x99, length >> 8, length & 0xff));
  hash.update(packet);
  return hash.digest("hex").toUpperCase();
}

Deno.test("every provider file in providers/ is registered in PROVIDERS under its file name", async () => {
  assertEquals(PROVIDERS.map((p) => p.id).sort(), await providerFiles());
});

Deno.test("provider ids are unique and debian comes first, then the others alphabetically", () => {
  const ids = PROVIDERS.map((p) => p.id);
  assertEquals(new Set(ids).size, ids.length);
  assertEquals(ids[0], "debian");
  assertEquals(ids.slice(1), [...ids.slice(1)].sort());
});

Deno.test("every provider's default base URL is https and ends with a slash", () => {
  for (const p of PROVIDERS) {
    assert(p.defaultBaseUrl.startsWith("https://"), p.id);
    assert(p.defaultBaseUrl.endsWith("/"), p.id);
  }
});

Deno.test("every provider key is an armoured public key block whose fingerprint its key file names", async () => {
  const documented = new Map<string, string>(); // key text -> source of its module, spaces removed
  for await (const entry of Deno.readDir(new URL("keys/", DIR))) {
    if (!entry.name.endsWith(".ts")) continue;
    const url = new URL(`keys/${entry.name}`, DIR);
    const source = (await Deno.readTextFile(url)).replaceAll(" ", "");
    for (const value of Object.values(await import(url.href))) {
      if (typeof value === "string") documented.set(value, source);
    }
  }
  for (const p of PROVIDERS) {
    for (const key of p.keys) {
      const source = documented.get(key);
      assert(source !== undefined, `${p.id}: a key that is not exported from providers/keys/`);
      const fingerprint = armouredKeyFingerprint(key);
      assert(source.includes(fingerprint), `${p.id}: ${fingerprint} is not named in its key file`);
    }
  }
});

Deno.test("every listed release resolves on each listed arch to an image its checksum file lists", async () => {
  for (const p of PROVIDERS) {
    const ctx = fixtureContext(p);
    const refs = await fixtureRefs(p);
    assert(refs.length > 0, `${p.id} has fixtures that resolve`);
    for (const ref of refs) {
      assertEquals(ref.vendor, p.id);
      assert(ref.imageUrl.startsWith(p.defaultBaseUrl) && ref.imageUrl.endsWith(ref.fileName));
      const text = await ctx.fetchText(ref.checksumUrl);
      expectedDigest(text, ref.fileName, { algorithm: ref.algorithm, source: ref.checksumUrl });
    }
  }
});

Deno.test("a provider whose refs carry a signature has a key, and a detached signature is on the mirror", async () => {
  for (const p of PROVIDERS) {
    const ctx = fixtureContext(p);
    for (const ref of await fixtureRefs(p)) {
      if (!ref.signature) continue;
      assert(p.keys.length > 0, `${p.id} declares a signature but no key`);
      if (ref.signature.kind === "detached") await ctx.fetchText(ref.signature.url);
      else assert((await ctx.fetchText(ref.checksumUrl)).includes("-----BEGIN PGP SIGNED MESSAGE"));
    }
  }
});
