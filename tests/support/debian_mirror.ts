/**
 * Lays out a directory the way cloud.debian.org publishes cloud images, so a
 * {@linkcode startMirrorServer} over it looks like Debian's mirror to Cubic's Debian provider.
 */
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";

/** Options for {@linkcode layoutDebianMirror}. */
export interface DebianMirrorOptions {
  /** Release codename, the directory under `images/cloud/`; default `bookworm`. */
  codename?: string;
  /** Release number in the file names; default `12`. */
  version?: string;
  /** Debian architecture name; default `amd64`. */
  arch?: string;
}

/** What {@linkcode layoutDebianMirror} published. */
export interface DebianMirrorLayout {
  /** URL path of the image, e.g. `/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2`. */
  imageUrlPath: string;
  /** Lower-case hex SHA-512 of the image, as listed in SHA512SUMS. */
  sha512: string;
}

/** Publishes `image` in `root` as Debian's `latest` generic cloud image with its SHA512SUMS. */
export async function layoutDebianMirror(
  image: string,
  root: string,
  options: DebianMirrorOptions = {},
): Promise<DebianMirrorLayout> {
  const codename = options.codename ?? "bookworm";
  const version = options.version ?? "12";
  const arch = options.arch ?? "amd64";
  const relativeDir = `images/cloud/${codename}/latest`;
  const dir = join(root, relativeDir);
  const name = `debian-${version}-generic-${arch}.qcow2`;
  await Deno.mkdir(dir, { recursive: true });

  // A symlink, not a copy: the image is 150 MB and every test run would copy it again.
  const link = join(dir, name);
  await Deno.remove(link).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  await Deno.symlink(resolve(image), link);

  const sha512 = await sha512File(image);
  await Deno.writeTextFile(join(dir, "SHA512SUMS"), sha512SumsText(name, sha512, version, arch));
  return { imageUrlPath: `/${relativeDir}/${name}`, sha512 };
}

/** Lower-case hex SHA-512 of a file, read in chunks. */
export async function sha512File(path: string): Promise<string> {
  const hash = createHash("sha512");
  const file = await Deno.open(path, { read: true });
  // The readable closes the file when it ends or fails.
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * Debian's SHA512SUMS: GNU `<hex>  <name>` lines sorted by name, listing the image's siblings
 * too (the real file covers every variant), so a parser must pick the right line.
 */
function sha512SumsText(image: string, digest: string, version: string, arch: string): string {
  const entries = new Map<string, string>([[image, digest]]);
  const siblings = [
    `debian-${version}-generic-${arch}.json`,
    `debian-${version}-generic-${arch}.raw`,
    `debian-${version}-generic-${arch}.tar.xz`,
    `debian-${version}-genericcloud-${arch}.qcow2`,
    `debian-${version}-nocloud-${arch}.qcow2`,
  ];
  // Digests of the names themselves: well-formed, stable, and never equal to the image's.
  for (const sibling of siblings) {
    entries.set(sibling, createHash("sha512").update(`placeholder ${sibling}`).digest("hex"));
  }
  const names = [...entries.keys()].sort();
  return names.map((name) => `${entries.get(name)}  ${name}\n`).join("");
}
