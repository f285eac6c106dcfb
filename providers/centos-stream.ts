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
  type ImageRef,
  listingDirectories,
  listingFiles,
  type Provider,
  type ProviderContext,
  type ReleaseInfo,
} from "../src/provider.ts";
import { HttpError } from "../src/http.ts";

const VENDOR_ARCH: Readonly<Record<Arch, string>> = { amd64: "x86_64", arm64: "aarch64" };

/** The newest dated GenericCloud build of `release` for `arch` (else `-latest`), or `undefined`. */
async function findImage(
  ctx: ProviderContext,
  release: string,
  arch: Arch,
): Promise<{ dir: string; file: string; checksum: string } | undefined> {
  const a = VENDOR_ARCH[arch];
  const dir = `${ctx.baseUrl}${release}-stream/${a}/images/`;
  let files;
  try {
    files = listingFiles(await ctx.fetchText(dir));
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) return undefined;
    throw error;
  }
  const dated = new RegExp(`^CentOS-Stream-GenericCloud-${release}-\\d{8}\\.\\d+\\.${a}\\.qcow2$`);
  const newest = files
    .filter((f) => dated.test(f))
    .sort((x, y) => y.localeCompare(x, "en", { numeric: true }))[0];
  const file = newest ??
    files.find((f) => f === `CentOS-Stream-GenericCloud-${release}-latest.${a}.qcow2`);
  if (!file) return undefined;
  const checksum = files.includes(`${file}.SHA256SUM`) || !files.includes("CHECKSUM")
    ? `${file}.SHA256SUM`
    : "CHECKSUM";
  return { dir, file, checksum };
}

async function streams(ctx: ProviderContext): Promise<string[]> {
  const html = await ctx.fetchText(ctx.baseUrl);
  return listingDirectories(html)
    .map((d) => /^(\d+)-stream$/.exec(d)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort((a, b) => +a - +b);
}

/** The CentOS Stream provider. */
export const centosStream: Provider = {
  id: "centos-stream",
  displayName: "CentOS Stream",
  defaultBaseUrl: "https://cloud.centos.org/centos/",
  keys: [],

  async releases(ctx: ProviderContext): Promise<ReleaseInfo[]> {
    const out: ReleaseInfo[] = [];
    for (const release of await streams(ctx)) {
      const arches: Arch[] = [];
      for (const arch of ["amd64", "arm64"] as const) {
        if (await findImage(ctx, release, arch)) arches.push(arch);
      }
      if (arches.length > 0) out.push({ names: [release], arches });
    }
    return out;
  },

  async resolve(ctx: ProviderContext, name: string, arch: Arch): Promise<ImageRef | undefined> {
    if (!/^\d+$/.test(name)) return undefined;
    const image = await findImage(ctx, name, arch);
    if (!image) return undefined;
    return {
      vendor: "centos-stream",
      names: [name],
      arch,
      imageUrl: image.dir + image.file,
      fileName: image.file,
      checksumUrl: image.dir + image.checksum,
      algorithm: "sha256",
    };
  },
};
