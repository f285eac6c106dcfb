/**
 * Reads the parts of a qcow2 header Cubic must check before trusting an image.
 */

/** What the header says. */
export interface Qcow2Header {
  /** false for raw or other formats. */
  isQcow2: boolean;
  version: number | undefined;
  virtualSize: bigint | undefined;
  /** The backing file name, when the image has one. */
  backingFile: string | undefined;
}

/** Parses a qcow2 header from its first bytes (pure; needs the first 512 bytes at least). */
export function parseQcow2Header(bytes: Uint8Array): Qcow2Header {
  if (
    bytes.length < 32 || bytes[0] !== 0x51 || bytes[1] !== 0x46 || bytes[2] !== 0x49 ||
    bytes[3] !== 0xfb
  ) {
    return { isQcow2: false, version: undefined, virtualSize: undefined, backingFile: undefined };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4);
  const backingOffset = Number(view.getBigUint64(8));
  const backingSize = view.getUint32(16);
  const virtualSize = view.getBigUint64(24);
  let backingFile: string | undefined;
  if (backingOffset !== 0 && backingSize > 0) {
    const slice = bytes.subarray(backingOffset, backingOffset + backingSize);
    backingFile = new TextDecoder().decode(slice) || "(unreadable)";
  }
  return { isQcow2: true, version, virtualSize, backingFile };
}

/** Reads and parses the header of a file. */
export async function inspectQcow2Header(path: string): Promise<Qcow2Header> {
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(65536);
  let filled = 0;
  while (filled < buffer.length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return parseQcow2Header(buffer.subarray(0, filled));
}
