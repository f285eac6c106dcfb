/**
 * A minimal ISO 9660 writer for cloud-init NoCloud seeds: one root directory of regular files,
 * a Primary Volume Descriptor, a Joliet Supplementary Volume Descriptor and the terminator.
 *
 * Layout (2048-byte sectors):
 *   0-15   system area (zeros)
 *   16     Primary Volume Descriptor
 *   17     Joliet Supplementary Volume Descriptor
 *   18     Volume Descriptor Set Terminator
 *   19-22  path tables: primary L, primary M, Joliet L, Joliet M (one record each: the root)
 *   23-    primary root directory, then Joliet root directory
 *   then   file data, one contiguous extent per file in input order, shared by both trees
 *
 * Standards: ECMA-119 (ISO 9660:1988) interchange level 2 for the primary tree, and Joliet
 * (UCS-2 level 3, escape sequence `%/E`) for the names Linux, Windows and xorriso show.
 *
 * @module
 */

/** A file to place in the root directory of the image. */
export interface IsoFile {
  /** The exact name shown through Joliet, e.g. `user-data`. */
  name: string;
  /** The file contents; may be empty. */
  data: Uint8Array;
}

/** Options for {@linkcode buildIso9660}. */
export interface Iso9660Options {
  /** The volume label, written as given, e.g. `cidata` for a NoCloud seed. */
  volumeId: string;
}

const SECTOR = 2048;
const FIRST_DESCRIPTOR_SECTOR = 16;
const PATH_TABLE_SIZE = 10;
const MAX_FILE_SIZE = 0xffff_ffff;
const MAX_JOLIET_NAME = 64;
const MAX_VOLUME_ID = 32;
/** ECMA-119 7.5: file name plus extension at most 30 characters (interchange level 2). */
const MAX_PRIMARY_NAME = 30;
const MAX_PRIMARY_EXTENSION = 8;
const FLAG_DIRECTORY = 0x02;

/**
 * A fixed timestamp keeps the output byte-for-byte deterministic. It also makes the blkid
 * UUID of every seed `2000-01-01-00-00-00-00`, which is harmless: cloud-init finds the seed
 * by label, and an instance has one seed.
 */
const RECORD_DATE = Uint8Array.of(100, 1, 1, 0, 0, 0, 0); // years since 1900, ..., GMT offset
const VOLUME_DATE = "2000010100000000";
const UNSPECIFIED_DATE = "0000000000000000";

/**
 * Names Joliet forbids (ECMA-119 control characters and `* / : ; ? \`), plus what UCS-2 cannot
 * hold (surrogates, so no characters beyond the BMP).
 */
// deno-lint-ignore no-control-regex
const FORBIDDEN_NAME_CHARACTERS = /[\u0000-\u001f*/:;?\\\ud800-\udfff]/;

/**
 * Builds an ISO 9660 image with Joliet names holding `files` in its root directory; throws a
 * RangeError or TypeError for a volume id or file name the format cannot hold, or a duplicate.
 */
