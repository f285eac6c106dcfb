/**
 * Ubuntu's minimal cloud images (https://cloud-images.ubuntu.com/minimal/releases/).
 *
 * Layout: the base listing (Apache `<pre>`) links one directory per codename, EOL ones included,
 * plus `streams/` (simplestreams metadata, not a release). `<codename>/release/` is the alias of
 * the newest `release-YYYYMMDD/`; it holds `ubuntu-<version>-minimal-cloudimg-<arch>.img` (qcow2
 * content) for every arch the release is built for, and one `SHA256SUMS` for all of them: GNU
 * binary lines (`hex *name`) sorted by digest. The file names carry no serial, so the name in
 * `release/` is as exact as in the dated directory. `SHA256SUMS.gpg` is always published next
 * to it: an armoured detached signature by the UEC Image Automatic Signing Key.
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
import { UBUNTU_CLOUD_IMAGE_SIGNING_KEY } from "./keys/ubuntu.ts";

/** Versions of recent codenames; the listing is the authority, this saves a scan for `24.04`. */
const KNOWN_VERSIONS: Readonly<Record<string, string>> = {
  bionic: "18.04",
  focal: "20.04",
  jammy: "22.04",
  noble: "24.04",
  oracular: "24.10",
  plucky: "25.04",
  questing: "25.10",
  resolute: "26.04",
};

// Anchored: `amd64v3` images (26.04 and later) and `-root.tar.xz` siblings must not match.
const IMAGE_PATTERN = /^ubuntu-(\d+\.\d+)-minimal-cloudimg-(amd64|arm64)\.img$/;

interface Image {
  version: string;
  arch: Arch;
  file: string;
}

/** The images of `<codename>/release/`, or `undefined` when the codename has no release. */
async function releaseImages(ctx: ProviderContext, codename: string): Promise<Image[] | undefined> {
  const files = await fetchListingFiles(ctx, `${ctx.baseUrl}${codename}/release/`);
  if (!files) return undefined;
  const found: Image[] = [];
  for (const file of files) {
    const m = IMAGE_PATTERN.exec(file);
    if (m?.[1] && m[2]) found.push({ version: m[1], arch: m[2] as Arch, file });
  }
  return found;
}

async function codenames(ctx: ProviderContext): Promise<string[]> {
  const html = await ctx.fetchText(ctx.baseUrl);
  return listingDirectories(html).filter((d) => /^[a-z]+$/.test(d) && d !== "streams");
}

/** The Ubuntu provider. */
export const ubuntu: Provider = {
  id: "ubuntu",
  displayName: "Ubuntu",
  defaultBaseUrl: "https://cloud-images.ubuntu.com/minimal/releases/",
  keys: [UBUNTU_CLOUD_IMAGE_SIGNING_KEY],

  async releases(ctx: ProviderContext): Promise<ReleaseInfo[]> {
    const out: ReleaseInfo[] = [];
    for (const codename of await codenames(ctx)) {
      const images = await releaseImages(ctx, codename);
      const version = images?.[0]?.version;
      if (!images || !version) continue; // EOL codenames keep a directory without release/
      out.push({ names: [version, codename], arches: [...new Set(images.map((i) => i.arch))] });
    }
    return out;
  },

  async resolve(ctx: ProviderContext, name: string, arch: Arch): Promise<ImageRef | undefined> {
    let codename: string | undefined;
    if (/^\d+\.\d+$/.test(name)) {
      codename = Object.entries(KNOWN_VERSIONS).find(([, v]) => v === name)?.[0];
      if (!codename) {
        const match = (await this.releases(ctx)).find((r) => r.names[0] === name);
        codename = match?.names[1];
      }
    } else if (/^[a-z]+$/.test(name) && name !== "streams") {
      codename = name;
    }
    if (!codename) return undefined;
    const images = await releaseImages(ctx, codename);
    const image = images?.find((i) => i.arch === arch && (name === codename || i.version === name));
    if (!image) return undefined;
    const dir = `${ctx.baseUrl}${codename}/release/`;
    return imageRef(dir, image.file, {
      vendor: "ubuntu",
      names: [image.version, codename],
      arch,
      checksum: "SHA256SUMS",
      algorithm: "sha256",
      // Always published next to SHA256SUMS; never conditional on the listing, so a mirror that
      // drops it fails verification instead of silently skipping it.
      signature: { kind: "detached", url: dir + "SHA256SUMS.gpg", over: "checksum" },
    });
  },
};
