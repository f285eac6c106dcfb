/**
 * The provider contract. A provider is knowledge about one distribution's mirror: where its
 * releases are listed, which file is the cloud image for a release and arch, and which checksum
 * file vouches for it. Providers do no I/O of their own: they read text through the fetcher they
 * are handed, and the shared machinery (download, verification, cache) does the rest.
 *
 * The helpers below the contract are what every mirror layout shares: reading directory
 * listings, picking the newest build, probing which releases and arches resolve, and building
 * the resulting {@linkcode ImageRef}. What differs between vendors stays in their provider file.
 */
import { HttpError } from "./http.ts";

/** CPU architectures Cubic runs guests for, in Cubic's (Debian-style) spelling. */
export type Arch = "amd64" | "arm64";

/** Every architecture Cubic knows. */
export const ARCHES: readonly Arch[] = ["amd64", "arm64"];

/** Digest algorithms vendors publish. */
export type HashAlgorithm = "sha256" | "sha512";

/** Fetches a text document (listing or checksum file); throws on HTTP errors. */
export type FetchText = (url: string) => Promise<string>;

/** What a provider gets to work with. */
export interface ProviderContext {
  /** The mirror base URL, always ending with `/` (the default or the user's override). */
  baseUrl: string;
  /** Reads listings and checksum files. */
  fetchText: FetchText;
}

/** A release as the catalogue shows it. */
export interface ReleaseInfo {
  /** Names the release answers to, most specific first, e.g. `["12", "bookworm"]`. */
  names: string[];
  /** Architectures the vendor publishes this release for. */
  arches: Arch[];
}

/** A fully resolved image: where it is and what vouches for it. */
export interface ImageRef {
  vendor: string;
  /** Names of the release, e.g. `["12", "bookworm"]`. */
  names: string[];
  arch: Arch;
  /** Absolute URL of the disk image. */
  imageUrl: string;
  /** The image's file name exactly as the checksum file lists it. */
  fileName: string;
  /** Absolute URL of the vendor's checksum file. */
  checksumUrl: string;
  algorithm: HashAlgorithm;
  /** How the vendor signs it; absent when the vendor publishes no signature (checksum only). */
  signature?: SignatureRef;
  /**
   * The only keys that may sign this image, when narrower than the provider's (Fedora signs each
   * release with its own key, so F44's key must not vouch for F42).
   */
  keys?: readonly string[];
}

/**
 * Where a vendor's OpenPGP signature is: a detached signature over the checksum file (Ubuntu's
 * `SHA256SUMS.gpg`) or over the image itself (Arch's `.sig`), or the checksum file is itself a
 * clear-signed message (Fedora's `CHECKSUM`).
 */
export type SignatureRef =
  | { kind: "detached"; url: string; over: "checksum" | "image" }
  | { kind: "clearsigned" };

/** One distribution's mirror knowledge. */
export interface Provider {
  /** The vendor part of image names, e.g. `debian`; also names `CUBIC_MIRROR_<ID>`. */
  id: string;
  /** Human name, e.g. `Debian`. */
  displayName: string;
  /** The vendor's official mirror base URL, ending with `/`. */
  defaultBaseUrl: string;
  /**
   * The vendor's armoured OpenPGP public keys that sign its checksum files or images (empty when
   * the vendor signs nothing). Each key's fingerprint and where it is published sit in a comment
   * next to it.
   */
  keys: readonly string[];
  /** Lists the releases the mirror currently offers. */
  releases(ctx: ProviderContext): Promise<ReleaseInfo[]>;
  /**
   * Resolves a release name (version or codename) for an arch. Returns `undefined` when the
   * vendor does not publish that release or arch.
   */
  resolve(ctx: ProviderContext, name: string, arch: Arch): Promise<ImageRef | undefined>;
}

/** Extracts the targets of `href="..."` attributes from an HTML directory listing (pure). */
export function listingHrefs(html: string): string[] {
  const out: string[] = [];
  for (const match of html.matchAll(/href="([^"]*)"/gi)) {
    const href = match[1];
    if (href !== undefined) out.push(decodeHtml(href));
  }
  return out;
}

