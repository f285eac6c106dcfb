/**
 * The image cache: verified downloads only. An image is streamed to a partial file while it is
 * hashed, checked against the vendor's checksum and for a qcow2 backing-file reference, and only
 * then published under its final name by an atomic rename. Final names carry the digest, so a
 * newer vendor build never replaces the file existing instances are based on.
 */
import { join } from "node:path";
import { createDigest, expectedDigest } from "./checksum.ts";
import { InvalidChecksum, UserError } from "./errors.ts";
import { fetchChecked } from "./http.ts";
import type { Arch, FetchText, HashAlgorithm, ImageRef } from "./provider.ts";
import { inspectQcow2Header } from "./qcow2.ts";

/** What the cache knows about one image file (stored next to it as `<file>.json`). */
export interface CachedImage {
  /** Absolute path of the verified image. */
  path: string;
  vendor: string;
  names: string[];
  arch: Arch;
  imageUrl: string;
  checksumUrl: string;
  algorithm: HashAlgorithm;
  digest: string;
  size: number;
  verifiedAt: string;
}

/** Download progress, reported about every 100 ms. */
export type ProgressFn = (done: number, total: number | undefined) => void;

/** The cache file name of an image with a given digest (pure). */
export function cacheFileName(ref: ImageRef, digest: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_");
  return `${safe(ref.vendor)}-${safe(ref.names[0] ?? "image")}-${ref.arch}-${
    digest.slice(0, 16)
  }.qcow2`;
}

