/**
 * Providers users add without rebuilding Cubic: a YAML file in `~/.config/cubic/providers/`
 * describes a mirror's layout declaratively, and this module turns it into an ordinary Provider
 * (pure; the files are read by {@linkcode loadUserProviders}). Format (README, "Adding a
 * distribution"):
 *
 * ```yaml
 * id: mydistro                        # the image vendor: mydistro:1.0
 * name: My Distro
 * base_url: https://mirror.example/images/
 * releases:                           # a fixed list ...
 *   - names: ["1.0", "one"]
 * release_pattern: '^(\d+\.\d+)$'     # ... or directories of base_url's listing (group 1)
 * directory: "{release}/{arch}/"      # relative to base_url
 * image_pattern: 'mydistro-{release}-{arch}(-[0-9.]+)?\.qcow2'  # newest match wins
 * checksum_file: SHA256SUMS           # relative to the directory; may use {image}
 * algorithm: sha256                   # or sha512
 * arches: { amd64: x86_64, arm64: aarch64 }   # Cubic arch -> the mirror's spelling
 * signature: { kind: detached, file: SHA256SUMS.gpg, over: checksum }   # optional
 * keys: ["-----BEGIN PGP PUBLIC KEY BLOCK-----\n..."]                     # optional
 * ```
 */
import { join } from "node:path";
import { parseYaml } from "./config.ts";
import { UserError } from "./errors.ts";
import {
  type Arch,
  ARCHES,
  fetchListingFiles,
  type HashAlgorithm,
  type ImageRef,
  imageRef,
  listingDirectories,
  type Provider,
  type ProviderContext,
  type ReleaseInfo,
  type SignatureRef,
} from "./provider.ts";

interface Spec {
  id: string;
  name: string;
  baseUrl: string;
  releases: string[][] | undefined;
  releasePattern: RegExp | undefined;
  directory: string;
  imagePattern: string;
  checksumFile: string;
  algorithm: HashAlgorithm;
  arches: Partial<Record<Arch, string>>;
  signature: { kind: "detached"; file: string; over: "checksum" | "image" } | {
    kind: "clearsigned";
  } | undefined;
  keys: string[];
}

function fail(source: string, message: string): never {
  throw new UserError(`Reading the provider file '${source}' failed: ${message}`, {
    code: "InvalidProviderFile",
    hint: 'See README, section "Adding a distribution", for the format',
  });
}

function str(doc: Record<string, unknown>, key: string, source: string, fallback?: string): string {
  const value = doc[key] ?? fallback;
  if (typeof value !== "string" || value === "") {
    fail(source, `'${key}' must be a non-empty string`);
  }
  return value;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function fill(template: string, values: Record<string, string>, regex: boolean): string {
  return template.replace(/\{(release|arch|image)\}/g, (_, key: string) => {
    const value = values[key] ?? "";
    return regex ? escapeRegExp(value) : value;
  });
}

/** Parses a declarative provider file (pure). */
export function parseProviderFile(text: string, source: string): Provider {
  const raw = parseYaml(text);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    fail(source, "the top level must be a mapping");
  }
  const doc = raw as Record<string, unknown>;
  const id = str(doc, "id", source);
  if (!/^[a-z][a-z0-9-]*$/.test(id)) {
    fail(source, `id '${id}' must be lower-case letters, digits and '-'`);
  }
  const baseUrl = str(doc, "base_url", source);
  if (!/^https?:\/\/.+\/$/.test(baseUrl)) {
    fail(source, "base_url must be an http(s) URL ending with '/'");
  }
  const algorithm = str(doc, "algorithm", source, "sha256");
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    fail(source, "algorithm must be sha256 or sha512");
  }
  let releases: string[][] | undefined;
  let releasePattern: RegExp | undefined;
  if (Array.isArray(doc.releases)) {
    releases = doc.releases.map((r) => {
      const names = (r as { names?: unknown })?.names;
      if (
        !Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === "string")
      ) {
        fail(source, "each entry of 'releases' needs 'names', a list of strings");
      }
      return names as string[];
    });
  } else if (typeof doc.release_pattern === "string") {
    try {
      releasePattern = new RegExp(doc.release_pattern);
    } catch (error) {
      fail(
        source,
        `release_pattern is not a valid regular expression (${(error as Error).message})`,
      );
    }
  } else {
    fail(source, "give either 'releases' (a list) or 'release_pattern' (a regular expression)");
  }
  const arches: Partial<Record<Arch, string>> = {};
  const archDoc = doc.arches ?? { amd64: "amd64" };
  if (typeof archDoc !== "object" || archDoc === null) {
    fail(source, "'arches' must map amd64/arm64 to names");
  }
  for (const [arch, spelling] of Object.entries(archDoc)) {
    if (!(ARCHES as readonly string[]).includes(arch) || typeof spelling !== "string") {
      fail(
        source,
        `'arches' maps Cubic's amd64/arm64 to the mirror's spelling; '${arch}' is not one of them`,
      );
    }
    arches[arch as Arch] = spelling;
  }
  let signature: Spec["signature"];
  if (doc.signature !== undefined) {
    const sig = doc.signature as Record<string, unknown>;
    if (sig?.kind === "clearsigned") signature = { kind: "clearsigned" };
    else if (sig?.kind === "detached" && typeof sig.file === "string") {
      signature = {
        kind: "detached",
        file: sig.file,
        over: sig.over === "image" ? "image" : "checksum",
      };
    } else fail(source, "signature needs kind: clearsigned, or kind: detached with a file");
  }
  const keys = Array.isArray(doc.keys)
    ? doc.keys.filter((k): k is string => typeof k === "string")
    : [];
  if (signature && keys.length === 0) fail(source, "a signature needs at least one key in 'keys'");
  const spec: Spec = {
    id,
    name: typeof doc.name === "string" ? doc.name : id,
    baseUrl,
    releases,
    releasePattern,
    directory: str(doc, "directory", source),
    imagePattern: str(doc, "image_pattern", source),
    checksumFile: str(doc, "checksum_file", source),
    algorithm,
    arches,
    signature,
    keys,
  };
  return providerOf(spec);
}

