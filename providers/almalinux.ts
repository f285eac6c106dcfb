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
 * Signature: a detached, armoured `CHECKSUM.asc` beside each `CHECKSUM`, made with the release's
 * own key (see keys/almalinux.ts). A ref is bound to its major's key only; a major newer than the
 * shipped keys verifies only against keys the user trusts in config.yaml.
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
import { ALMALINUX_10_KEY, ALMALINUX_8_KEY, ALMALINUX_9_KEY } from "./keys/almalinux.ts";

/** AlmaLinux's signing key per major release (see keys/almalinux.ts for fingerprints and sources). */
const RELEASE_KEYS: Readonly<Record<string, string>> = {
  "8": ALMALINUX_8_KEY,
  "9": ALMALINUX_9_KEY,
  "10": ALMALINUX_10_KEY,
};

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
  // One key per major release; a major newer than these needs its key added here.
  keys: Object.values(RELEASE_KEYS),

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
      signature: { kind: "detached", url: `${image.dir}CHECKSUM.asc`, over: "checksum" },
      keys: RELEASE_KEYS[name] === undefined ? [] : [RELEASE_KEYS[name]],
    });
  },
};
