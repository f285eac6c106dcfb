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
import { publicKeyProblem } from "./armoured_key.ts";
import { mirrorEnvName, parseYaml } from "./config.ts";
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
    hint: `Fix or move away ${source}; see README, section "Adding a distribution", for the format`,
  });
}

function str(doc: Record<string, unknown>, key: string, source: string, fallback?: string): string {
  const value = doc[key] ?? fallback;
  if (typeof value !== "string" || value === "") {
    fail(source, `'${key}' must be a non-empty string`);
  }
  return value;
}

/** A release name or arch spelling is one plain path segment: never `.`, `..` or a `/` (pure). */
function isPathSegment(text: string): boolean {
  return /^[A-Za-z0-9._-]+$/.test(text) && !/^\.+$/.test(text);
}

/**
 * Checks a path template (`directory`, `checksum_file`, `signature.file`) that is relative to
 * base_url or the image's directory, and normalises it: `.` segments and doubled `/` go, a
 * directory ends with `/`. A `..` segment, a leading `/` or a URL would leave the mirror the
 * user configured (and be printed and stored un-normalised), so each is refused (pure).
 */
function relativeTemplate(
  template: string,
  key: string,
  source: string,
  options: { directory: boolean },
): string {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(template)) {
    fail(source, `${key} '${template}' must be a path relative to base_url, not a URL`);
  }
  if (template.startsWith("/") || template.includes("\\")) {
    fail(source, `${key} '${template}' must be a relative path (no leading '/' or '\\')`);
  }
  // URLs treat `%2e` as `.`, so `%2e%2e` climbs like `..` does.
  const segments = template.split("/").map((seg) => ({
    seg,
    dots: seg.replace(/%2e/gi, "."),
  }));
  if (segments.some((s) => s.dots === "..")) {
    fail(source, `${key} '${template}' must not contain '..': it would leave base_url`);
  }
  const kept = segments.filter((s) => s.seg !== "" && s.dots !== ".").map((s) => s.seg);
  if (options.directory) return kept.length === 0 ? "" : `${kept.join("/")}/`;
  if (kept.length === 0 || template.endsWith("/")) {
    fail(source, `${key} '${template}' must name a file`);
  }
  return kept.join("/");
}

/** Checks that image_pattern is a valid regular expression once its placeholders are filled. */
function imagePattern(template: string, source: string): string {
  try {
    new RegExp(`^${fill(template, { release: "1.0", arch: "x86_64", image: "" }, true)}$`);
  } catch (error) {
    fail(source, `image_pattern is not a valid regular expression (${(error as Error).message})`);
  }
  return template;
}

/**
 * `base + relative` with `.`/`..` resolved, or `undefined` when the result is not under `base`
 * (a value from the mirror's listing must not lead elsewhere either).
 */