function providerOf(spec: Spec): Provider {
  const releaseNames = async (ctx: ProviderContext): Promise<string[][]> => {
    if (spec.releases) return spec.releases;
    const dirs = listingDirectories(await ctx.fetchText(ctx.baseUrl));
    return dirs.flatMap((d) => {
      const m = spec.releasePattern!.exec(d);
      return m ? [[m[1] ?? m[0]]] : [];
    });
  };
  const provider: Provider = {
    id: spec.id,
    displayName: spec.name,
    defaultBaseUrl: spec.baseUrl,
    keys: spec.keys,
    async releases(ctx): Promise<ReleaseInfo[]> {
      return (await releaseNames(ctx)).map((names) => ({
        names,
        arches: ARCHES.filter((a) => spec.arches[a] !== undefined),
      }));
    },
    async resolve(ctx, name, arch): Promise<ImageRef | undefined> {
      const vendorArch = spec.arches[arch];
      if (vendorArch === undefined) return undefined;
      const names = (await releaseNames(ctx)).find((n) => n.includes(name));
      if (!names) return undefined;
      const release = names[0]!;
      const dir = ctx.baseUrl + fill(spec.directory, { release, arch: vendorArch }, false);
      const files = await fetchListingFiles(ctx, dir);
      if (!files) return undefined;
      const pattern = new RegExp(
        `^${fill(spec.imagePattern, { release, arch: vendorArch }, true)}$`,
      );
      const matches = files.filter((f) => pattern.test(f))
        .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
      const file = matches.at(-1);
      if (!file) return undefined;
      const signature: SignatureRef | undefined = spec.signature === undefined
        ? undefined
        : spec.signature.kind === "clearsigned"
        ? { kind: "clearsigned" }
        : {
          kind: "detached",
          url: dir + fill(spec.signature.file, { release, arch: vendorArch, image: file }, false),
          over: spec.signature.over,
        };
      return imageRef(dir, file, {
        vendor: spec.id,
        names,
        arch,
        checksum: fill(spec.checksumFile, { release, arch: vendorArch, image: file }, false),
        algorithm: spec.algorithm,
        signature,
      });
    },
  };
  return provider;
}

/** Loads every `*.yaml`/`*.yml` provider file from `<config>/providers/`, sorted by name. */
export async function loadUserProviders(configDir: string): Promise<Provider[]> {
  const dir = join(configDir, "providers");
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && /\.ya?ml$/.test(entry.name)) files.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const providers: Provider[] = [];
  for (const name of files.sort()) {
    const path = join(dir, name);
    providers.push(parseProviderFile(await Deno.readTextFile(path), path));
  }
  return providers;
}