/** Lists every cached image with its metadata. */
export async function listCachedImages(imagesDir: string): Promise<CachedImage[]> {
  const out: CachedImage[] = [];
  try {
    for await (const entry of Deno.readDir(imagesDir)) {
      if (!entry.isFile || !entry.name.endsWith(".qcow2.json")) continue;
      try {
        const meta = JSON.parse(await Deno.readTextFile(join(imagesDir, entry.name)));
        const path = join(imagesDir, entry.name.slice(0, -".json".length));
        await Deno.stat(path);
        out.push({ ...meta, path });
      } catch {
        // an orphaned or unreadable sidecar is not a cached image
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return out.sort((a, b) => b.verifiedAt.localeCompare(a.verifiedAt));
}

/** The newest cached image for a vendor, release name and arch, if any. */
export async function findCachedImage(
  imagesDir: string,
  query: { vendor: string; name: string; arch: Arch },
): Promise<CachedImage | undefined> {
  return (await listCachedImages(imagesDir)).find((i) =>
    i.vendor === query.vendor && i.arch === query.arch && i.names.includes(query.name)
  );
}

/** Options for {@linkcode ensureImage}. */
export interface EnsureImageOptions {
  imagesDir: string;
  fetchText: FetchText;
  onProgress?: ProgressFn;
  /** Called once when a download starts (not when the cache already has the image). */
  onDownload?: (ref: ImageRef) => void;
}

/**
 * Returns the verified cached copy of `ref`, downloading and verifying it first if needed.
 * Concurrent callers for the same image download it once.
 */
export async function ensureImage(
  ref: ImageRef,
  options: EnsureImageOptions,
): Promise<CachedImage> {
  const checksumText = await options.fetchText(ref.checksumUrl);
  const digest = expectedDigest(checksumText, ref.fileName, {
    algorithm: ref.algorithm,
    source: ref.checksumUrl,
  });
  const file = cacheFileName(ref, digest);
  const finalPath = join(options.imagesDir, file);
  await Deno.mkdir(options.imagesDir, { recursive: true, mode: 0o700 });

  const existing = await readMeta(finalPath);
  if (existing && existing.digest === digest) return existing;

  // One downloader per image: others block on the lock, then find the published file.
  using lock = await Deno.open(join(options.imagesDir, `.${file}.lock`), {
    create: true,
    write: true,
  });
  await lock.lock(true);
  try {
    const again = await readMeta(finalPath);
    if (again && again.digest === digest) return again;
    options.onDownload?.(ref);
    const partial = join(options.imagesDir, `.${file}.partial`);
    const size = await download(ref, partial, digest, options.onProgress);
    const meta: CachedImage = {
      path: finalPath,
      vendor: ref.vendor,
      names: ref.names,
      arch: ref.arch,
      imageUrl: ref.imageUrl,
      checksumUrl: ref.checksumUrl,
      algorithm: ref.algorithm,
      digest,
      size,
      verifiedAt: new Date().toISOString(),
    };
    const { path: _path, ...stored } = meta;
    await Deno.writeTextFile(`${finalPath}.json.tmp`, JSON.stringify(stored, null, 2) + "\n");
    await Deno.rename(partial, finalPath);
    await Deno.rename(`${finalPath}.json.tmp`, `${finalPath}.json`);
    return meta;
  } finally {
    await lock.unlock();
  }
}

async function readMeta(finalPath: string): Promise<CachedImage | undefined> {
  try {
    const meta = JSON.parse(await Deno.readTextFile(`${finalPath}.json`));
    await Deno.stat(finalPath);
    return { ...meta, path: finalPath };
  } catch {
    return undefined;
  }
}

async function download(
  ref: ImageRef,
  partial: string,
  digest: string,
  onProgress: ProgressFn | undefined,
): Promise<number> {
  const response = await fetchChecked(ref.imageUrl, { timeoutMs: 60 * 60_000 });
  const lengthHeader = response.headers.get("content-length");
  const total = lengthHeader ? Number(lengthHeader) : undefined;
  const hash = createDigest(ref.algorithm);
  let done = 0;
  let lastReport = 0;
  const file = await Deno.open(partial, { create: true, write: true, truncate: true, mode: 0o644 });
  try {
    try {
      for await (const chunk of response.body!) {
        hash.update(chunk);
        let offset = 0;
        while (offset < chunk.length) offset += await file.write(chunk.subarray(offset));
        done += chunk.length;
        const now = Date.now();
        if (onProgress && now - lastReport > 100) {
          lastReport = now;
          onProgress(done, total);
        }
      }
      await file.sync();
    } finally {
      file.close();
    }
    onProgress?.(done, total);
    if (total !== undefined && done !== total) {
      throw new UserError(
        `Downloading '${ref.imageUrl}' failed: got ${done} of ${total} bytes`,
        { code: "DownloadIncomplete", hint: "The connection dropped; run the command again" },
      );
    }
    const actual = hash.digest("hex");
    if (actual !== digest) {
      throw new InvalidChecksum(
        `Verifying '${ref.fileName}' failed: its ${ref.algorithm} digest ${actual} does not match ${digest} from ${ref.checksumUrl}`,
        {
          hint:
            "The image was corrupted in transit or the mirror is compromised; nothing was cached. Try again or use another mirror",
        },
      );
    }
    const header = await inspectQcow2Header(partial);
    if (!header.isQcow2) {
      throw new UserError(`Checking '${ref.fileName}' failed: it is not a qcow2 disk image`, {
        code: "NotQcow2",
        hint: "The mirror serves something else under the image's name; check the mirror URL",
      });
    }
    if (header.backingFile !== undefined) {
      throw new UserError(
        `Checking '${ref.fileName}' failed: the image names a backing file ('${header.backingFile}'), which could make QEMU read host files`,
        {
          code: "BackingFileImage",
          hint: "Cubic only runs self-contained images; report this to the vendor",
        },
      );
    }
    return done;
  } catch (error) {
    await Deno.remove(partial).catch(() => {});
    if (error instanceof Deno.errors.NotFound || !(error instanceof Error)) throw error;
    if (/No space left|ENOSPC|os error 28/i.test(error.message)) {
      throw new UserError(`Downloading '${ref.imageUrl}' failed: the disk is full`, {
        cause: error,
        code: "DiskFull",
        hint: "Free some space (e.g. `cubic prune`) and try again; nothing was cached",
      });
    }
    throw error;
  }
}
