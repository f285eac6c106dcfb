/**
 * Debian's official cloud images (https://cloud.debian.org/images/cloud/).
 *
 * Layout: the base listing links one directory per codename (plus `-backports` and `OpenStack`
 * entries we ignore); `<codename>/latest/` holds `debian-<N>-generic-<arch>.qcow2` and one
 * `SHA512SUMS` in GNU format for every file of the directory. Debian does not sign SHA512SUMS
 * for these images.
 */
import {
  type Arch,
  fetchListingFiles,
  type ImageRef,
  imageRef,
  listingDirectories,
  type Provider,
  type ProviderContext,
  type ReleaseInfo,
} from "../src/provider.ts";

/** Codenames Debian has used for numbered releases; the listing is the authority, this is a hint. */
const KNOWN_VERSIONS: Readonly<Record<string, string>> = {
  buster: "10",
  bullseye: "11",
  bookworm: "12",
  trixie: "13",
  forky: "14",
  duke: "15",
};

const IMAGE_PATTERN = /^debian-(\d+)-generic-(amd64|arm64)\.qcow2$/;

/** The images of `<codename>/latest/`, or `undefined` when the codename has no latest/. */
async function latestImages(
  ctx: ProviderContext,
  codename: string,
): Promise<{ version: string; arch: Arch; file: string }[] | undefined> {
  const files = await fetchListingFiles(ctx, `${ctx.baseUrl}${codename}/latest/`);
  if (!files) return undefined;
  const found: { version: string; arch: Arch; file: string }[] = [];
  for (const file of files) {
    const m = IMAGE_PATTERN.exec(file);
    if (m?.[1] && m[2]) found.push({ version: m[1], arch: m[2] as Arch, file });
  }
  return found;
}

async function codenames(ctx: ProviderContext): Promise<string[]> {
  const html = await ctx.fetchText(ctx.baseUrl);
  return listingDirectories(html).filter((d) => /^[a-z]+$/.test(d) && d !== "sid");
}

/** The Debian provider. */
export const debian: Provider = {
  id: "debian",
  displayName: "Debian",
  defaultBaseUrl: "https://cloud.debian.org/images/cloud/",
  // Debian signs only its legacy OpenStack images; `latest/SHA512SUMS` is unsigned.
  keys: [],

  async releases(ctx: ProviderContext): Promise<ReleaseInfo[]> {
    const out: ReleaseInfo[] = [];
    for (const codename of await codenames(ctx)) {
      // An EOL codename without latest/ (404) is not an offer; any other failure (a 503, a
      // timeout) must reach the catalogue, which then keeps the last good list.
      const images = await latestImages(ctx, codename);
      const version = images?.[0]?.version;
      if (!images || !version) continue;
      out.push({ names: [version, codename], arches: [...new Set(images.map((i) => i.arch))] });
    }
    return out;
  },

  async resolve(ctx: ProviderContext, name: string, arch: Arch): Promise<ImageRef | undefined> {
    let codename: string | undefined;
    if (/^\d+$/.test(name)) {
      codename = Object.entries(KNOWN_VERSIONS).find(([, v]) => v === name)?.[0];
      if (!codename) {
        // A release newer than this table: find it through the listing.
        const match = (await this.releases(ctx)).find((r) => r.names[0] === name);
        codename = match?.names[1];
      }
    } else if (/^[a-z]+$/.test(name)) {
      codename = name;
    }
    if (!codename) return undefined;
    const images = await latestImages(ctx, codename);
    const image = images?.find((i) => i.arch === arch && (name === codename || i.version === name));
    if (!image) return undefined;
    return imageRef(`${ctx.baseUrl}${codename}/latest/`, image.file, {
      vendor: "debian",
      names: [image.version, codename],
      arch,
      checksum: "SHA512SUMS",
      algorithm: "sha512",
    });
  },
};
