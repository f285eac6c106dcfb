/**
 * openSUSE Leap cloud images (https://download.opensuse.org/, served by MirrorCache: hrefs are
 * `./name`, and every file row adds two `./name.mirrorlist` links).
 *
 * Two trees, by release:
 * - Leap 15.x: the OBS project `repositories/Cloud:/Images:/Leap_<v>/images/` (literal `:` in
 *   the path) with `openSUSE-Leap-<v>.<arch>-<kiwi>-NoCloud-Build<b>.qcow2` and the static alias
 *   `openSUSE-Leap-<v>.<arch>-NoCloud.qcow2`. Each `.sha256` is clear-signed by OBS with the
 *   `Cloud:Images` project key (not the openSUSE project key, and not in the vetted key set), so
 *   refs carry no signature; the clear-signed wrapper is harmless to the checksum parser.
 * - Leap 16 and later: `distribution/leap/<v>/appliances/` with
 *   `Leap-<v>-Minimal-VM.<arch>-Cloud-Build<b>.qcow2`, its alias `…-Cloud.qcow2`, a one-line GNU
 *   `.sha256` and a detached `.sha256.asc` (v3 signature packet, SHA-512) by the openSUSE
 *   Project Signing Key, published for every `.sha256` of the directory.
 *
 * Either way the alias's `.sha256` names the versioned Build file, so matching the alias's name
 * exactly would fail: we resolve the newest versioned file from the listing and use its own
 * `.sha256`. Releases are discovered from the `Leap_<v>/` directories of `Cloud:Images`.
 */
import {
  type Arch,
  fetchListingFiles,
  type ImageRef,
  imageRef,
  listingDirectories,
  newestMatch,
  probeReleases,
  type Provider,
  type ProviderContext,
  type ReleaseInfo,
  versionsMatching,
} from "../src/provider.ts";
import { OPENSUSE_PROJECT_SIGNING_KEY } from "./keys/opensuse.ts";

const VENDOR_ARCH: Readonly<Record<Arch, string>> = { amd64: "x86_64", arm64: "aarch64" };

const OBS_PROJECT = "repositories/Cloud:/Images:/";

interface Layout {
  dir: string;
  image: RegExp;
  /** The openSUSE project key signs the appliances' checksums; OBS signs the others. */
  signed: boolean;
}

function escapeDots(text: string): string {
  return text.replaceAll(".", "\\.");
}

function layout(ctx: ProviderContext, version: string, arch: Arch): Layout {
  const a = VENDOR_ARCH[arch];
  const v = escapeDots(version);
  if (Number(version.split(".")[0]) >= 16) {
    return {
      dir: `${ctx.baseUrl}distribution/leap/${version}/appliances/`,
      image: new RegExp(`^Leap-${v}-Minimal-VM\\.${a}-Cloud-Build\\d+(?:\\.\\d+)*\\.qcow2$`),
      signed: true,
    };
  }
  return {
    dir: `${ctx.baseUrl}${OBS_PROJECT}Leap_${version}/images/`,
    image: new RegExp(
      `^openSUSE-Leap-${v}\\.${a}-\\d+(?:\\.\\d+)*-NoCloud-Build\\d+(?:\\.\\d+)*\\.qcow2$`,
    ),
    signed: false,
  };
}

/** The newest versioned image of `version` for `arch`, or `undefined`. */
async function findImage(ctx: ProviderContext, version: string, arch: Arch) {
  const where = layout(ctx, version, arch);
  const files = await fetchListingFiles(ctx, where.dir);
  if (!files) return undefined;
  const file = newestMatch(files, where.image);
  return file === undefined ? undefined : { ...where, file };
}

async function leapVersions(ctx: ProviderContext): Promise<string[]> {
  const html = await ctx.fetchText(ctx.baseUrl + OBS_PROJECT);
  return versionsMatching(listingDirectories(html), /^Leap_(\d+\.\d+)$/);
}

/** The openSUSE provider. */
export const opensuse: Provider = {
  id: "opensuse",
  displayName: "openSUSE",
  defaultBaseUrl: "https://download.opensuse.org/",
  keys: [OPENSUSE_PROJECT_SIGNING_KEY],

  async releases(ctx: ProviderContext): Promise<ReleaseInfo[]> {
    return probeReleases(await leapVersions(ctx), (version, arch) => findImage(ctx, version, arch));
  },

  async resolve(ctx: ProviderContext, name: string, arch: Arch): Promise<ImageRef | undefined> {
    if (!/^\d+\.\d+$/.test(name)) return undefined;
    const image = await findImage(ctx, name, arch);
    if (!image) return undefined;
    const checksum = `${image.file}.sha256`;
    return imageRef(image.dir, image.file, {
      vendor: "opensuse",
      names: [name],
      arch,
      checksum,
      algorithm: "sha256",
      signature: image.signed
        ? { kind: "detached", url: `${image.dir}${checksum}.asc`, over: "checksum" }
        : undefined,
    });
  },
};
