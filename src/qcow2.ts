/**
 * Reads the parts of a qcow2 header Cubic must check before trusting an image: anything that
 * makes QEMU open another file on the host (a backing file, an external data file) or that
 * Cubic cannot vouch for (an incompatible feature it does not know, a malformed header).
 *
 * Layout (QEMU's docs/interop/qcow2.txt): a fixed header (72 bytes in version 2; version 3 adds
 * feature bitmaps and gives its own length at offset 100), then header extensions — each a
 * 4-byte type, a 4-byte length and data padded to 8 bytes, ended by type 0 — within the first
 * cluster, before the backing file name.
 */

/** Incompatible feature bits QEMU 7.2 knows: dirty, corrupt, external data file, compression
 * type, extended L2 entries. */
export const KNOWN_INCOMPATIBLE_FEATURES = 0b1_1111n;

/** Incompatible feature bit 2: guest data lives in another file, named by a header extension. */
export const EXTERNAL_DATA_FILE_FEATURE = 1n << 2n;

/** Header extension type of the external data file name ("DATA"). */
export const DATA_FILE_EXTENSION = 0x44415441;

/** QEMU's largest cluster (cluster_bits 21): the header and its extensions fit in it. */
export const MAX_CLUSTER_BYTES = 2 * 1024 * 1024;

/** What the header says. */
export interface Qcow2Header {
  /** false for raw or other formats. */
  isQcow2: boolean;
  version: number | undefined;
  virtualSize: bigint | undefined;
  /** The backing file name, when the image has one. */
  backingFile: string | undefined;
  /** Version 3's incompatible feature bits (0 for version 2). */
  incompatibleFeatures: bigint;
  /** The external data file: its name from the header extension, or `(unnamed)` when only the
   * feature bit says there is one. */
  dataFile: string | undefined;
  /** Incompatible feature bits QEMU 7.2 does not know (0 when none). */
  unknownIncompatibleFeatures: bigint;
  /** Types of the header extensions, in file order. */
  extensions: number[];
  /** Why the header cannot be read safely (unsupported version, truncated extensions ...). */
  malformed: string | undefined;
}

function notQcow2(): Qcow2Header {
  return {
    isQcow2: false,
    version: undefined,
    virtualSize: undefined,
    backingFile: undefined,
    incompatibleFeatures: 0n,
    dataFile: undefined,
    unknownIncompatibleFeatures: 0n,
    extensions: [],
    malformed: undefined,
  };
}

/**
 * Parses a qcow2 header from its first bytes (pure). Give it the first cluster (up to
 * {@linkcode MAX_CLUSTER_BYTES}); header extensions that run past `bytes` make it `malformed`.
 */
