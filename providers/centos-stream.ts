/**
 * CentOS Stream's generic cloud images (https://cloud.centos.org/centos/).
 *
 * Layout (Apache HTMLTable): the base lists `<n>-stream/` directories next to the old `6/ 7/ 8/`
 * trees. `<n>-stream/<x86_64|aarch64>/images/` holds dated builds
 * `CentOS-Stream-GenericCloud-<n>-<YYYYMMDD>.<k>.<arch>.qcow2`, the `-latest` alias, Vagrant and
 * ec2 variants, one `<image>.SHA256SUM` per artifact (a single BSD `SHA256 (name) = hex` line)
 * and a directory-wide `CHECKSUM` with `# name: N bytes` comments. We pick the newest dated build
 * so the name is pinned. CentOS publishes no signature for its cloud images (its official key
 * signs RPMs only), so refs carry no signature and the provider no keys.
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

/** The newest dated GenericCloud build of `release` for `arch` (else `-latest`), or `undefined`. */
async function findImage(
  ctx: ProviderContext,
  release: string,
  arch: Arch,
): Promise<{ dir: string; file: string; checksum: string } | undefined> {
  const a = VENDOR_ARCH[arch];
  const dir = `${ctx.baseUrl}${release}-stream/${a}/images/`;
  const files = await fetchListingFiles(ctx, dir);
  if (!files) return undefined;
  const dated = new RegExp(`^CentOS-Stream-GenericCloud-${release}-\\d{8}\\.\\d+\\.${a}\\.qcow2$`);
  const file = newestMatch(files, dated) ??
    files.find((f) => f === `CentOS-Stream-GenericCloud-${release}-latest.${a}.qcow2`);
  if (!file) return undefined;
  const checksum = files.includes(`${file}.SHA256SUM`) || !files.includes("CHECKSUM")
    ? `${file}.SHA256SUM`
    : "CHECKSUM";
  return { dir, file, checksum };
}

async function streams(ctx: ProviderContext): Promise<string[]> {
  return versionsMatching(listingDirectories(await ctx.fetchText(ctx.baseUrl)), /^(\d+)-stream$/);
}

/** The CentOS Stream provider. */
export const centosStream: Provider = {
  id: "centos-stream",
  displayName: "CentOS Stream",
  defaultBaseUrl: "https://cloud.centos.org/centos/",
  keys: [],

  async releases(ctx: ProviderContext): Promise<ReleaseInfo[]> {
    return probeReleases(await streams(ctx), (release, arch) => findImage(ctx, release, arch));
  },

  async resolve(ctx: ProviderContext, name: string, arch: Arch): Promise<ImageRef | undefined> {
    if (!/^\d+$/.test(name)) return undefined;
    const image = await findImage(ctx, name, arch);
    if (!image) return undefined;
    return imageRef(image.dir, image.file, {
      vendor: "centos-stream",
      names: [name],
      arch,
      checksum: image.checksum,
      algorithm: "sha256",
    });
  },
};
