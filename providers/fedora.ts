/**
 * Fedora Cloud (https://dl.fedoraproject.org/pub/fedora/linux/releases/).
 *
 * Layout: the base listing (Apache `<pre>`) links one directory per release plus `test/`; EOL
 * releases move to archives.fedoraproject.org. `<n>/Cloud/<x86_64|aarch64>/images/` holds one
 * compose: `Fedora-Cloud-Base-Generic-<n>-<compose>.<arch>.qcow2` (the naming since 41; 40 used
 * `Generic.<arch>-40-<compose>`, hence releases > 40 only) and the compose's checksum file
 * `Fedora-Cloud-<n>-<compose>-<arch>-CHECKSUM`, named after the compose rather than the image:
 * BSD lines (`SHA256 (name) = hex`) after `# name: N bytes` comments, clear-signed with the
 * release's key (text mode, SHA-256). Every release's CHECKSUM is signed.
 */
import {
  type Arch,
  fetchListingFiles,
  type ImageRef,
  imageRef,
  listingDirectories,
  probeReleases,
  type Provider,
  type ProviderContext,
  type ReleaseInfo,
  versionsMatching,
} from "../src/provider.ts";
import { FEDORA_42_KEY, FEDORA_43_KEY, FEDORA_44_KEY, FEDORA_45_KEY } from "./keys/fedora.ts";

/** Fedora's signing key per release (see keys/fedora.ts for fingerprints and sources). */
const RELEASE_KEYS: Readonly<Record<string, string>> = {
  "42": FEDORA_42_KEY,
  "43": FEDORA_43_KEY,
  "44": FEDORA_44_KEY,
  "45": FEDORA_45_KEY,
};

const VENDOR_ARCH: Readonly<Record<Arch, string>> = { amd64: "x86_64", arm64: "aarch64" };

/** The newest compose's Generic image of `release` for `arch`, or `undefined`. */
async function findImage(
  ctx: ProviderContext,
  release: string,
  arch: Arch,
): Promise<{ dir: string; file: string; compose: string } | undefined> {
  const dir = `${ctx.baseUrl}${release}/Cloud/${VENDOR_ARCH[arch]}/images/`;
  const files = await fetchListingFiles(ctx, dir);
  if (!files) return undefined;
  const pattern = new RegExp(
    `^Fedora-Cloud-Base-Generic-${release}-(\\d+(?:\\.\\d+)*)\\.${VENDOR_ARCH[arch]}\\.qcow2$`,
  );
  const images = files
    .map((file) => ({ file, compose: pattern.exec(file)?.[1] }))
    .filter((i): i is { file: string; compose: string } => i.compose !== undefined)
    .sort((a, b) => b.compose.localeCompare(a.compose, "en", { numeric: true }));
  const newest = images[0];
  return newest && { dir, ...newest };
}

async function releaseNumbers(ctx: ProviderContext): Promise<string[]> {
  const dirs = listingDirectories(await ctx.fetchText(ctx.baseUrl));
  return versionsMatching(dirs, /^\d+$/).filter((release) => Number(release) > 40);
}

/** The Fedora provider. */
export const fedora: Provider = {
  id: "fedora",
  displayName: "Fedora",
  defaultBaseUrl: "https://dl.fedoraproject.org/pub/fedora/linux/releases/",
  // One key per release; a release newer than these needs its key added here.
  keys: Object.values(RELEASE_KEYS),

  async releases(ctx: ProviderContext): Promise<ReleaseInfo[]> {
    return probeReleases(
      await releaseNumbers(ctx),
      (release, arch) => findImage(ctx, release, arch),
    );
  },

  async resolve(ctx: ProviderContext, name: string, arch: Arch): Promise<ImageRef | undefined> {
    if (!/^\d+$/.test(name) || Number(name) <= 40) return undefined;
    const image = await findImage(ctx, name, arch);
    if (!image) return undefined;
    const checksum = `Fedora-Cloud-${name}-${image.compose}-${VENDOR_ARCH[arch]}-CHECKSUM`;
    return imageRef(image.dir, image.file, {
      vendor: "fedora",
      names: [name],
      arch,
      checksum,
      algorithm: "sha256",
      signature: { kind: "clearsigned" },
      // Each release is signed by its own key; a release without a shipped key verifies only
      // against keys the user trusts in config.yaml.
      keys: RELEASE_KEYS[name] === undefined ? [] : [RELEASE_KEYS[name]],
    });
  },
};
