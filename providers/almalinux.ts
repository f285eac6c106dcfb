/**
 * AlmaLinux's generic cloud images (https://raw.repo.almalinux.org/almalinux/).
 *
 * Layout (nginx autoindex: CRLF, long link texts truncated, so only hrefs are read): the base
 * lists major (`9/`, `10/`) and minor (`9.8/`) directories plus `RPM-GPG-KEY-*` files; the major
 * directory is the stable alias. `<major>/cloud/<x86_64|aarch64>/images/` (10 adds `x86_64_v2/`,
 * which we do not use) holds `AlmaLinux-<major>-GenericCloud-<minor>-<YYYYMMDD>[.<n>].<arch>.qcow2`
 * builds (10 adds the `.0` build suffix), the `-latest` alias, `ext4` and `OpenNebula` variants,
 * and one `CHECKSUM` (GNU `hex  name`) listing the versioned and `-latest` names alike. We pick
 * the newest versioned build so the name is pinned.
 *
 * Signature: AlmaLinux publishes a detached `CHECKSUM.asc`, signed with the AlmaLinux OS <major>
 * key (9: BF18 AC28 7617 8908 D6E7  1267 D36C B86C B86B 3716). That key material is not in the
 * vetted key set yet, so refs carry no signature until it is added to `keys/almalinux.ts`.
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

/** The image to use for `major` and `arch`: the newest versioned build, else `-latest`. */
async function findImage(
  ctx: ProviderContext,
  major: string,
  arch: Arch,
): Promise<{ dir: string; file: string } | undefined> {
  const dir = `${ctx.baseUrl}${major}/cloud/${VENDOR_ARCH[arch]}/images/`;
  const files = await fetchListingFiles(ctx, dir);
  if (!files) return undefined;
  const a = VENDOR_ARCH[arch];
  const versioned = new RegExp(
    `^AlmaLinux-${major}-GenericCloud-${major}\\.\\d+-\\d{8}(?:\\.\\d+)?\\.${a}\\.qcow2$`,
  );
  const file = newestMatch(files, versioned) ??
    files.find((f) => f === `AlmaLinux-${major}-GenericCloud-latest.${a}.qcow2`);
  return file === undefined ? undefined : { dir, file };
}

async function majors(ctx: ProviderContext): Promise<string[]> {
  return versionsMatching(listingDirectories(await ctx.fetchText(ctx.baseUrl)), /^\d+$/);
}

/** The AlmaLinux provider. */
export const almalinux: Provider = {
  id: "almalinux",
  displayName: "AlmaLinux",
  defaultBaseUrl: "https://raw.repo.almalinux.org/almalinux/",
  keys: [],

  async releases(ctx: ProviderContext): Promise<ReleaseInfo[]> {
    return probeReleases(await majors(ctx), (major, arch) => findImage(ctx, major, arch));
  },

  async resolve(ctx: ProviderContext, name: string, arch: Arch): Promise<ImageRef | undefined> {
    if (!/^\d+$/.test(name)) return undefined;
    const image = await findImage(ctx, name, arch);
    if (!image) return undefined;
    return imageRef(image.dir, image.file, {
      vendor: "almalinux",
      names: [name],
      arch,
      checksum: "CHECKSUM",
      algorithm: "sha256",
    });
  },
};
