/**
 * Image names (`vendor:name[:arch]`) → provider → resolved image reference.
 */
import { ExitCode, UserError } from "./errors.ts";
import { didYouMean } from "./did_you_mean.ts";
import { type CubicConfig, mirrorBaseUrl } from "./config.ts";
import { redactUrl } from "./http.ts";
import type { Arch, FetchText, ImageRef, Provider } from "./provider.ts";
import { ARCHES } from "./provider.ts";

/** A parsed image name. */
export interface ImageName {
  vendor: string;
  name: string;
  arch: Arch;
}

/** The host's architecture in Cubic's spelling. */
export function hostArch(): Arch {
  return Deno.build.arch === "aarch64" ? "arm64" : "amd64";
}

/**
 * Parses `vendor:name[:arch]` (pure). A malformed name is a usage error (exit 2), like any other
 * invalid argument.
 */
export function parseImageName(text: string, defaultArch: Arch): ImageName {
  const m = /^([a-z][a-z0-9-]*):([A-Za-z0-9._-]+)(?::([a-z0-9_]+))?$/.exec(text);
  const arch = m?.[3] === undefined
    ? defaultArch
    : m[3] === "x86_64"
    ? "amd64"
    : m[3] === "aarch64"
    ? "arm64"
    : m[3];
  if (!m?.[1] || !m[2] || !(ARCHES as readonly string[]).includes(arch)) {
    throw new UserError(`Reading the image name '${text}' failed: ${imageNameProblem(text)}`, {
      code: "InvalidImageName",
      exitCode: ExitCode.usage,
      hint:
        "For example debian:12, debian:bookworm or ubuntu:noble:arm64; list images with `cubic images`",
    });
  }
  return { vendor: m[1], name: m[2], arch: arch as Arch };
}

/** What is wrong with an image name {@linkcode parseImageName} refused (pure). */
function imageNameProblem(text: string): string {
  const [vendor = "", , arch, ...rest] = text.split(":");
  if (rest.length === 0 && arch !== undefined && /^[a-z0-9_]+$/.test(arch)) {
    return `unknown arch '${arch}' (Cubic runs ${ARCHES.join(" and ")} guests)`;
  }
  if (vendor !== vendor.toLowerCase() && /^[a-z][a-z0-9-]*$/.test(vendor.toLowerCase())) {
    return `vendor names are lower case ('${vendor.toLowerCase()}')`;
  }
  return "expected vendor:name[:arch]";
}

/** Formats an image name for display. */
export function formatImageName(image: ImageName): string {
  return `${image.vendor}:${image.name}:${image.arch}`;
}

/** Finds the provider for a vendor id. */
export function findProvider(providers: readonly Provider[], vendor: string): Provider {
  const provider = providers.find((p) => p.id === vendor);
  if (!provider) {
    const known = providers.map((p) => p.id);
    throw new UserError(
      `Looking up the image vendor '${vendor}' failed: Cubic does not know it${
        didYouMean(vendor, known)
      }`,
      {
        code: "UnknownImage",
        exitCode: ExitCode.usage,
        hint: `Known vendors: ${known.join(", ")}`,
      },
    );
  }
  return provider;
}

/** Resolves an image name against its vendor's mirror. */
export async function resolveImage(
  image: ImageName,
  options: {
    providers: readonly Provider[];
    config: CubicConfig;
    env: Record<string, string | undefined>;
    fetchText: FetchText;
  },
): Promise<ImageRef> {
  const provider = findProvider(options.providers, image.vendor);
  const baseUrl = mirrorBaseUrl(provider.id, provider.defaultBaseUrl, options);
  const ref = await provider.resolve(
    { baseUrl, fetchText: options.fetchText },
    image.name,
    image.arch,
  );
  if (!ref) {
    throw new UserError(
      `Looking up the image '${
        formatImageName(image)
      }' failed: ${provider.displayName}'s mirror at ${redactUrl(baseUrl)} does not offer it`,
      {
        code: "UnknownImage",
        hint: "List the available images with `cubic images`",
      },
    );
  }
  return ref;
}