export function parseQcow2Header(bytes: Uint8Array): Qcow2Header {
  if (
    bytes.length < 4 || bytes[0] !== 0x51 || bytes[1] !== 0x46 || bytes[2] !== 0x49 ||
    bytes[3] !== 0xfb
  ) {
    return notQcow2();
  }
  const header: Qcow2Header = { ...notQcow2(), isQcow2: true };
  if (bytes.length < 8) return { ...header, malformed: "the header is cut off" };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4);
  header.version = version;
  if (version !== 2 && version !== 3) {
    return { ...header, malformed: `qcow2 version ${version} is not supported` };
  }
  const fixedLength = version === 2 ? 72 : 104;
  if (bytes.length < fixedLength) {
    return { ...header, malformed: `the header is cut off after ${bytes.length} bytes` };
  }
  header.virtualSize = view.getBigUint64(24);
  const backingOffset = view.getBigUint64(8);
  const backingSize = view.getUint32(16);
  if (backingOffset !== 0n && backingSize > 0) {
    const start = Number(backingOffset);
    const slice = bytes.subarray(start, start + backingSize);
    header.backingFile = slice.length === backingSize
      ? new TextDecoder().decode(slice) || "(unreadable)"
      : "(unreadable)";
  }
  const clusterBits = view.getUint32(20);
  if (clusterBits < 9 || clusterBits > 21) {
    return { ...header, malformed: `cluster_bits ${clusterBits} is out of range` };
  }

  let headerLength = 72;
  if (version === 3) {
    header.incompatibleFeatures = view.getBigUint64(72);
    header.unknownIncompatibleFeatures = header.incompatibleFeatures &
      ~KNOWN_INCOMPATIBLE_FEATURES;
    if ((header.incompatibleFeatures & EXTERNAL_DATA_FILE_FEATURE) !== 0n) {
      header.dataFile = "(unnamed)";
    }
    headerLength = view.getUint32(100);
    if (headerLength < 104 || headerLength % 8 !== 0) {
      return { ...header, malformed: `header length ${headerLength} is invalid` };
    }
  }

  // QEMU reads extensions up to the backing file name, or to the end of the first cluster.
  const clusterBytes = 2 ** clusterBits;
  const end = backingOffset !== 0n && backingOffset < BigInt(clusterBytes)
    ? Number(backingOffset)
    : clusterBytes;
  let offset = headerLength;
  for (;;) {
    if (offset + 8 > end || offset + 8 > bytes.length) {
      return { ...header, malformed: "the header extensions have no end marker" };
    }
    const type = view.getUint32(offset);
    const length = view.getUint32(offset + 4);
    if (type === 0) break;
    header.extensions.push(type);
    const data = offset + 8;
    if (data + length > end || data + length > bytes.length) {
      return {
        ...header,
        malformed: `header extension 0x${type.toString(16)} runs past the first cluster`,
      };
    }
    if (type === DATA_FILE_EXTENSION) {
      header.dataFile = new TextDecoder().decode(bytes.subarray(data, data + length)) ||
        "(unnamed)";
    }
    offset = data + Math.ceil(length / 8) * 8;
  }
  return header;
}

/** Reads and parses the header of a file (its first cluster at most). */
export async function inspectQcow2Header(path: string): Promise<Qcow2Header> {
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(MAX_CLUSTER_BYTES);
  let filled = 0;
  while (filled < buffer.length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return parseQcow2Header(buffer.subarray(0, filled));
}

/** Why an image must not be run, with an error code and what to do about it. */
export interface Qcow2Problem {
  /** What is wrong, e.g. `the image names a backing file ('…')`. */
  detail: string;
  code:
    | "NotQcow2"
    | "BackingFileImage"
    | "DataFileImage"
    | "UnknownQcow2Feature"
    | "MalformedQcow2";
  /** What the user can do, for an image that came from a mirror. */
  hint: string;
}

/**
 * Why QEMU must not open an image with this header (pure): not qcow2, a backing file or an
 * external data file (either could make QEMU read host files), features Cubic cannot vouch for,
 * or a malformed header; `undefined` for a self-contained qcow2 image.
 */
export function qcow2Problem(header: Qcow2Header): Qcow2Problem | undefined {
  if (!header.isQcow2) {
    return {
      detail: "it is not a qcow2 disk image",
      code: "NotQcow2",
      hint: "The mirror serves something else under the image's name; check the mirror URL",
    };
  }
  if (header.backingFile !== undefined) {
    return {
      detail:
        `the image names a backing file ('${header.backingFile}'), which could make QEMU read host files`,
      code: "BackingFileImage",
      hint: "Cubic only runs self-contained images; report this to the vendor",
    };
  }
  if (header.dataFile !== undefined) {
    return {
      detail:
        `the image keeps its data in an external data file ('${header.dataFile}'), which could make QEMU read host files`,
      code: "DataFileImage",
      hint: "Cubic only runs self-contained images; report this to the vendor",
    };
  }
  if (header.unknownIncompatibleFeatures !== 0n) {
    return {
      detail: `the image uses qcow2 incompatible features Cubic does not know (bits 0x${
        header.unknownIncompatibleFeatures.toString(16)
      })`,
      code: "UnknownQcow2Feature",
      hint:
        "Cubic only runs images whose qcow2 features it can vouch for; report this to the vendor",
    };
  }
  if (header.malformed !== undefined) {
    return {
      detail: `its qcow2 header is malformed (${header.malformed})`,
      code: "MalformedQcow2",
      hint: "The mirror serves a damaged or crafted image; try another mirror",
    };
  }
  return undefined;
}