export function buildIso9660(files: readonly IsoFile[], options: Iso9660Options): Uint8Array {
  checkVolumeId(options.volumeId);
  checkFiles(files);

  const primaryNames = primaryIdentifiers(files.map((file) => file.name));
  const primaryEntries = primaryNames
    .map((name, index) => ({ index, name, id: ascii(name) }))
    .sort((a, b) => comparePrimary(a.name, b.name));
  const jolietEntries = files
    .map((file, index) => ({ index, name: file.name, id: ucs2(file.name) }))
    .sort((a, b) => compareCodeUnits(a.name, b.name));

  const primaryRoot = FIRST_DESCRIPTOR_SECTOR + 7;
  const primaryRootSize = directorySize(primaryEntries.map((entry) => entry.id));
  const jolietRoot = primaryRoot + primaryRootSize / SECTOR;
  const jolietRootSize = directorySize(jolietEntries.map((entry) => entry.id));

  // Empty files own no sectors; like genisoimage they point at the next free sector, which is
  // the volume's end when they come last. No reader reads a zero-length extent (the Linux
  // kernel, xorriso and isovfy accept it).
  let next = jolietRoot + jolietRootSize / SECTOR;
  const extents = files.map((file) => {
    const extent = next;
    next += Math.ceil(file.data.length / SECTOR);
    return extent;
  });
  const volumeSectors = next;

  const image = new Uint8Array(volumeSectors * SECTOR);
  const layout = { volumeSectors, pathTable: FIRST_DESCRIPTOR_SECTOR + 3 };
  image.set(
    volumeDescriptor("primary", options.volumeId, {
      ...layout,
      root: primaryRoot,
      rootSize: primaryRootSize,
    }),
    FIRST_DESCRIPTOR_SECTOR * SECTOR,
  );
  image.set(
    volumeDescriptor("joliet", options.volumeId, {
      ...layout,
      pathTable: layout.pathTable + 2,
      root: jolietRoot,
      rootSize: jolietRootSize,
    }),
    (FIRST_DESCRIPTOR_SECTOR + 1) * SECTOR,
  );
  image.set(terminator(), (FIRST_DESCRIPTOR_SECTOR + 2) * SECTOR);
  image.set(pathTable(primaryRoot, "little"), (layout.pathTable + 0) * SECTOR);
  image.set(pathTable(primaryRoot, "big"), (layout.pathTable + 1) * SECTOR);
  image.set(pathTable(jolietRoot, "little"), (layout.pathTable + 2) * SECTOR);
  image.set(pathTable(jolietRoot, "big"), (layout.pathTable + 3) * SECTOR);

  const fileRecord = (entry: { index: number; id: Uint8Array }) =>
    directoryRecord(
      entry.id,
      extents[entry.index] ?? 0,
      files[entry.index]?.data.length ?? 0,
      0,
    );
  image.set(
    directory(primaryRoot, primaryRootSize, primaryEntries.map(fileRecord)),
    primaryRoot * SECTOR,
  );
  image.set(
    directory(jolietRoot, jolietRootSize, jolietEntries.map(fileRecord)),
    jolietRoot * SECTOR,
  );
  files.forEach((file, index) => image.set(file.data, (extents[index] ?? 0) * SECTOR));
  return image;
}

function checkVolumeId(volumeId: string): void {
  if (volumeId.length === 0 || volumeId.length > MAX_VOLUME_ID) {
    throw new RangeError(
      `Cannot build ISO 9660 image: volume id "${volumeId}" must be 1 to ${MAX_VOLUME_ID} characters`,
    );
  }
  // Trailing spaces would vanish into the padding, so the label read back would differ.
  if (!/^[\x20-\x7e]*[\x21-\x7e]$/.test(volumeId)) {
    throw new TypeError(
      `Cannot build ISO 9660 image: volume id "${volumeId}" must be printable ASCII without trailing spaces`,
    );
  }
}

function checkFiles(files: readonly IsoFile[]): void {
  const seen = new Set<string>();
  for (const { name, data } of files) {
    if (name.length === 0 || name.length > MAX_JOLIET_NAME) {
      throw new RangeError(
        `Cannot build ISO 9660 image: file name "${name}" must be 1 to ${MAX_JOLIET_NAME} characters`,
      );
    }
    // Linux drops trailing dots from Joliet names, so "a." would read back as "a".
    if (FORBIDDEN_NAME_CHARACTERS.test(name) || name.endsWith(".")) {
      throw new TypeError(
        `Cannot build ISO 9660 image: file name "${name}" contains a character Joliet forbids ` +
          `(control, * / : ; ? \\, outside the BMP) or ends with "."`,
      );
    }
    if (seen.has(name)) {
      throw new TypeError(`Cannot build ISO 9660 image: file name "${name}" appears twice`);
    }
    seen.add(name);
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`Cannot build ISO 9660 image: data of "${name}" is not a Uint8Array`);
    }
    if (data.length > MAX_FILE_SIZE) {
      throw new RangeError(
        `Cannot build ISO 9660 image: file "${name}" has ${data.length} bytes, more than ${MAX_FILE_SIZE}`,
      );
    }
  }
}