/** Names of the subdirectories a listing links to, relative to the listed directory (pure). */
export function listingDirectories(html: string): string[] {
  const names = new Set<string>();
  for (const href of listingHrefs(html)) {
    const m = /^(?:\.\/)?([^/?#:]+)\/$/.exec(href);
    if (m?.[1] && m[1] !== "..") names.add(m[1]);
  }
  return [...names];
}

/** Names of the files a listing links to, relative to the listed directory (pure). */
export function listingFiles(html: string): string[] {
  const names = new Set<string>();
  for (const href of listingHrefs(html)) {
    const m = /^(?:\.\/)?([^/?#:]+)$/.exec(href);
    if (m?.[1]) names.add(m[1]);
  }
  return [...names];
}

/** Names of the files the listing at `url` links to, or `undefined` when the mirror says 404. */
export async function fetchListingFiles(
  ctx: ProviderContext,
  url: string,
): Promise<string[] | undefined> {
  let html;
  try {
    html = await ctx.fetchText(url);
  } catch (error) {
    // An absent directory is how a mirror says "not offered"; any other failure is a real error.
    if (error instanceof HttpError && error.status === 404) return undefined;
    throw error;
  }
  return listingFiles(html);
}

/** Version order: digit runs compare as numbers, so `9.10` comes after `9.9`. */
function compareVersions(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

/** The greatest of the `names` that `pattern` matches, in version order, or `undefined` (pure). */
export function newestMatch(names: readonly string[], pattern: RegExp): string | undefined {
  // Sorted newest first (stable), so of names that compare equal the first listed wins.
  return names.filter((name) => pattern.test(name)).sort((x, y) => compareVersions(y, x))[0];
}

/** What `pattern` matches in each of `names` (its group 1, else all of it), oldest first (pure). */
export function versionsMatching(names: readonly string[], pattern: RegExp): string[] {
  return names
    .map((name) => {
      const m = pattern.exec(name);
      return m ? m[1] ?? m[0] : undefined;
    })
    .filter((version): version is string => version !== undefined)
    .sort(compareVersions);
}

/** Each of `releases` with the arches `probe` finds an image for; those with none are left out. */
export async function probeReleases(
  releases: readonly string[],
  probe: (release: string, arch: Arch) => Promise<unknown>,
): Promise<ReleaseInfo[]> {
  // One probe after another, in order: no burst of listing requests, and a predictable sequence.
  const out: ReleaseInfo[] = [];
  for (const release of releases) {
    const arches: Arch[] = [];
    for (const arch of ARCHES) {
      if (await probe(release, arch)) arches.push(arch);
    }
    if (arches.length > 0) out.push({ names: [release], arches });
  }
  return out;
}

/** What {@linkcode imageRef} needs besides the image's directory and file name. */
export interface ImageRefOptions {
  vendor: string;
  names: string[];
  arch: Arch;
  /** The checksum file's name, in the image's directory. */
  checksum: string;
  algorithm: HashAlgorithm;
  /** Omitted (or `undefined`) when the vendor signs nothing Cubic can verify. */
  signature?: SignatureRef | undefined;
  /** See {@linkcode ImageRef.keys}. */
  keys?: readonly string[] | undefined;
}

/** The {@linkcode ImageRef} of the image `file` in the directory URL `dir` (pure). */
export function imageRef(dir: string, file: string, options: ImageRefOptions): ImageRef {
  const { vendor, names, arch, checksum, algorithm, signature, keys } = options;
  return {
    vendor,
    names,
    arch,
    imageUrl: dir + file,
    fileName: file,
    checksumUrl: dir + checksum,
    algorithm,
    ...(signature && { signature }),
    ...(keys && { keys }),
  };
}

function decodeHtml(text: string): string {
  return text.replaceAll("&amp;", "&").replaceAll("&lt;", "<").replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"').replaceAll("&#39;", "'");
}
