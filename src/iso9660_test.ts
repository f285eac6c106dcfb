import assert from "node:assert/strict";
import { buildIso9660, type IsoFile } from "./iso9660.ts";

const SECTOR = 2048;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes that differ at every offset, so a misplaced sector cannot go unnoticed. */
function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed + (i >> 11)) & 0xff);
}

const SEED_FILES: readonly IsoFile[] = [
  { name: "user-data", data: encoder.encode("#cloud-config\nhostname: cubic\n") },
  { name: "meta-data", data: encoder.encode("instance-id: cubic-1\nlocal-hostname: cubic\n") },
  { name: "network-config", data: new Uint8Array() },
  { name: "five-thousand.bin", data: pattern(5000, 1) },
  { name: "two-hundred-kib.bin", data: pattern(200 * 1024, 2) },
];

/** Where each tool comes from on Debian/Ubuntu, for the error a missing tool raises. */
const PACKAGES: Record<string, string> = {
  isoinfo: "genisoimage",
  isovfy: "genisoimage",
  xorriso: "xorriso",
  blkid: "util-linux",
};

/** Finds a tool on PATH or in the sbin directories a non-root PATH often lacks (blkid). */
async function findTool(tool: string): Promise<string> {
  const directories = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin"];
  for (const directory of directories.filter((d) => d !== "")) {
    const candidate = `${directory}/${tool}`;
    try {
      if ((await Deno.stat(candidate)).isFile) return candidate;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  throw new Error(
    `Finding "${tool}" failed: it is not installed; ` +
      `install it with "apt-get install -y ${PACKAGES[tool] ?? tool}"`,
  );
}

/** Runs a tool and returns its stdout bytes; a failure or a missing tool fails the test. */
async function run(tool: string, args: readonly string[]): Promise<Uint8Array> {
  const output = await new Deno.Command(await findTool(tool), {
    args: [...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `Running "${tool} ${args.join(" ")}" failed with exit code ${output.code}: ` +
        decoder.decode(output.stderr),
    );
  }
  return output.stdout;
}

async function runText(tool: string, args: readonly string[]): Promise<string> {
  return decoder.decode(await run(tool, args));
}

/** Writes the image to a fresh temporary directory, hands its path to `check`, cleans up. */
async function withImage(
  image: Uint8Array,
  check: (iso: string, directory: string) => Promise<void>,
): Promise<void> {
  const directory = await Deno.makeTempDir({ prefix: "cubic-iso9660-" });
  try {
    const iso = `${directory}/seed.iso`;
    await Deno.writeFile(iso, image);
    await check(iso, directory);
  } finally {
    await makeWritable(directory);
    await Deno.remove(directory, { recursive: true });
  }
}

/** xorriso restores the image's read-only modes; a non-root user could not delete them. */
async function makeWritable(path: string): Promise<void> {
  const info = await Deno.lstat(path);
  if (info.isSymlink) return;
  await Deno.chmod(path, info.isDirectory ? 0o755 : 0o644);
  if (info.isDirectory) {
    for await (const entry of Deno.readDir(path)) await makeWritable(`${path}/${entry.name}`);
  }
}

function bothEndian32(image: Uint8Array, offset: number): number {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const little = view.getUint32(offset, true);
  assert.equal(view.getUint32(offset + 4, false), little, `both-endian field at ${offset}`);
  return little;
}

Deno.test("buildIso9660 writes an image whose size is whole sectors and equals the PVD volume space size", () => {
  const image = buildIso9660(SEED_FILES, { volumeId: "cidata" });
  assert.equal(image.length % SECTOR, 0);
  assert.equal(bothEndian32(image, 16 * SECTOR + 80), image.length / SECTOR);
  assert.equal(bothEndian32(image, 17 * SECTOR + 80), image.length / SECTOR);
});

Deno.test("buildIso9660 writes the PVD, the Joliet SVD and the terminator in sectors 16 to 18", () => {
  const image = buildIso9660(SEED_FILES, { volumeId: "cidata" });
  const descriptor = (sector: number) => image.subarray(sector * SECTOR, (sector + 1) * SECTOR);
  const [primary, joliet, terminator] = [descriptor(16), descriptor(17), descriptor(18)];
  assert.deepEqual([primary[0], decoder.decode(primary.subarray(1, 6)), primary[6]], [
    1,
    "CD001",
    1,
  ]);
  assert.equal(decoder.decode(primary.subarray(40, 72)), "cidata".padEnd(32, " "));
  assert.deepEqual([joliet[0], decoder.decode(joliet.subarray(88, 91))], [2, "%/E"]);
  assert.equal(new TextDecoder("utf-16be").decode(joliet.subarray(40, 72)), "cidata".padEnd(16));
  assert.deepEqual([terminator[0], decoder.decode(terminator.subarray(1, 6))], [255, "CD001"]);
});

Deno.test("buildIso9660 writes L and M path tables whose one record is each tree's root", () => {
  const image = buildIso9660(SEED_FILES, { volumeId: "cidata" });
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  for (const sector of [16, 17]) {
    const descriptor = sector * SECTOR;
    const root = bothEndian32(image, descriptor + 156 + 2);
    assert.equal(bothEndian32(image, descriptor + 132), 10, "path table size");
    const little = view.getUint32(descriptor + 140, true) * SECTOR;
    const big = view.getUint32(descriptor + 148, false) * SECTOR;
    assert.deepEqual(
      [image[little], view.getUint32(little + 2, true), view.getUint16(little + 6, true)],
      [1, root, 1],
    );
    assert.deepEqual(
      [image[big], view.getUint32(big + 2, false), view.getUint16(big + 6, false)],
      [1, root, 1],
    );
  }
});

Deno.test("buildIso9660 returns the same bytes for the same input", () => {
  assert.deepEqual(
    buildIso9660(SEED_FILES, { volumeId: "cidata" }),
    buildIso9660(SEED_FILES, { volumeId: "cidata" }),
  );
});

Deno.test("buildIso9660 rejects duplicate names with a TypeError", () => {
  const files = [
    { name: "user-data", data: new Uint8Array() },
    { name: "user-data", data: new Uint8Array(1) },
  ];
  assert.throws(() => buildIso9660(files, { volumeId: "cidata" }), TypeError);
});

Deno.test("buildIso9660 rejects empty and over-long names with a RangeError", () => {
  for (const name of ["", "x".repeat(65)]) {
    assert.throws(
      () => buildIso9660([{ name, data: new Uint8Array() }], { volumeId: "cidata" }),
      RangeError,
    );
  }
});

Deno.test("buildIso9660 rejects names Joliet cannot hold with a TypeError", () => {
  for (const name of ["a/b", "a\\b", "a;1", "a\nb", ".", "..", "trailing.", "emoji-\u{1f600}"]) {
    assert.throws(
      () => buildIso9660([{ name, data: new Uint8Array() }], { volumeId: "cidata" }),
      TypeError,
      name,
    );
  }
});

Deno.test("buildIso9660 rejects an empty, over-long or non-ASCII volume id", () => {
  assert.throws(() => buildIso9660([], { volumeId: "" }), RangeError);
  assert.throws(() => buildIso9660([], { volumeId: "x".repeat(33) }), RangeError);
  assert.throws(() => buildIso9660([], { volumeId: "cïdata" }), TypeError);
  assert.throws(() => buildIso9660([], { volumeId: "cidata " }), TypeError);
});

Deno.test("isoinfo reports the volume id cidata, Joliet and the image's size", async () => {
  const image = buildIso9660(SEED_FILES, { volumeId: "cidata" });
  await withImage(image, async (iso) => {
    const info = await runText("isoinfo", ["-d", "-i", iso]);
    assert.match(info, /^Volume id: cidata$/m);
    assert.match(info, /^Logical block size is: 2048$/m);
    assert.match(info, new RegExp(`^Volume size is: ${image.length / SECTOR}$`, "m"));
    assert.match(info, /^Joliet with UCS level 3 found$/m);
  });
});

Deno.test("isoinfo -J lists the exact names and extracts the exact bytes of every file", async () => {
  await withImage(buildIso9660(SEED_FILES, { volumeId: "cidata" }), async (iso) => {
    const listing = await runText("isoinfo", ["-J", "-l", "-i", iso]);
    const names = [...listing.matchAll(/\]\s+(\S+)\s*$/gm)].map((match) => match[1]);
    assert.deepEqual(
      names.filter((name) => name !== "." && name !== "..").sort(),
      SEED_FILES.map((file) => file.name).sort(),
    );
    for (const file of SEED_FILES) {
      assert.deepEqual(await run("isoinfo", ["-J", "-i", iso, "-x", `/${file.name}`]), file.data);
    }
  });
});

Deno.test("the primary tree names files so Linux's plain ISO 9660 mapping shows user-data", async () => {
  await withImage(buildIso9660(SEED_FILES, { volumeId: "cidata" }), async (iso) => {
    const listing = await runText("isoinfo", ["-l", "-i", iso]);
    assert.match(listing, /\s USER-DATA\.;1 $/m);
    assert.match(listing, /\s META-DATA\.;1 $/m);
    assert.deepEqual(await run("isoinfo", ["-i", iso, "-x", "/USER-DATA.;1"]), SEED_FILES[0]?.data);
  });
});

Deno.test("isovfy finds no errors in the directory records and path tables", async () => {
  await withImage(buildIso9660(SEED_FILES, { volumeId: "cidata" }), async (iso) => {
    // isovfy exits 0 even when it finds errors, so read its verdict.
    assert.match(await runText("isovfy", ["-i", iso]), /^No errors found$/m);
  });
});

Deno.test("xorriso lists every file and extracts its exact bytes", async () => {
  await withImage(buildIso9660(SEED_FILES, { volumeId: "cidata" }), async (iso, directory) => {
    const found = await runText("xorriso", ["-indev", iso, "-find", "/"]);
    const paths = found.split("\n").filter((line) => line.startsWith("'/"));
    assert.deepEqual(
      paths.sort(),
      ["'/'", ...SEED_FILES.map((file) => `'/${file.name}'`)].sort(),
    );
    const out = `${directory}/extracted`;
    await run("xorriso", ["-osirrox", "on", "-indev", iso, "-extract", "/", out]);
    for (const file of SEED_FILES) {
      assert.deepEqual(await Deno.readFile(`${out}/${file.name}`), file.data, file.name);
    }
  });
});

Deno.test("blkid reports the label cidata and the type iso9660", async () => {
  await withImage(buildIso9660(SEED_FILES, { volumeId: "cidata" }), async (iso) => {
    // -c /dev/null: read the file itself, never a cached answer, and write no cache.
    const line = await runText("blkid", ["-c", "/dev/null", iso]);
    assert.match(line, / LABEL="cidata"/);
    assert.match(line, / TYPE="iso9660"/);
    assert.equal(
      await runText("blkid", ["-c", "/dev/null", "-o", "value", "-s", "LABEL", iso]),
      "cidata\n",
    );
  });
});

Deno.test("a root directory too large for one sector lists and extracts every file", async () => {
  // 40 records of 33 + 128 + 1 bytes need four sectors in the Joliet tree.
  const files = Array.from({ length: 40 }, (_, i) => ({
    name: `${String(i).padStart(2, "0")}-${"n".repeat(61)}`,
    data: pattern(i * 100, i),
  }));
  // Names that collide once upper-cased still get distinct primary identifiers.
  files.push({ name: "Case", data: encoder.encode("upper") });
  files.push({ name: "case", data: encoder.encode("lower") });
  await withImage(buildIso9660(files, { volumeId: "cidata" }), async (iso) => {
    assert.match(await runText("isovfy", ["-i", iso]), /^No errors found$/m);
    const primary = await runText("isoinfo", ["-l", "-i", iso]);
    assert.match(primary, /\s CASE\.;1 $/m);
    assert.match(primary, /\s CASE_1\.;1 $/m);
    for (const file of files) {
      assert.deepEqual(await run("isoinfo", ["-J", "-i", iso, "-x", `/${file.name}`]), file.data);
    }
  });
});

Deno.test("an image without files is still a valid, readable volume", async () => {
  const image = buildIso9660([], { volumeId: "cidata" });
  await withImage(image, async (iso) => {
    assert.match(await runText("isovfy", ["-i", iso]), /^No errors found$/m);
    assert.match(await runText("isoinfo", ["-d", "-i", iso]), /^Volume id: cidata$/m);
  });
});