/**
 * Names for the primary tree, which only readers without Joliet use (e.g. a kernel built
 * without CONFIG_JOLIET, or `mount -o nojoliet`).
 *
 * We write `USER-DATA.;1` rather than the strict level-1 `USER_DAT.;1`: Linux shows a plain
 * ISO 9660 name lower-cased with `.;1` dropped, so `USER-DATA.;1` still reads as `user-data`
 * and cloud-init finds its seed even without Joliet, while `USER_DAT.;1` would read as
 * `user_dat.`. The cost is one character outside the d-characters (`-`) and names up to 30
 * characters (level 2), which every reader we know of accepts. The `.` separator is kept
 * because ECMA-119 7.5.1 requires it. Other characters become `_`; names that collide after
 * this mapping get a `_N` suffix so the primary tree stays valid.
 */
function primaryIdentifiers(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((name) => {
    const dot = name.lastIndexOf(".");
    const stem = primaryCharacters(dot === -1 ? name : name.slice(0, dot));
    const extension = primaryCharacters(dot === -1 ? "" : name.slice(dot + 1))
      .slice(0, MAX_PRIMARY_EXTENSION);
    for (let n = 0;; n++) {
      const suffix = n === 0 ? "" : `_${n}`;
      const base = stem.slice(0, MAX_PRIMARY_NAME - extension.length - suffix.length) + suffix;
      const id = `${base}.${extension};1`;
      if (!taken.has(id)) {
        taken.add(id);
        return id;
      }
    }
  });
}

function primaryCharacters(text: string): string {
  return text.toUpperCase().replace(/[^A-Z0-9_-]/g, "_");
}

/**
 * ECMA-119 9.3: order by file name, then extension, each padded with spaces (all versions are
 * 1). Every character we write sorts above the space, so padding reduces to plain code unit
 * order per part.
 */
function comparePrimary(a: string, b: string): number {
  const [aStem = "", aExtension = ""] = a.split(/[.;]/);
  const [bStem = "", bExtension = ""] = b.split(/[.;]/);
  return compareCodeUnits(aStem, bStem) || compareCodeUnits(aExtension, bExtension);
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (character) => character.charCodeAt(0));
}

function ucs2(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < text.length; i++) view.setUint16(i * 2, text.charCodeAt(i), false);
  return bytes;
}

/** ECMA-119 9.1: the length is even, so an even-length identifier is followed by a pad byte. */
function recordLength(id: Uint8Array): number {
  return 33 + id.length + (id.length % 2 === 0 ? 1 : 0);
}

function directoryRecord(id: Uint8Array, extent: number, size: number, flags: number) {
  const record = new Uint8Array(recordLength(id));
  const view = new DataView(record.buffer);
  record[0] = record.length;
  bothEndian32(view, 2, extent);
  bothEndian32(view, 10, size);
  record.set(RECORD_DATE, 18);
  record[25] = flags;
  bothEndian16(view, 28, 1); // volume sequence number
  record[32] = id.length;
  record.set(id, 33);
  return record;
}

/** `.` and `..` have the one-byte identifiers 0x00 and 0x01 in both trees. */
function selfAndParent(root: number, size: number): Uint8Array[] {
  return [
    directoryRecord(Uint8Array.of(0), root, size, FLAG_DIRECTORY),
    directoryRecord(Uint8Array.of(1), root, size, FLAG_DIRECTORY),
  ];
}

/** ECMA-119 6.8.1.1: a directory record never crosses a sector boundary. */
function packRecords(lengths: readonly number[]): number[] {
  let offset = 0;
  return lengths.map((length) => {
    if ((offset % SECTOR) + length > SECTOR) offset = Math.ceil(offset / SECTOR) * SECTOR;
    const at = offset;
    offset += length;
    return at;
  });
}

function directorySize(ids: readonly Uint8Array[]): number {
  const lengths = [34, 34, ...ids.map(recordLength)];
  const offsets = packRecords(lengths);
  const end = (offsets.at(-1) ?? 0) + (lengths.at(-1) ?? 0);
  return Math.ceil(end / SECTOR) * SECTOR;
}

