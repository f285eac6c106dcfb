/**
 * The image catalogue behind `cubic images`: every provider's releases × arches, resolved
 * against the mirrors, with sizes from HTTP HEAD. Kept in `<cache>/catalogue.json` per vendor
 * for a day; a vendor whose mirror fails, or suddenly lists nothing, falls back to its stale
 * entries with a notice, and a vendor with nothing to fall back on is reported, never silently
 * dropped. An empty result is never stored over a good list.
 */
import { errorMessage } from "./errors.ts";
import { join } from "node:path";
import { mirrorBaseUrl } from "./config.ts";
import type { Context } from "./context.ts";
import { fetchChecked, redactUrl, redactUrls } from "./http.ts";
import type { Arch, ImageRef, Provider } from "./provider.ts";
import { ARCHES } from "./provider.ts";

/** One image the catalogue offers. */
export interface CatalogueEntry {
  vendor: string;
  /** The primary name, e.g. `12`. */
  name: string;
  /** Other names of the release, e.g. `["bookworm"]`. */
  aliases: string[];
  arch: Arch;
  /** Bytes, from the mirror's Content-Length; null when the mirror does not say. */
  size: number | null;
  imageUrl: string;
  checksumUrl: string;
  signed: boolean;
}

/** A vendor's part of the catalogue as stored. */
interface VendorCatalogue {
  vendor: string;
  baseUrl: string;
  fetchedAt: string;
  entries: CatalogueEntry[];
}

/** The catalogue with notes on where it came from. */
export interface Catalogue {
  entries: CatalogueEntry[];
  /**
   * Vendors served from their last good list, with when it was fetched and why: the mirror
   * failed (`mirror unreachable (…)`) or listed nothing (`no images found at <url>`).
   */
  stale: { vendor: string; fetchedAt: string; reason: string }[];
  /** Vendors with no entries at all because their mirror failed. */
  failed: { vendor: string; reason: string }[];
  /** Vendors whose mirror answered but offered no image, with nothing to fall back on. */
  empty: { vendor: string; url: string }[];
}

/** How long a vendor's listing is reused without asking the mirror. */
export const CATALOGUE_TTL_MS = 24 * 60 * 60 * 1000;

function catalogueFile(cacheDir: string): string {
  return join(cacheDir, "catalogue.json");
}

/** Whether a stored entry has the shape Cubic writes (pure). */
function isEntry(value: unknown): value is CatalogueEntry {
  if (typeof value !== "object" || value === null) return false;
  const e = value as Record<string, unknown>;
  return typeof e.vendor === "string" && typeof e.name === "string" &&
    Array.isArray(e.aliases) && e.aliases.every((a) => typeof a === "string") &&
    (ARCHES as readonly unknown[]).includes(e.arch) &&
    (e.size === null || typeof e.size === "number") && typeof e.imageUrl === "string" &&
    typeof e.checksumUrl === "string" && typeof e.signed === "boolean";
}

/**
 * The stored catalogue's well-formed vendor parts (pure); anything else in the file — another
 * version's format, a hand edit, `null` — is ignored, so the mirrors are asked again.
 */
export function storedVendors(doc: unknown): Map<string, VendorCatalogue> {
  const out = new Map<string, VendorCatalogue>();
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return out;
  for (const [id, value] of Object.entries(doc)) {
    if (typeof value !== "object" || value === null) continue;
    const v = value as Record<string, unknown>;
    if (
      v.vendor === id && typeof v.baseUrl === "string" && typeof v.fetchedAt === "string" &&
      !Number.isNaN(Date.parse(v.fetchedAt)) && Array.isArray(v.entries) &&
      v.entries.every((e) => isEntry(e) && e.vendor === id)
    ) {
      out.set(id, value as VendorCatalogue);
    }
  }
  return out;
}

async function readStored(cacheDir: string): Promise<Map<string, VendorCatalogue>> {
  try {
    return storedVendors(JSON.parse(await Deno.readTextFile(catalogueFile(cacheDir))));
  } catch {
    return new Map();
  }
}

