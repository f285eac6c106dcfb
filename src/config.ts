/**
 * User configuration: `~/.config/cubic/config.yaml` plus environment overrides
 * (`CUBIC_MIRROR_<PROVIDER>`). The only module that imports npm:yaml.
 */
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { UserError } from "./errors.ts";

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

/** Parses config.yaml's text (pure); `source` names the file in errors. */
export function parseConfig(text: string, source: string): CubicConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (cause) {
    throw new UserError(`Reading '${source}' failed: ${(cause as Error).message}`, {
      cause,
      hint: "Fix the YAML syntax or move the file away",
    });
  }
  const config: CubicConfig = { mirrors: {}, keys: {} };
  if (doc === null || doc === undefined) return config;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new UserError(`Reading '${source}' failed: the top level must be a mapping`, {
      hint: "See README, section Configuration",
    });
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
      config.mirrors[id] = url;
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
      config.keys[id] = list;
    }
  }
  return config;
}

/** Loads config.yaml from the config directory; a missing file is an empty config. */
export async function loadConfig(configDir: string): Promise<CubicConfig> {
  const file = join(configDir, "config.yaml");
  try {
    return parseConfig(await Deno.readTextFile(file), file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { mirrors: {}, keys: {} };
    throw error;
  }
}

/** Serialises a config (used by tests and `cubic` itself when it writes one). */
export function formatConfig(config: CubicConfig): string {
  return stringify(config);
}

/**
 * The mirror base URL for a provider: environment first, then config.yaml, then the vendor's
 * default. Always ends with `/`; must be http(s).
 */
export function mirrorBaseUrl(
  providerId: string,
  defaultUrl: string,
  sources: { env: Record<string, string | undefined>; config: CubicConfig },
): string {
  const envName = mirrorEnvName(providerId);
  const fromEnv = sources.env[envName];
  const chosen = fromEnv || sources.config.mirrors[providerId] || defaultUrl;
  const origin = fromEnv ? envName : sources.config.mirrors[providerId] ? "config.yaml" : "default";
  let url: URL;
  try {
    url = new URL(chosen);
  } catch {
    throw new UserError(`Using the ${providerId} mirror '${chosen}' failed: not a URL`, {
      hint: `Set ${envName} (or mirrors.${providerId} in config.yaml) to an http(s) URL`,
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UserError(
      `Using the ${providerId} mirror '${chosen}' (from ${origin}) failed: only http and https are supported`,
      { hint: `Set ${envName} to an http(s) URL` },
    );
  }
  return url.href.endsWith("/") ? url.href : url.href + "/";
}

/** Parses YAML text (re-exported so tests need not import npm:yaml themselves). */
export function parseYaml(text: string): unknown {
  return parse(text);
}

/** The extra keys config.yaml trusts for a provider, read from files where paths are given. */
export async function trustedExtraKeys(config: CubicConfig, providerId: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of config.keys[providerId] ?? []) {
    if (entry.includes("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
      out.push(entry);
      continue;
    }
    try {
      out.push(await Deno.readTextFile(entry));
    } catch (cause) {
      throw new UserError(`Reading the trusted key file '${entry}' for ${providerId} failed`, {
        cause,
        code: "KeyFileUnreadable",
        hint: "Fix the path under 'keys' in config.yaml",
      });
    }
  }
  return out;
}
