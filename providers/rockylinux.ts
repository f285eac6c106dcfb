/**
 * Rocky Linux's generic cloud images (https://dl.rockylinux.org/pub/rocky/).
 *
 * Layout (nginx autoindex; only hrefs are read): the base lists major (`9/`) and minor (`9.8/`)
 * directories, `sig/` and key files. `<version>/images/<x86_64|aarch64>/` holds
 * `Rocky-<major>-GenericCloud-Base-<minor>-<YYYYMMDD>.<n>.<arch>.qcow2` builds, the
 * `GenericCloud-Base.latest` alias and the older `GenericCloud.latest` alias (Rocky 8 has only
 * that one), LVM/EC2/Vagrant variants, one `<image>.CHECKSUM` per artifact and a directory-wide
 * `CHECKSUM`, both BSD (`SHA256 (name) = hex`) after `# name: N bytes` comments. The major
 * directory is known to be unreliable for Rocky 10, so when it has no image we fall back to the
 * newest minor directory. Rocky does not sign its cloud-image checksums (only the ISO
 * `CHECKSUM` of 10 has a `.asc`), so refs carry no signature and the provider no keys.
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

const VENDOR_ARCH: Readonly<Record<Arch, string>> = { amd64: "x86_64", arm64: "aarch64" };

interface Image {
  dir: string;
  file: string;
  checksum: string;
}

/** The image in one `<version>/images/<arch>/` directory: newest pinned build, else an alias. */
async function imageIn(ctx: ProviderContext, version: string, major: string, arch: Arch) {
  const a = VENDOR_ARCH[arch];
  const dir = `${ctx.baseUrl}${version}/images/${a}/`;
  const files = await fetchListingFiles(ctx, dir);
  if (!files) return undefined;
  const pinned = new RegExp(
    `^Rocky-${major}-GenericCloud-Base-${major}\\.\\d+-\\d{8}\\.\\d+\\.${a}\\.qcow2$`,
  );
  const aliases = [
    `Rocky-${major}-GenericCloud-Base.latest.${a}.qcow2`,
    `Rocky-${major}-GenericCloud.latest.${a}.qcow2`,
  ].filter((alias) => files.includes(alias));
  const file = newestMatch(files, pinned) ?? aliases[0];
  if (!file) return undefined;
  // The per-image file is small and names the image; the directory-wide one lists it too.
  const checksum = files.includes(`${file}.CHECKSUM`) || !files.includes("CHECKSUM")
    ? `${file}.CHECKSUM`
    : "CHECKSUM";
  return { dir, file, checksum };
}

/** The image of `major`: in `<major>/`, else in the newest `<major>.<minor>/` of `versions()`. */
async function findImage(
  ctx: ProviderContext,
  major: string,
  arch: Arch,
  versions: () => Promise<string[]>,
): Promise<Image | undefined> {
  const inMajor = await imageIn(ctx, major, major, arch);
  if (inMajor) return inMajor;
  const newest = newestMatch(await versions(), new RegExp(`^${major}\\.\\d+$`));
  return newest === undefined ? undefined : await imageIn(ctx, newest, major, arch);
}

async function versionDirs(ctx: ProviderContext): Promise<string[]> {
  return listingDirectories(await ctx.fetchText(ctx.baseUrl)).filter((d) =>
    /^\d+(\.\d+)?$/.test(d)
  );
}

/** The Rocky Linux provider. */
export const rockylinux: Provider = {
  id: "rockylinux",
  displayName: "Rocky Linux",
  defaultBaseUrl: "https://dl.rockylinux.org/pub/rocky/",
  keys: [],

  async releases(ctx: ProviderContext): Promise<ReleaseInfo[]> {
    const all = await versionDirs(ctx);
    const majors = versionsMatching(all, /^\d+$/);
    return probeReleases(
      majors,
      (major, arch) => findImage(ctx, major, arch, () => Promise.resolve(all)),
    );
  },

  async resolve(ctx: ProviderContext, name: string, arch: Arch): Promise<ImageRef | undefined> {
    if (!/^\d+$/.test(name)) return undefined;
    const image = await findImage(ctx, name, arch, () => versionDirs(ctx));
    if (!image) return undefined;
    return imageRef(image.dir, image.file, {
      vendor: "rockylinux",
      names: [name],
      arch,
      checksum: image.checksum,
      algorithm: "sha256",
    });
  },
};
