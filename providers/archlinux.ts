/**
 * Arch Linux's official cloud image (https://geo.mirror.pkgbuild.com/images/), built by
 * arch-boxes. x86_64 only: Arch publishes no official aarch64 image.
 *
 * Layout (nginx autoindex: CRLF, link texts cut to `first47..&gt;`, so only hrefs are read):
 * `vYYYYMMDD.JOB/` per release (the newest six are kept) and `latest/`, a symlink to the newest.
 * Each holds the versioned `Arch-Linux-x86_64-cloudimg-<YYYYMMDD.JOB>.qcow2` with its `.SHA256`
 * (GNU `hex  name`), `.SHA256.sig` and `.sig`, plus unversioned aliases: the image and its `.sig`
 * are symlinks, but the unversioned `.SHA256` is a copy rewritten by `sed` to name the
 * unversioned file, and it has no `.sig` (the rewrite broke it). So we resolve the versioned
 * name: its checksum names it exactly, and both of its signatures exist.
 */
import {
  type Arch,
  fetchListingFiles,
  type ImageRef,
  imageRef,
  newestMatch,
  type Provider,
  type ProviderContext,
  type ReleaseInfo,
} from "../src/provider.ts";
import { ARCH_BOXES_SIGNING_KEY } from "./keys/archlinux.ts";

const VERSIONED = /^Arch-Linux-x86_64-cloudimg-(\d{8}\.\d+)\.qcow2$/;
const UNVERSIONED = "Arch-Linux-x86_64-cloudimg.qcow2";

/** The cloud image file in `latest/`, versioned when the mirror lists one. */
async function latestImage(ctx: ProviderContext): Promise<string | undefined> {
  const files = await fetchListingFiles(ctx, `${ctx.baseUrl}latest/`);
  if (!files) return undefined;
  return newestMatch(files, VERSIONED) ?? files.find((f) => f === UNVERSIONED);
}

/** The Arch Linux provider. */
export const archlinux: Provider = {
  id: "archlinux",
  displayName: "Arch Linux",
  defaultBaseUrl: "https://geo.mirror.pkgbuild.com/images/",
  keys: [ARCH_BOXES_SIGNING_KEY],

  async releases(ctx: ProviderContext): Promise<ReleaseInfo[]> {
    return (await latestImage(ctx)) ? [{ names: ["latest"], arches: ["amd64"] }] : [];
  },

  async resolve(ctx: ProviderContext, name: string, arch: Arch): Promise<ImageRef | undefined> {
    if (name !== "latest" || arch !== "amd64") return undefined;
    const file = await latestImage(ctx);
    if (!file) return undefined;
    const dir = `${ctx.baseUrl}latest/`;
    return imageRef(dir, file, {
      vendor: "archlinux",
      names: ["latest"],
      arch,
      checksum: `${file}.SHA256`,
      algorithm: "sha256",
      // arch-boxes signs the image itself; `<image>.sig` exists for the versioned file and as a
      // symlink for the unversioned one, so it is never missing. (`.SHA256.sig` exists only for
      // the versioned checksum.)
      signature: { kind: "detached", url: `${dir}${file}.sig`, over: "image" },
    });
  },
};