function directory(root: number, size: number, records: readonly Uint8Array[]): Uint8Array {
  const all = [...selfAndParent(root, size), ...records];
  const bytes = new Uint8Array(size);
  const offsets = packRecords(all.map((record) => record.length));
  all.forEach((record, i) => bytes.set(record, offsets[i] ?? 0));
  return bytes;
}

/** ECMA-119 9.4: one record for the root: its extent, parent number 1, identifier 0x00. */
function pathTable(root: number, endian: "little" | "big"): Uint8Array {
  const bytes = new Uint8Array(PATH_TABLE_SIZE);
  const view = new DataView(bytes.buffer);
  const little = endian === "little";
  bytes[0] = 1; // length of directory identifier
  view.setUint32(2, root, little);
  view.setUint16(6, 1, little);
  return bytes;
}

interface DescriptorLayout {
  volumeSectors: number;
  pathTable: number;
  root: number;
  rootSize: number;
}

/** ECMA-119 8.4 (primary) and 8.5 (supplementary, here Joliet). */
function volumeDescriptor(
  kind: "primary" | "joliet",
  volumeId: string,
  layout: DescriptorLayout,
): Uint8Array {
  const bytes = new Uint8Array(SECTOR);
  const view = new DataView(bytes.buffer);
  const joliet = kind === "joliet";
  const text = (offset: number, length: number, value: string) =>
    joliet ? ucs2Field(bytes, offset, length, value) : asciiField(bytes, offset, length, value);

  bytes[0] = joliet ? 2 : 1;
  bytes.set(ascii("CD001"), 1);
  bytes[6] = 1;
  text(8, 32, ""); // system identifier
  // Written exactly as given: the label `cidata` is lower case, as genisoimage -V cidata
  // writes it, and blkid reports it unchanged.
  text(40, 32, volumeId);
  bothEndian32(view, 80, layout.volumeSectors);
  if (joliet) bytes.set(ascii("%/E"), 88); // UCS-2 level 3
  bothEndian16(view, 120, 1); // volume set size
  bothEndian16(view, 124, 1); // volume sequence number
  bothEndian16(view, 128, SECTOR);
  bothEndian32(view, 132, PATH_TABLE_SIZE);
  view.setUint32(140, layout.pathTable, true); // type L path table
  view.setUint32(148, layout.pathTable + 1, false); // type M path table
  bytes.set(
    directoryRecord(Uint8Array.of(0), layout.root, layout.rootSize, FLAG_DIRECTORY),
    156,
  );
  text(190, 128, ""); // volume set
  text(318, 128, ""); // publisher
  text(446, 128, ""); // data preparer
  text(574, 128, ""); // application
  text(702, 37, ""); // copyright file
  text(739, 37, ""); // abstract file
  text(776, 37, ""); // bibliographic file
  bytes.set(ascii(VOLUME_DATE), 813); // creation; the 17th byte is the GMT offset, 0
  bytes.set(ascii(VOLUME_DATE), 830); // modification
  bytes.set(ascii(UNSPECIFIED_DATE), 847); // expiration
  bytes.set(ascii(UNSPECIFIED_DATE), 864); // effective
  bytes[881] = 1; // file structure version
  return bytes;
}

function terminator(): Uint8Array {
  const bytes = new Uint8Array(SECTOR);
  bytes[0] = 255;
  bytes.set(ascii("CD001"), 1);
  bytes[6] = 1;
  return bytes;
}

function asciiField(bytes: Uint8Array, offset: number, length: number, value: string): void {
  bytes.fill(0x20, offset, offset + length);
  bytes.set(ascii(value.slice(0, length)), offset);
}

/** Joliet fields hold UCS-2 big-endian text padded with U+0020; an odd last byte stays 0. */
function ucs2Field(bytes: Uint8Array, offset: number, length: number, value: string): void {
  const units = Math.floor(length / 2);
  bytes.set(ucs2(value.slice(0, units).padEnd(units, " ")), offset);
}

function bothEndian16(view: DataView, offset: number, value: number): void {
  view.setUint16(offset, value, true);
  view.setUint16(offset + 2, value, false);
}

function bothEndian32(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value, true);
  view.setUint32(offset + 4, value, false);
}
