/**
 * User configuration: `~/.config/cubic/config.yaml` plus environment overrides
 * (`CUBIC_MIRROR_<PROVIDER>`). The only module that imports npm:yaml.
 */
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";
import { looksArmoured, publicKeyProblem } from "./armoured_key.ts";
import { didYouMean } from "./did_you_mean.ts";
import { errorMessage, UserError } from "./errors.ts";
import { redactUrl, rememberCredentials } from "./http.ts";

/** Settings a user can put in config.yaml. */
export interface CubicConfig {
  /** Mirror base URL per provider id, replacing the vendor's default. */
  mirrors: Record<string, string>;
  /**
   * Extra OpenPGP public keys trusted per provider id (armoured text, or a path to a file with
   * it), e.g. for a private mirror that re-signs its checksum files.
   */
  keys: Record<string, string[]>;
}

/** The environment variable that overrides a provider's mirror, e.g. `CUBIC_MIRROR_CENTOS_STREAM`. */
export function mirrorEnvName(providerId: string): string {
  return `CUBIC_MIRROR_${providerId.toUpperCase().replaceAll("-", "_")}`;
}

/** The mirror URL config.yaml sets for a provider id; own entries only (`constructor` is an id too). */
export function configuredMirror(config: CubicConfig, providerId: string): string | undefined {
  return Object.hasOwn(config.mirrors, providerId) ? config.mirrors[providerId] : undefined;
}

/** The keys config.yaml lists for a provider id; own entries only. */
export function configuredKeys(config: CubicConfig, providerId: string): readonly string[] {
  return Object.hasOwn(config.keys, providerId) ? config.keys[providerId] ?? [] : [];
}

/** The largest key file config.yaml may point to; real public keys are a few KiB. */
const KEY_FILE_LIMIT = 1024 * 1024;

/** The top-level keys config.yaml may have. */
const CONFIG_KEYS = ["mirrors", "keys"] as const;

/** Options for {@linkcode parseConfig} and {@linkcode loadConfig}. */
export interface ParseConfigOptions {
  /** Provider ids that exist; ids under `mirrors` and `keys` that are not among them are warned
   * about (not checked when omitted). */
  knownProviders?: readonly string[];
}

/** A parsed config.yaml and what in it was ignored. */
export interface ParsedConfig {
  config: CubicConfig;
  /** One sentence per ignored entry (an unknown key, a provider id no provider has). */
  warnings: string[];
}

/**
 * Parses config.yaml's text (pure); `source` names the file in errors and warnings. Keys Cubic
 * does not know are ignored with a warning, so a typo never passes silently.
 */
export function parseConfig(
  text: string,
  source: string,
  options: ParseConfigOptions = {},
): ParsedConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (cause) {
    throw new UserError(`Reading '${source}' failed: ${firstLine((cause as Error).message)}`, {
      cause,
      hint: "Fix the YAML syntax or move the file away",
    });
  }
  const config: CubicConfig = { mirrors: {}, keys: {} };
  CONFIG_SOURCES.set(config, source);
  const warnings: string[] = [];
  if (doc === null || doc === undefined) return { config, warnings };
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new UserError(`Reading '${source}' failed: the top level must be a mapping`, {
      hint: "See README, section Configuration",
    });
  }
  for (const key of Object.keys(doc)) {
    if ((CONFIG_KEYS as readonly string[]).includes(key)) continue;
    warnings.push(
      `Reading '${source}': ignoring the unknown key '${key}'${
        didYouMean(key, CONFIG_KEYS)
      } (known keys: ${CONFIG_KEYS.join(", ")})`,
    );
  }
  const mirrors = (doc as Record<string, unknown>).mirrors;
  if (mirrors !== undefined) {
    if (typeof mirrors !== "object" || mirrors === null || Array.isArray(mirrors)) {
      throw new UserError(`Reading '${source}' failed: 'mirrors' must map provider ids to URLs`, {
        hint: "Example:  mirrors: { debian: 'http://127.0.0.1:8080/images/cloud/' }",
      });
    }
    for (const [id, url] of Object.entries(mirrors)) {
      if (typeof url !== "string") {
        throw new UserError(`Reading '${source}' failed: mirrors.${id} must be a URL string`, {
          hint: "Quote the URL",
        });
      }
      if (url.trim() === "") {
        throw new UserError(`Reading '${source}' failed: mirrors.${id} is empty`, {
          hint: `Give a URL, or remove mirrors.${id} to use the vendor's own mirror`,
        });
      }
      Object.defineProperty(config.mirrors, id, { value: url, enumerable: true });
    }
  }
  const keys = (doc as Record<string, unknown>).keys;
  if (keys !== undefined) {
    if (typeof keys !== "object" || keys === null || Array.isArray(keys)) {
      throw new UserError(
        `Reading '${source}' failed: 'keys' must map provider ids to lists of keys`,
        {
          hint: "Example:  keys: { ubuntu: [/home/me/mirror-key.asc] }",
        },
      );
    }
    for (const [id, list] of Object.entries(keys)) {
      if (!Array.isArray(list) || !list.every((k) => typeof k === "string")) {
        throw new UserError(
          `Reading '${source}' failed: keys.${id} must be a list of key files or armoured keys`,
          {
            hint: "Example:  keys: { ubuntu: [/home/me/mirror-key.asc] }",
          },
        );
      }
      Object.defineProperty(config.keys, id, { value: list, enumerable: true });
    }
  }
  const known = options.knownProviders;
  if (known !== undefined) {
    for (const section of ["mirrors", "keys"] as const) {
      for (const id of Object.keys(config[section])) {
        if (known.includes(id)) continue;
        warnings.push(
          `Reading '${source}': ignoring ${section}.${id}: no provider has the id '${id}'${
            didYouMean(id, known)
          } (known: ${known.join(", ")})`,
        );
      }
    }
  }
  return { config, warnings };
}

