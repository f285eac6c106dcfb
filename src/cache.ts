/**
 * The image cache: verified downloads only. An image is streamed to a hidden partial file while
 * it is hashed, checked against the vendor's (signature-checked) checksum, for a qcow2 header
 * that opens no other host file and against the vendor's image signature where there is one, and
 * only then published under its final name by an atomic rename. Final names carry the digest, so
 * a newer vendor build never replaces the file existing instances are based on. Every rejection
 * of the image itself exits with code 3, and nothing is cached.
 *
 * Files in the images directory, for an image `<key>` = `<vendor>-<name>-<arch>`:
 *
 *   <key>-<digest16>.qcow2       a verified image; nothing else ever has this name
 *   <key>-<digest16>.qcow2.json  its metadata; an image is listed only once this exists
 *   .<key>.lock                  flock held by the one process downloading this image
 *   .<key>.partial               an interrupted download, kept to be resumed
 *   .<key>.partial.json          what that partial is: URL, expected digest, validators, size
 *
 * Resume: the next download of the same image re-hashes the partial's bytes (the final digest
 * covers every byte, old and new) and asks for the rest with `Range` + `If-Range` (the ETag or
 * Last-Modified of the response the partial came from). A 200 instead of a 206 (the server
 * ignores ranges, or the file changed) starts again from zero. A partial whose sidecar names
 * another URL, digest or algorithm, or that has no validator, is discarded.
 *
 * Failures: network failures, stalls, 5xx, 408 and 429 are retried with exponential backoff,
 * each retry resuming (see `transferSettings` in http.ts for `CUBIC_STALL_TIMEOUT_MS` and
 * `CUBIC_RETRY_DELAY_MS`). When the retries run out the partial is kept for the next run. Every
 * other failure deletes it: a checksum mismatch must never be resumed, a 404 or 403 will not get
 * better, and on a full disk the space goes back to the user at once (`DiskFull` error) rather
 * than staying occupied by a file that cannot be finished there. One exception: when the whole
 * image arrived and matched its checksum but its signature (Arch's `<image>.sig`) could not be
 * fetched for a transient reason, the complete partial is kept, so the next run fetches only the
 * signature (it re-hashes the partial and checks everything again before publishing).
 *
 * A file-size limit (`ulimit -f`) smaller than the image would kill Cubic with SIGXFSZ and no
 * word; while downloading, the signal is caught so that the write fails with EFBIG instead and
 * the user gets a `DiskFull` error naming the limit.
 */
import {
  type FetchBytes,
  SignatureFetchError,
  type TrustedKeys,
  type TrustRecord,
  verifiedChecksum,
  verifyImageSignature,
} from "./image_trust.ts";
import type { Hash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { createDigest } from "./checksum.ts";
import { mirrorEnvName } from "./config.ts";
import { ExitCode, InvalidChecksum, UserError } from "./errors.ts";
import {
  fetchChecked,
  HttpError,
  isTransient,
  NetworkError,
  type RetryInfo,
  retrying,
  type TransferSettings,
  transferSettings,
} from "./http.ts";
import type { Arch, HashAlgorithm, ImageRef } from "./provider.ts";
import { inspectQcow2Header, qcow2Problem } from "./qcow2.ts";
import { formatBytes } from "./ui.ts";

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
  /** How the image was vouched for beyond its checksum (absent in caches made before signatures). */
  trust?: TrustRecord;
}

/**
 * Download progress, reported about every 100 ms. `done` and `total` count the whole image;
 * `resumedFrom` of those bytes were already on disk when this download started.
 */
export type ProgressFn = (done: number, total: number | undefined, resumedFrom: number) => void;

/** The cache file name of an image with a given digest (pure). */
export function cacheFileName(ref: ImageRef, digest: string): string {
  return `${imageKey(ref)}-${digest.slice(0, 16)}.qcow2`;
}

/** `<vendor>-<name>-<arch>`: names the lock and the partial download of an image (pure). */
function imageKey(ref: ImageRef): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_");
  return `${safe(ref.vendor)}-${safe(ref.names[0] ?? "image")}-${ref.arch}`;
}