async function writeStored(
  cacheDir: string,
  stored: Map<string, VendorCatalogue>,
): Promise<void> {
  await Deno.mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const tmp = `${catalogueFile(cacheDir)}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, JSON.stringify(Object.fromEntries(stored), null, 2) + "\n");
  await Deno.rename(tmp, catalogueFile(cacheDir));
}

/** Turns a resolved image into a catalogue entry (pure). */
export function entryOf(ref: ImageRef, size: number | null): CatalogueEntry {
  return {
    vendor: ref.vendor,
    name: ref.names[0] ?? "",
    aliases: ref.names.slice(1),
    arch: ref.arch,
    size,
    imageUrl: ref.imageUrl,
    checksumUrl: ref.checksumUrl,
    signed: ref.signature !== undefined,
  };
}

/**
 * Larger than any cloud image: a Content-Length above it is a broken or lying mirror, and is
 * shown as unknown rather than as "90949470 TiB".
 */
export const MAX_PLAUSIBLE_IMAGE_BYTES = 1024 ** 4;

/** The image size a Content-Length header states, or null when absent or implausible (pure). */
export function sizeFromContentLength(header: string | null): number | null {
  if (header === null || !/^\d+$/.test(header.trim())) return null;
  const size = Number(header.trim());
  return size > 0 && size <= MAX_PLAUSIBLE_IMAGE_BYTES ? size : null;
}

async function headSize(url: string): Promise<number | null> {
  try {
    const response = await fetchChecked(url, { method: "HEAD", timeoutMs: 15_000 });
    return sizeFromContentLength(response.headers.get("content-length"));
  } catch {
    return null;
  }
}

async function fetchVendor(
  ctx: Context,
  provider: Provider,
  baseUrl: string,
): Promise<CatalogueEntry[]> {
  const pctx = { baseUrl, fetchText: ctx.fetchText };
  const entries: CatalogueEntry[] = [];
  for (const release of await provider.releases(pctx)) {
    const name = release.names[0];
    if (name === undefined) continue;
    for (const arch of ARCHES.filter((a) => release.arches.includes(a))) {
      const ref = await provider.resolve(pctx, name, arch);
      if (ref) entries.push(entryOf(ref, await headSize(ref.imageUrl)));
    }
  }
  return entries;
}

/** Builds the catalogue, from the stored copy where fresh, else from the mirrors. */
export async function loadCatalogue(
  ctx: Context,
  options: { refresh: boolean; now?: number },
): Promise<Catalogue> {
  const now = options.now ?? Date.now();
  const stored = await readStored(ctx.paths.cache);
  const result: Catalogue = { entries: [], stale: [], failed: [], empty: [] };
  let changed = false;
  await Promise.all(ctx.providers.map(async (provider) => {
    const baseUrl = mirrorBaseUrl(provider.id, provider.defaultBaseUrl, ctx);
    const previous = stored.get(provider.id);
    // An empty stored list (written by older versions) is nothing to fall back on.
    const usable = previous !== undefined && previous.baseUrl === baseUrl &&
      previous.entries.length > 0;
    if (!options.refresh && usable && now - Date.parse(previous.fetchedAt) < CATALOGUE_TTL_MS) {
      result.entries.push(...previous.entries);
      return;
    }
    let entries: CatalogueEntry[];
    try {
      entries = await fetchVendor(ctx, provider, baseUrl);
    } catch (error) {
      // Shown as a notice by `cubic images`: never with a mirror's password in it.
      const reason = redactUrls(errorMessage(error));
      if (usable) {
        result.entries.push(...previous.entries);
        result.stale.push({
          vendor: provider.id,
          fetchedAt: previous.fetchedAt,
          reason: `mirror unreachable (${reason})`,
        });
      } else {
        result.failed.push({ vendor: provider.id, reason });
      }
      return;
    }
    if (entries.length === 0) {
      // A mirror that lists nothing is more likely broken (a wrong base URL, a half-synced
      // mirror) than empty: keep the last good list instead of replacing it with nothing.
      const url = redactUrl(baseUrl);
      if (usable) {
        result.entries.push(...previous.entries);
        result.stale.push({
          vendor: provider.id,
          fetchedAt: previous.fetchedAt,
          reason: `no images found at ${url}`,
        });
      } else {
        result.empty.push({ vendor: provider.id, url });
      }
      return;
    }
    stored.set(provider.id, {
      vendor: provider.id,
      baseUrl,
      fetchedAt: new Date(now).toISOString(),
      entries,
    });
    changed = true;
    result.entries.push(...entries);
  }));
  if (changed) await writeStored(ctx.paths.cache, stored);
  result.entries.sort((a, b) =>
    a.vendor.localeCompare(b.vendor) ||
    b.name.localeCompare(a.name, undefined, { numeric: true }) ||
    a.arch.localeCompare(b.arch)
  );
  // Vendors are fetched concurrently: sort the notes so their order does not depend on timing.
  const byVendor = (a: { vendor: string }, b: { vendor: string }) =>
    a.vendor.localeCompare(b.vendor);
  result.stale.sort(byVendor);
  result.failed.sort(byVendor);
  result.empty.sort(byVendor);
  return result;
}