/** Loads config.yaml from the config directory; a missing file is an empty config. */
export async function loadConfig(
  configDir: string,
  options: ParseConfigOptions = {},
): Promise<ParsedConfig> {
  const file = join(configDir, "config.yaml");
  try {
    return parseConfig(await Deno.readTextFile(file), file, options);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { config: { mirrors: {}, keys: {} }, warnings: [] };
    }
    throw error;
  }
}

/**
 * The mirror base URL for a provider: environment first, then config.yaml, then the vendor's
 * default. Always ends with `/`; must be http(s). Credentials in it (`http://user:pass@host/`)
 * are handed to {@linkcode rememberCredentials}: the URL returned has none, requests under it
 * still send them.
 */
export function mirrorBaseUrl(
  providerId: string,
  defaultUrl: string,
  sources: { env: Record<string, string | undefined>; config: CubicConfig },
): string {
  const envName = mirrorEnvName(providerId);
  const fromEnv = sources.env[envName];
  const configured = configuredMirror(sources.config, providerId);
  const chosen = fromEnv || configured || defaultUrl;
  const origin = fromEnv ? envName : configured ? "config.yaml" : "default";
  let url: URL;
  try {
    url = new URL(chosen);
  } catch {
    throw new UserError(`Using the ${providerId} mirror '${redactUrl(chosen)}' failed: not a URL`, {
      hint: `Set ${envName} (or mirrors.${providerId} in config.yaml) to an http(s) URL`,
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UserError(
      `Using the ${providerId} mirror '${
        redactUrl(chosen)
      }' (from ${origin}) failed: only http and https are supported`,
      { hint: `Set ${envName} to an http(s) URL` },
    );
  }
  return rememberCredentials(url.href.endsWith("/") ? url.href : url.href + "/");
}

/** Parses YAML text (npm:yaml is imported only in this module). */
export function parseYaml(text: string): unknown {
  return parse(text);
}

/** The file each parsed config came from, so errors found later (a bad key) can name it. */
const CONFIG_SOURCES = new WeakMap<CubicConfig, string>();

/**
 * The extra keys config.yaml trusts for a provider, read from files where paths are given. Each
 * must be an armoured OpenPGP public key; anything else is a UserError naming the entry.
 */
export async function trustedExtraKeys(config: CubicConfig, providerId: string): Promise<string[]> {
  const source = CONFIG_SOURCES.get(config) ?? "config.yaml";
  const out: string[] = [];
  for (const [index, entry] of configuredKeys(config, providerId).entries()) {
    const hint =
      `Put the armoured public key (\`gpg --armor --export <fingerprint>\`), or the path of a file holding it, under keys.${providerId} in ${source}`;
    if (looksArmoured(entry)) {
      const problem = await publicKeyProblem(entry);
      if (problem !== undefined) {
        throw new UserError(
          `Reading the trusted key keys.${providerId}[${index}] in '${source}' failed: ${problem}`,
          { code: "InvalidKey", hint },
        );
      }
      out.push(entry);
      continue;
    }
    const path = keyFilePath(entry, source);
    const text = await readKeyFile(path, providerId, source);
    const problem = await publicKeyProblem(text);
    if (problem !== undefined) {
      throw new UserError(
        `Reading the trusted key file '${path}' for ${providerId} failed: ${problem}`,
        { code: "InvalidKey", hint },
      );
    }
    out.push(text);
  }
  return out;
}

/**
 * Where a key file named in config.yaml is (pure): `~/` is the home directory, and a relative path
 * is relative to config.yaml's directory — never to wherever Cubic happens to run, where anyone
 * could have planted a key.
 */
export function keyFilePath(entry: string, source: string, home = Deno.env.get("HOME")): string {
  if (entry.startsWith("~/") && home) return join(home, entry.slice(2));
  return isAbsolute(entry) ? entry : join(dirname(source), entry);
}

/** Reads a key file named in config.yaml: a regular file of at most {@linkcode KEY_FILE_LIMIT}. */
async function readKeyFile(path: string, providerId: string, source: string): Promise<string> {
  const failed = (reason: string, cause?: unknown) =>
    new UserError(`Reading the trusted key file '${path}' for ${providerId} failed: ${reason}`, {
      cause,
      code: "KeyFileUnreadable",
      hint: `Fix the path under keys.${providerId} in ${source} (a relative path is relative to ` +
        "config.yaml's directory)",
    });
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (cause) {
    throw failed(
      cause instanceof Deno.errors.NotFound
        ? "no such file"
        : cause instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : errorMessage(cause),
      cause,
    );
  }
  try {
    const info = await file.stat();
    if (!info.isFile) throw failed("not a regular file");
    if (info.size > KEY_FILE_LIMIT) {
      throw failed(`it is larger than ${KEY_FILE_LIMIT / 1024} KiB, which no public key is`);
    }
    const bytes = new Uint8Array(KEY_FILE_LIMIT + 1);
    let length = 0;
    while (length < bytes.length) {
      const n = await file.read(bytes.subarray(length));
      if (n === null) break;
      length += n;
    }
    if (length > KEY_FILE_LIMIT) {
      throw failed(`it is larger than ${KEY_FILE_LIMIT / 1024} KiB, which no public key is`);
    }
    return new TextDecoder().decode(bytes.subarray(0, length));
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw failed(errorMessage(error), error);
  } finally {
    file.close();
  }
}

/** The first line of a parser's message (npm:yaml adds a code excerpt on further lines). */
function firstLine(message: string): string {
  return (message.split("\n")[0]?.trim() ?? "").replace(/:$/, "");
}
