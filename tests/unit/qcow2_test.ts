import { assert, assertEquals } from "../support/assert.ts";
import {
  DATA_FILE_EXTENSION,
  EXTERNAL_DATA_FILE_FEATURE,
  inspectQcow2Header,
  parseQcow2Header,
} from "../../src/qcow2.ts";

async function qemuImg(...args: string[]) {
  const out = await new Deno.Command("qemu-img", { args, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

Deno.test("reads virtual size and no backing file from a real qcow2 made by qemu-img", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await qemuImg("create", "-q", "-f", "qcow2", `${dir}/a.qcow2`, "64M");
    const header = await inspectQcow2Header(`${dir}/a.qcow2`);
    assertEquals([header.isQcow2, header.virtualSize, header.backingFile], [
      true,
      64n * 1024n * 1024n,
      undefined,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reports the backing file of an overlay", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await qemuImg("create", "-q", "-f", "qcow2", `${dir}/base.qcow2`, "64M");
    await qemuImg(
      "create",
      "-q",
      "-f",
      "qcow2",
      "-F",
      "qcow2",
      "-b",
      `${dir}/base.qcow2`,
      `${dir}/top.qcow2`,
    );
    const header = await inspectQcow2Header(`${dir}/top.qcow2`);
    assertEquals(header.backingFile, `${dir}/base.qcow2`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an HTML page is not a qcow2 image", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/x`, "<html>404</html>");
    assert(!(await inspectQcow2Header(`${dir}/x`)).isQcow2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A version-3 header (cluster_bits 16, header length 104) followed by `extensions`. */
function v3Header(
  options: { incompatible?: bigint; extensions?: [number, Uint8Array][]; end?: boolean } = {},
): Uint8Array {
  const bytes = new Uint8Array(65536);
  const view = new DataView(bytes.buffer);
  bytes.set([0x51, 0x46, 0x49, 0xfb]);
  view.setUint32(4, 3);
  view.setUint32(20, 16);
  view.setBigUint64(24, 4n << 20n);
  view.setBigUint64(72, options.incompatible ?? 0n);
  view.setUint32(96, 4);
  view.setUint32(100, 104);
  let offset = 104;
  for (const [type, data] of options.extensions ?? []) {
    view.setUint32(offset, type);
    view.setUint32(offset + 4, data.length);
    bytes.set(data, offset + 8);
    offset += 8 + Math.ceil(data.length / 8) * 8;
  }
  // The end marker is type 0, which the zero-filled buffer already holds unless told otherwise.
  if (options.end === false) bytes.fill(0xff, offset);
  return bytes;
}

const encode = (text: string) => new TextEncoder().encode(text);

Deno.test("a plain version-3 header has no data file, no unknown features and is well formed", () => {
  const header = parseQcow2Header(v3Header());
  assertEquals(
    [header.isQcow2, header.dataFile, header.unknownIncompatibleFeatures, header.malformed],
    [true, undefined, 0n, undefined],
  );
});

Deno.test("the external data file feature bit alone marks a data file", () => {
  const header = parseQcow2Header(v3Header({ incompatible: EXTERNAL_DATA_FILE_FEATURE }));
  assertEquals(header.dataFile, "(unnamed)");
});

Deno.test("a data file name extension is reported even without the feature bit", () => {
  const header = parseQcow2Header(
    v3Header({ extensions: [[DATA_FILE_EXTENSION, encode("/etc/shadow")]] }),
  );
  assertEquals(header.dataFile, "/etc/shadow");
});

Deno.test("extensions are read after the header length the header gives, not at a fixed offset", () => {
  const bytes = v3Header();
  const view = new DataView(bytes.buffer);
  view.setUint32(100, 112); // e.g. QEMU 7.2's compression type byte plus padding
  view.setUint32(112, DATA_FILE_EXTENSION);
  view.setUint32(116, 4);
  bytes.set(encode("/dev"), 120);
  const header = parseQcow2Header(bytes);
  assertEquals([header.dataFile, header.extensions], ["/dev", [DATA_FILE_EXTENSION]]);
});

Deno.test("extensions before the data file name are skipped with their padding", () => {
  const header = parseQcow2Header(v3Header({
    extensions: [[0xe2792aca, encode("qcow2")], [DATA_FILE_EXTENSION, encode("/x")]],
  }));
  assertEquals([header.dataFile, header.extensions], ["/x", [0xe2792aca, DATA_FILE_EXTENSION]]);
});

Deno.test("incompatible feature bits QEMU 7.2 does not know are reported, known ones are not", () => {
  assertEquals(
    parseQcow2Header(v3Header({ incompatible: 0b1_1011n })).unknownIncompatibleFeatures,
    0n,
  );
  assertEquals(
    parseQcow2Header(v3Header({ incompatible: (1n << 5n) | 1n | (1n << 63n) }))
      .unknownIncompatibleFeatures,
    (1n << 5n) | (1n << 63n),
  );
});

Deno.test("extensions without an end marker or running past the data make the header malformed", () => {
  assert(parseQcow2Header(v3Header({ end: false })).malformed !== undefined);
  const cut = v3Header({ extensions: [[DATA_FILE_EXTENSION, encode("/host/file")]] });
  assert(parseQcow2Header(cut.subarray(0, 115)).malformed !== undefined);
});

Deno.test("qcow2 versions other than 2 and 3 and cut-off headers are malformed", () => {
  const v4 = v3Header();
  new DataView(v4.buffer).setUint32(4, 4);
  assertEquals(parseQcow2Header(v4).malformed, "qcow2 version 4 is not supported");
  assert(parseQcow2Header(v3Header().subarray(0, 100)).malformed !== undefined);
});

Deno.test("a real image with an external data file made by qemu-img names that file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/host.raw`, new Uint8Array(4 << 20));
    await qemuImg(
      "create",
      "-q",
      "-f",
      "qcow2",
      "-o",
      `data_file=${dir}/host.raw,data_file_raw=on,preallocation=metadata`,
      `${dir}/img.qcow2`,
      "4M",
    );
    const header = await inspectQcow2Header(`${dir}/img.qcow2`);
    assertEquals([header.backingFile, header.dataFile, header.malformed], [
      undefined,
      `${dir}/host.raw`,
      undefined,
    ]);
    assert((header.incompatibleFeatures & EXTERNAL_DATA_FILE_FEATURE) !== 0n);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a real version-2 (compat=0.10) image is well formed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await qemuImg("create", "-q", "-f", "qcow2", "-o", "compat=0.10", `${dir}/a.qcow2`, "8M");
    const header = await inspectQcow2Header(`${dir}/a.qcow2`);
    assertEquals([header.version, header.dataFile, header.malformed], [2, undefined, undefined]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
