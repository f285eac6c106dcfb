/**
 * Gentoo's weekly cloud-init disk images (https://distfiles.gentoo.org/releases/).
 *
 * Layout (nginx autoindex; only hrefs are read): `<arch>/autobuilds/` (Gentoo spells arches
 * like Cubic) holds dated `YYYYMMDDTHHMMSSZ/` build directories, `current-di-<arch>-cloudinit/`
 * (the newest build) and `latest-di-<arch>-cloudinit.txt`. The build directory holds
 * `di-<arch>-cloudinit-<stamp>.qcow2` (the name is already pinned), its `.sha256`
 * (clear-signed, `# SHA256 HASH` then GNU `hex  name`), `.DIGESTS` and a detached `.asc` over
 * the image. We use `.sha256`: in `.DIGESTS` a BLAKE2B digest has the length of a SHA-512 one
 * and only a `# BLAKE2B HASH` comment tells them apart, which a line parser cannot see.
 *
 * Signature: both the `.sha256` (clear-signed) and the image (`.asc`) are signed by Gentoo
 * Release Engineering's automated key (534E 4209 AB49 EEE1 C19D  9616 2C44 695D B9F6 043D).
 * That key material is not in the vetted key set yet, so refs carry no signature until it is
 * added to `keys/gentoo.ts`; then `{ kind: "clearsigned" }` is the one to declare.
 */
import {
  type Arch,
  fetchListingFiles,
  type ImageRef,
  imageRef,
  newestMatch,
  probeReleases,
  type Provider,
  type ProviderContext,
  type ReleaseInfo,
} from "../src/provider.ts";

/** The newest cloud-init image of `arch`, or `undefined` where Gentoo does not publish one. */
async function currentImage(
  ctx: ProviderContext,
  arch: Arch,
): Promise<{ dir: string; file: string } | undefined> {
  const dir = `${ctx.baseUrl}${arch}/autobuilds/current-di-${arch}-cloudinit/`;
  const files = await fetchListingFiles(ctx, dir);
  if (!files) return undefined;
  const file = newestMatch(files, new RegExp(`^di-${arch}-cloudinit-\\d{8}T\\d{6}Z\\.qcow2$`));
  return file === undefined ? undefined : { dir, file };
}

/** The Gentoo provider. */
export const gentoo: Provider = {
  id: "gentoo",
  displayName: "Gentoo",
  defaultBaseUrl: "https://distfiles.gentoo.org/releases/",
  keys: [],

  releases(ctx: ProviderContext): Promise<ReleaseInfo[]> {
    return probeReleases(["latest"], (_, arch) => currentImage(ctx, arch));
  },

  async resolve(ctx: ProviderContext, name: string, arch: Arch): Promise<ImageRef | undefined> {
    if (name !== "latest") return undefined;
    const image = await currentImage(ctx, arch);
    if (!image) return undefined;
    return imageRef(image.dir, image.file, {
      vendor: "gentoo",
      names: ["latest"],
      arch,
      checksum: `${image.file}.sha256`,
      algorithm: "sha256",
    });
  },
};