/** Lists every cached image with its metadata. */
export async function listCachedImages(imagesDir: string): Promise<CachedImage[]> {
  const out: CachedImage[] = [];
  try {
    for await (const entry of Deno.readDir(imagesDir)) {
      if (!entry.isFile || entry.name.startsWith(".") || !entry.name.endsWith(".qcow2.json")) {
        continue;
      }
      // An orphaned or unreadable sidecar is not a cached image.
      const meta = await readMeta(join(imagesDir, entry.name.slice(0, -".json".length)));
      if (meta) out.push(meta);
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
  onProgress?: ProgressFn;
  /** Called once when a download starts (not when the cache already has the image). */
  onDownload?: (ref: ImageRef) => void;
  /** Called before the image download is retried, e.g. to say why and when. */
  onRetry?: (info: RetryInfo) => void;
  /** Stall timeout and retry policy; defaults come from the environment. */
  transfer?: Partial<TransferSettings>;
  /** OpenPGP keys trusted for this image (see `trustedKeysFor`); none by default. */
  keys?: TrustedKeys;
  /** Fetches the checksum file and signatures; default `fetchBytes` from http.ts. */
  fetchBytes?: FetchBytes;
}

/**
 * Returns the verified cached copy of `ref`, downloading and verifying it first if needed.
 * Concurrent callers for the same image download it once; an interrupted download resumes.
 */
export async function ensureImage(
  ref: ImageRef,
  options: EnsureImageOptions,
): Promise<CachedImage> {
  const keys = options.keys ?? { keys: [], fromConfig: 0 };
  const settings = { ...transferSettings(Deno.env.toObject()), ...options.transfer };
  // Only a checksum file whose signature verified (or a vendor that signs nothing) is believed.
  const fetching = {
    transfer: settings,
    ...(options.fetchBytes ? { fetchBytes: options.fetchBytes } : {}),
  };
  const signed = await verifiedChecksum(ref, { keys, ...fetching });
  const digest = signed.digest;
  const file = cacheFileName(ref, digest);
  const finalPath = join(options.imagesDir, file);
  await Deno.mkdir(options.imagesDir, { recursive: true, mode: 0o700 });

  const existing = await readMeta(finalPath);
  if (existing && existing.digest === digest) return existing;

  // One downloader per image: others block on the lock, then find the published file.
  const key = imageKey(ref);
  using lock = await Deno.open(join(options.imagesDir, `.${key}.lock`), {
    create: true,
    write: true,
  });
  await lock.lock(true);
  try {
    const again = await readMeta(finalPath);
    if (again && again.digest === digest) return again;
    options.onDownload?.(ref);
    const partial = partialFiles(options.imagesDir, key);
    try {
      return await withFileSizeSignalCaught(async () => {
        const download = await downloadResumable(ref, digest, partial, { ...options, settings });
        verifyDigest(ref, download.digest, digest);
        await verifyQcow2(ref, partial.data);
        const trust = (await verifyImageSignature(ref, partial.data, keys, fetching)) ??
          signed.trust;
        return await publish(ref, digest, partial, finalPath, { size: download.size, trust });
      });
    } catch (error) {
      throw await settleFailure(error, ref, partial, { imagesDir: options.imagesDir, settings });
    }
  } finally {
    await lock.unlock();
  }
}

/**
 * Runs `fn` with SIGXFSZ caught (a listener replaces the default action, which kills the
 * process), so that a write beyond `ulimit -f` fails with EFBIG and is reported as `DiskFull`.
 */
async function withFileSizeSignalCaught<T>(fn: () => Promise<T>): Promise<T> {
  if (Deno.build.os === "windows") return await fn(); // no such signal
  const ignore = () => {};
  Deno.addSignalListener("SIGXFSZ", ignore);
  try {
    return await fn();
  } finally {
    Deno.removeSignalListener("SIGXFSZ", ignore);
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

/** The hidden files of an unfinished download. */
interface PartialFiles {
  data: string;
  /** The sidecar, {@linkcode PartialState} as JSON. */
  state: string;
}

function partialFiles(imagesDir: string, key: string): PartialFiles {
  const data = join(imagesDir, `.${key}.partial`);
  return { data, state: `${data}.json` };
}

/** What a partial download is, so a later run knows whether and how to resume it. */
interface PartialState {
  version: 1;
  url: string;
  algorithm: HashAlgorithm;
  /** The digest the checksum file promised when the partial was started. */
  digest: string;
  /** Strong ETag of the response the bytes came from. */
  etag?: string;
  lastModified?: string;
  /** The image's full size, when the server said. */
  total?: number;
}

/** A download in progress: the bytes on disk and the digest of exactly those bytes. */
interface Transfer {
  offset: number;
  hash: Hash;
  total: number | undefined;
  /** The `If-Range` value proving later bytes belong to the same file. */
  validator: string | undefined;
  /** Bytes that were on disk before this process started (0 after a restart from zero). */
  resumedFrom: number;
}

async function downloadResumable(
  ref: ImageRef,
  digest: string,
  partial: PartialFiles,
  options: EnsureImageOptions & { settings: TransferSettings },
): Promise<{ size: number; digest: string }> {
  const { settings } = options;
  const transfer = await resumeTransfer(ref, digest, partial);
  await retrying(
    () => transferOnce(ref, digest, partial, transfer, options),
    {
      attempts: settings.attempts,
      retryDelayMs: settings.retryDelayMs,
      retryable: isTransient,
      ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    },
  );
  return { size: transfer.offset, digest: transfer.hash.digest("hex") };
}

/** Picks up a partial download of the same file, or discards one that does not belong. */
async function resumeTransfer(
  ref: ImageRef,
  digest: string,
  partial: PartialFiles,
): Promise<Transfer> {
  const saved = await readPartialState(partial.state);
  const size = await fileSize(partial.data);
  const validator = saved?.etag ?? saved?.lastModified;
  const belongs = saved !== undefined && size !== undefined && size > 0 &&
    validator !== undefined && saved.url === ref.imageUrl && saved.digest === digest &&
    saved.algorithm === ref.algorithm && (saved.total === undefined || size <= saved.total);
  if (!belongs) {
    await discardPartial(partial);
    return fresh(ref);
  }
  const hash = createDigest(ref.algorithm);
  const read = await hashFile(partial.data, size, hash);
  return { offset: read, hash, total: saved.total, validator, resumedFrom: read };
}

function fresh(ref: ImageRef): Transfer {
  return {
    offset: 0,
    hash: createDigest(ref.algorithm),
    total: undefined,
    validator: undefined,
    resumedFrom: 0,
  };
}

/** One request: asks for the missing bytes and appends them to the partial file. */
async function transferOnce(
  ref: ImageRef,
  digest: string,
  partial: PartialFiles,
  t: Transfer,
  options: EnsureImageOptions & { settings: TransferSettings },
): Promise<void> {
  if (t.total !== undefined && t.offset === t.total) return; // complete, never verified
  const resuming = t.offset > 0 && t.validator !== undefined;
  // Ranges count encoded bytes: ask for the file exactly as stored.
  const headers = new Headers({ "accept-encoding": "identity" });
  if (resuming) {
    headers.set("range", `bytes=${t.offset}-`);
    headers.set("if-range", t.validator!);
  }
  let response: Response;
  try {
    response = await fetchChecked(ref.imageUrl, {
      headers,
      stallTimeoutMs: options.settings.stallTimeoutMs,
    });
  } catch (error) {
    if (resuming && error instanceof HttpError && error.status === 416) {
      // The file is now shorter than the partial: it changed. Start from zero.
      await restart(ref, digest, partial, t, undefined);
      return await transferOnce(ref, digest, partial, t, options);
    }
    throw error;
  }
  if (resuming && response.status === 206) {
    const range = parseContentRange(response.headers.get("content-range"));
    if (range?.start !== t.offset) {
      await response.body?.cancel();
      await restart(ref, digest, partial, t, undefined);
      return await transferOnce(ref, digest, partial, t, options);
    }
    t.total = range.total ?? t.total;
  } else {
    // The whole file: the first request, a server that ignores Range, or If-Range saw a change.
    await restart(ref, digest, partial, t, response);
  }

  const { onProgress } = options;
  onProgress?.(t.offset, t.total, t.resumedFrom);
  let lastReport = Date.now();
  const file = await Deno.open(partial.data, { create: true, write: true, mode: 0o644 });
  try {
    // Drop anything past the hashed bytes, e.g. from a write that failed half-way.
    await file.truncate(t.offset);
    await file.seek(t.offset, Deno.SeekMode.Start);
    for await (const chunk of response.body ?? []) {
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
      t.hash.update(chunk);
      t.offset += chunk.length;
      const now = Date.now();
      if (onProgress && now - lastReport > 100) {
        lastReport = now;
        onProgress(t.offset, t.total, t.resumedFrom);
      }
    }
    await file.sync();
  } finally {
    file.close();
  }
  onProgress?.(t.offset, t.total, t.resumedFrom);
  if (t.total !== undefined && t.offset !== t.total) {
    throw new NetworkError(
      ref.imageUrl,
      `the server sent ${t.offset} of ${t.total} bytes and ended the response`,
      { answered: true },
    );
  }
}

/** Starts the partial over from zero; `response` (a 200) supplies the new validators. */
async function restart(
  ref: ImageRef,
  digest: string,
  partial: PartialFiles,
  t: Transfer,
  response: Response | undefined,
): Promise<void> {
  Object.assign(t, fresh(ref));
  await Deno.remove(partial.data).catch(ignoreNotFound);
  if (response === undefined) {
    await Deno.remove(partial.state).catch(ignoreNotFound);
    return;
  }
  const length = response.headers.get("content-length");
  const etag = response.headers.get("etag") ?? undefined;
  const state: PartialState = {
    version: 1,
    url: ref.imageUrl,
    algorithm: ref.algorithm,
    digest,
    // If-Range needs a strong validator; a weak ETag cannot be used.
    ...(etag && !etag.startsWith("W/") ? { etag } : {}),
    ...(response.headers.has("last-modified")
      ? { lastModified: response.headers.get("last-modified")! }
      : {}),
    ...(length !== null && /^\d+$/.test(length) ? { total: Number(length) } : {}),
  };
  t.total = state.total;
  t.validator = state.etag ?? state.lastModified;
  // The sidecar goes first: partial bytes without one are discarded, never trusted.
  await Deno.writeTextFile(partial.state, JSON.stringify(state) + "\n");
}

async function readPartialState(path: string): Promise<PartialState | undefined> {
  try {
    const state = JSON.parse(await Deno.readTextFile(path));
    return state?.version === 1 ? state as PartialState : undefined;
  } catch {
    return undefined;
  }
}

/** `bytes <start>-<end>/<total|*>` (pure). */
function parseContentRange(
  header: string | null,
): { start: number; total: number | undefined } | undefined {
  const match = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? "");
  if (!match) return undefined;
  return { start: Number(match[1]), total: match[3] === "*" ? undefined : Number(match[3]) };
}

function verifyDigest(ref: ImageRef, actual: string, expected: string): void {
  if (actual === expected) return;
  throw new InvalidChecksum(
    `Verifying '${ref.fileName}' failed: its ${ref.algorithm} digest ${actual} does not match ${expected} from ${ref.checksumUrl}`,
    {
      hint:
        "The image was corrupted in transit or the mirror is compromised; nothing was cached. Try again or use another mirror",
    },
  );
}

async function verifyQcow2(ref: ImageRef, path: string): Promise<void> {
  const problem = qcow2Problem(await inspectQcow2Header(path));
  if (problem === undefined) return;
  throw new UserError(`Checking '${ref.fileName}' failed: ${problem.detail}`, {
    code: problem.code,
    exitCode: ExitCode.verification,
    hint: `${problem.hint}; nothing was cached`,
  });
}

/** Moves the verified partial to its final name; the metadata makes it visible to listings. */
async function publish(
  ref: ImageRef,
  digest: string,
  partial: PartialFiles,
  finalPath: string,
  verified: { size: number; trust: TrustRecord | undefined },
): Promise<CachedImage> {
  const { size, trust } = verified;
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
    ...(trust ? { trust } : {}),
  };
  const { path: _path, ...stored } = meta;
  const tmp = join(dirname(finalPath), `.${basename(finalPath)}.json.tmp`);
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(stored, null, 2) + "\n");
    await Deno.rename(partial.data, finalPath);
    await Deno.rename(tmp, `${finalPath}.json`);
  } catch (error) {
    await Deno.remove(tmp).catch(ignoreNotFound);
    throw error;
  }
  await Deno.remove(partial.state).catch(ignoreNotFound);
  return meta;
}