function within(base: string, relative: string): string | undefined {
  const root = new URL(base).href;
  const url = new URL(base + relative).href;
  return url.startsWith(root) ? url : undefined;
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
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    // npm:yaml's message continues with a code excerpt; its first line has the line and column.
    fail(source, `it is not valid YAML: ${(error as Error).message.split("\n")[0]?.trim()}`);
  }
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
      for (const name of names as string[]) {
        if (!isPathSegment(name)) {
          fail(source, `release name '${name}' must be letters, digits, '.', '_' and '-'`);
        }
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
    if (!isPathSegment(spelling)) {
      fail(source, `arches.${arch} '${spelling}' must be letters, digits, '.', '_' and '-'`);
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
        file: relativeTemplate(sig.file, "signature.file", source, { directory: false }),
        over: sig.over === "image" ? "image" : "checksum",
      };
    } else fail(source, "signature needs kind: clearsigned, or kind: detached with a file");
  }
  if (doc.keys !== undefined && !Array.isArray(doc.keys)) {
    fail(source, "'keys' must be a list of armoured OpenPGP public keys");
  }
  const keys = (doc.keys ?? []) as unknown[];
  if (!keys.every((k): k is string => typeof k === "string")) {
    fail(source, "'keys' must be a list of armoured OpenPGP public keys (strings)");
  }
  if (signature && keys.length === 0) fail(source, "a signature needs at least one key in 'keys'");
  const spec: Spec = {
    id,
    name: typeof doc.name === "string" ? doc.name : id,
    baseUrl,
    releases,
    releasePattern,
    directory: relativeTemplate(str(doc, "directory", source), "directory", source, {
      directory: true,
    }),
    imagePattern: imagePattern(str(doc, "image_pattern", source), source),
    checksumFile: relativeTemplate(str(doc, "checksum_file", source), "checksum_file", source, {
      directory: false,
    }),
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
      const dir = within(ctx.baseUrl, fill(spec.directory, { release, arch: vendorArch }, false));
      if (dir === undefined) return undefined;
      const files = await fetchListingFiles(ctx, dir);
      if (!files) return undefined;
      const pattern = new RegExp(
        `^${fill(spec.imagePattern, { release, arch: vendorArch }, true)}$`,
      );
      const matches = files.filter((f) => !/^\.+$/.test(f) && pattern.test(f))
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
      const ref = imageRef(dir, file, {
        vendor: spec.id,
        names,
        arch,
        checksum: fill(spec.checksumFile, { release, arch: vendorArch, image: file }, false),
        algorithm: spec.algorithm,
        signature,
      });
      const urls = [ref.imageUrl, ref.checksumUrl];
      if (signature?.kind === "detached") urls.push(signature.url);
      return urls.every((url) => within(dir, url.slice(dir.length)) !== undefined)
        ? ref
        : undefined;
    },
  };
  return provider;
}

/** The user's provider files: those that can be used, and the first problem with any of them. */
export interface UserProviders {
  providers: Provider[];
  /**
   * Why a provider file cannot be used (unreadable, invalid, a bad key, an id already taken), as
   * the error to show when a command needs the providers; `undefined` when all are fine.
   */
  problem: UserError | undefined;
}

/**
 * Loads every `*.yaml`/`*.yml` provider file from `<config>/providers/`, sorted by name. Problems
 * are returned, not thrown, so that commands that need no provider (`instances`, `delete`, ...)
 * keep working while a provider file is being fixed. `reserved` are the built-in providers' ids.
 */
export async function loadUserProviders(
  configDir: string,
  options: { reserved?: readonly string[] } = {},
): Promise<UserProviders> {
  const dir = join(configDir, "providers");
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && /\.ya?ml$/.test(entry.name)) files.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { providers: [], problem: undefined };
    throw error;
  }
  const providers: Provider[] = [];
  const sources = new Map<string, string>();
  const problems: UserError[] = [];
  for (const name of files.sort()) {
    const path = join(dir, name);
    try {
      const provider = await loadProviderFile(path);
      if (options.reserved?.includes(provider.id)) {
        fail(
          path,
          `its id '${provider.id}' is a built-in provider's (to use another mirror for it, set ${
            mirrorEnvName(provider.id)
          } or mirrors.${provider.id} in config.yaml)`,
        );
      }
      const earlier = sources.get(provider.id);
      if (earlier !== undefined) {
        fail(path, `its id '${provider.id}' is already used by the provider file '${earlier}'`);
      }
      sources.set(provider.id, path);
      providers.push(provider);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      problems.push(error);
    }
  }
  const [first] = problems;
  const problem = first === undefined || problems.length === 1 ? first : new UserError(
    `${first.message} (and ${problems.length - 1} more provider file problem${
      problems.length === 2 ? "" : "s"
    })`,
    { code: first.code, cause: first, ...(first.hint === undefined ? {} : { hint: first.hint }) },
  );
  return { providers, problem };
}

/** Reads and parses one provider file, checking that each of its keys is a readable public key. */
async function loadProviderFile(path: string): Promise<Provider> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    fail(path, `it cannot be read (${(error as Error).message})`);
  }
  const provider = parseProviderFile(text, path);
  for (const [index, key] of provider.keys.entries()) {
    const problem = await publicKeyProblem(key);
    if (problem !== undefined) fail(path, `keys[${index}]: ${problem}`);
  }
  return provider;
}
