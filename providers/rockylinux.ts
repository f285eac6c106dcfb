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
  type ImageRef,
  listingDirectories,
  listingFiles,
  type Provider,
  type ProviderContext,
  type ReleaseInfo,
} from "../src/provider.ts";
import { HttpError } from "../src/http.ts";

const VENDOR_ARCH: Readonly<Record<Arch, string>> = { amd64: "x86_64", arm64: "aarch64" };

interface Image {
  dir: string;
  file: string;
  checksum: string;
}

async function listing(ctx: ProviderContext, url: string): Promise<string[] | undefined> {
  try {
    return listingFiles(await ctx.fetchText(url));
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) return undefined;
    throw error;
  }
}

/** The image in one `<version>/images/<arch>/` directory: newest pinned build, else an alias. */
async function imageIn(ctx: ProviderContext, version: string, major: string, arch: Arch) {
  const a = VENDOR_ARCH[arch];
  const dir = `${ctx.baseUrl}${version}/images/${a}/`;
  const files = await listing(ctx, dir);
  if (!files) return undefined;
  const pinned = new RegExp(
    `^Rocky-${major}-GenericCloud-Base-${major}\\.\\d+-\\d{8}\\.\\d+\\.${a}\\.qcow2$`,
  );
  const builds = files
    .filter((f) => pinned.test(f))
    .sort((x, y) => y.localeCompare(x, "en", { numeric: true }));
  const aliases = [
    `Rocky-${major}-GenericCloud-Base.latest.${a}.qcow2`,
    `Rocky-${major}-GenericCloud.latest.${a}.qcow2`,
  ].filter((alias) => files.includes(alias));
  const file = builds[0] ?? aliases[0];
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
  const minors = (await versions())
    .filter((v) => v.startsWith(`${major}.`) && /^\d+\.\d+$/.test(v))
    .sort((x, y) => y.localeCompare(x, "en", { numeric: true }));
  const newest = minors[0];
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
    const out: ReleaseInfo[] = [];
    for (const major of all.filter((v) => /^\d+$/.test(v)).sort((a, b) => +a - +b)) {
      const arches: Arch[] = [];
      for (const arch of ["amd64", "arm64"] as const) {
        if (await findImage(ctx, major, arch, () => Promise.resolve(all))) arches.push(arch);
      }
      if (arches.length > 0) out.push({ names: [major], arches });
    }
    return out;
  },

  async resolve(ctx: ProviderContext, name: string, arch: Arch): Promise<ImageRef | undefined> {
    if (!/^\d+$/.test(name)) return undefined;
    const image = await findImage(ctx, name, arch, () => versionDirs(ctx));
    if (!image) return undefined;
    return {
      vendor: "rockylinux",
      names: [name],
      arch,
      imageUrl: image.dir + image.file,
      fileName: image.file,
      checksumUrl: image.dir + image.checksum,
      algorithm: "sha256",
    };
  },
};