/**
 * The error to report for a failed download, after deciding the partial's fate: kept when only
 * the network failed (the next run resumes), deleted for everything else.
 */
async function settleFailure(
  error: unknown,
  ref: ImageRef,
  partial: PartialFiles,
  context: { imagesDir: string; settings: TransferSettings },
): Promise<unknown> {
  const pull = `cubic pull ${ref.vendor}:${ref.names[0] ?? ""}:${ref.arch}`;
  if (error instanceof SignatureFetchError) {
    // The image arrived whole and matched its checksum; only its signature could not be fetched.
    const kept = error.transient ? await completeSize(ref, partial) : undefined;
    if (kept === undefined) {
      await discardPartial(partial);
      return error;
    }
    return new UserError(error.message, {
      cause: error.cause,
      code: error.code,
      hint: `The downloaded image (${
        formatBytes(kept)
      }) is kept, not yet trusted: run \`${pull}\` to fetch the signature again without downloading the image again, or use another mirror with ${
        mirrorEnvName(ref.vendor)
      }`,
    });
  }
  if (isDiskFull(error)) {
    const total = (await readPartialState(partial.state))?.total;
    await discardPartial(partial);
    const limit = /os error 27|EFBIG|too large/i.test((error as Error).message);
    const need = total === undefined ? undefined : formatBytes(total);
    const what = limit
      ? `the file-size limit (ulimit -f) is smaller than the image${need ? ` (${need})` : ""}`
      : "the disk is full";
    const fix = limit
      ? "Raise the limit (`ulimit -f unlimited`)"
      : `Free ${
        need ? `at least ${need}` : "space"
      } there (\`cubic prune\` deletes images no instance uses)`;
    return new UserError(`Saving '${ref.fileName}' in '${context.imagesDir}' failed: ${what}`, {
      cause: error,
      code: "DiskFull",
      hint: `${fix} and run \`${pull}\` again; the partial download was removed`,
    });
  }
  if (error instanceof NetworkError || (error instanceof HttpError && error.transient)) {
    const kept = await fileSize(partial.data) ?? 0;
    if (kept === 0) await discardPartial(partial);
    const attempts = context.settings.attempts;
    return new UserError(
      `Downloading '${ref.imageUrl}' failed after ${attempts} attempt${
        attempts === 1 ? "" : "s"
      }: ${error.reason}`,
      {
        cause: error,
        code: error.code,
        hint: `${
          kept > 0
            ? `The ${formatBytes(kept)} received are kept: run \`${pull}\` to resume`
            : `Run \`${pull}\` to try again`
        }, or use another mirror with ${mirrorEnvName(ref.vendor)}`,
      },
    );
  }
  await discardPartial(partial);
  return error;
}

/**
 * The partial's size when it holds the whole image and the next run can resume it (same URL, a
 * validator, a known total): that run then downloads nothing. Otherwise `undefined`.
 */
async function completeSize(ref: ImageRef, partial: PartialFiles): Promise<number | undefined> {
  const state = await readPartialState(partial.state);
  const size = await fileSize(partial.data);
  const resumable = state !== undefined && state.url === ref.imageUrl &&
    (state.etag ?? state.lastModified) !== undefined && state.total === size;
  return resumable && size !== undefined && size > 0 ? size : undefined;
}

function isDiskFull(error: unknown): boolean {
  return error instanceof Error &&
    /os error (28|27)\b|ENOSPC|EFBIG|No space left/i.test(
      `${error.message} ${(error as { code?: unknown }).code ?? ""}`,
    );
}

async function discardPartial(partial: PartialFiles): Promise<void> {
  await Deno.remove(partial.data).catch(ignoreNotFound);
  await Deno.remove(partial.state).catch(ignoreNotFound);
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Feeds the first `size` bytes of a file to `hash`; returns how many there were. */
async function hashFile(path: string, size: number, hash: Hash): Promise<number> {
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(1024 * 1024);
  let done = 0;
  while (done < size) {
    const n = await file.read(buffer.subarray(0, Math.min(buffer.length, size - done)));
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
    done += n;
  }
  return done;
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}
