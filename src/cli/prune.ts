/**
 * `cubic prune`: free cached images that no instance is based on, and downloads abandoned
 * half-way.
 *
 * "Based on" is decided by file identity (device and inode), never by comparing path strings:
 * the cache may be reached through another path than the one an instance recorded (a symlinked
 * XDG_CACHE_HOME, a changed HOME), and deleting an instance's base image destroys the instance.
 * Both what `instance.json` records and what the instance's disk really names as its backing
 * file count. If any instance's base cannot be identified, nothing is pruned.
 */
import { join } from "node:path";
import { Command } from "./commander.ts";
import { type CachedImage, listCachedImages } from "../cache.ts";
import type { Context } from "../context.ts";
import { UserError } from "../errors.ts";
import { backingFileOf } from "../qemu_img.ts";
import { BrokenInstance, listInstanceNames, loadInstance, pathsFor } from "../store.ts";
import { formatBytes } from "../ui.ts";
import type { CommandResult, GetContext } from "./root.ts";

/**
 * A partial download untouched for this long is abandoned: a live download writes continuously
 * (a transfer that stalls for 30 s is retried), so an hour of silence means its process is gone.
 */
export const ABANDONED_PARTIAL_MS = 60 * 60 * 1000;

/** An abandoned download: its data file and sidecar, as far as they exist. */
interface AbandonedPartial {
  files: string[];
  size: number;
  modified: number;
}

/** The identity of the file at `path` (symlinks followed), or `undefined` when it is missing. */
async function fileIdentity(path: string): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw error;
  }
  if (info.dev !== null && info.ino !== null) return `${info.dev}:${info.ino}`;
  return `path:${await Deno.realPath(path)}`;
}

function refuse(name: string, problem: string, hint: string, cause?: unknown): UserError {
  return new UserError(`Pruning failed: the instance '${name}' ${problem}`, {
    code: "PruneRefused",
    hint: `Nothing was deleted. ${hint}, then run \`cubic prune\` again`,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Identities of every file some instance's disk is (or says it is) an overlay of. */
async function imagesInUse(ctx: Context): Promise<Set<string>> {
  const inUse = new Set<string>();
  for (const name of await listInstanceNames(ctx.paths.machines)) {
    let config;
    try {
      config = await loadInstance(ctx.paths.machines, name);
    } catch (error) {
      if (error instanceof UserError && error.code === "UnknownInstance") continue; // just deleted
      if (error instanceof BrokenInstance) {
        throw refuse(
          name,
          `is broken (${error.problem}), so the image it is based on is not known`,
          `Repair it, or delete it with \`cubic delete --yes ${name}\``,
          error,
        );
      }
      throw error;
    }
    const base = await fileIdentity(config.baseImage);
    if (base === undefined) {
      throw refuse(
        name,
        `is based on ${config.baseImage}, which cannot be found`,
        `Restore it with \`cubic pull ${config.image}\` (only while the vendor publishes the same build), or delete the instance with \`cubic delete --yes ${name}\``,
      );
    }
    inUse.add(base);
    const disk = pathsFor(ctx.paths.machines, name).disk;
    let backing: string | undefined;
    try {
      backing = await backingFileOf(disk, ctx.env);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      throw refuse(
        name,
        `has a disk whose backing file cannot be read (${error.message})`,
        `Check ${disk}, or delete the instance with \`cubic delete --yes ${name}\``,
        error,
      );
    }
    if (backing === undefined) continue; // a disk made standalone needs no base
    const backed = await fileIdentity(backing);
    if (backed === undefined) {
      throw refuse(
        name,
        `has a disk backed by ${backing}, which cannot be found`,
        `Check ${disk}, or delete the instance with \`cubic delete --yes ${name}\``,
      );
    }
    inUse.add(backed);
  }
  return inUse;
}

/** Partial downloads in `imagesDir` that nothing has written to for {@linkcode ABANDONED_PARTIAL_MS}. */
async function abandonedPartials(imagesDir: string, now: number): Promise<AbandonedPartial[]> {
  // `.<key>.partial` holds the bytes, `.<key>.partial.json` what they are (see cache.ts).
  const groups = new Map<string, { path: string; info: Deno.FileInfo }[]>();
  try {
    for await (const entry of Deno.readDir(imagesDir)) {
      const m = /^(\..+\.partial)(\.json)?$/.exec(entry.name);
      if (!entry.isFile || !m?.[1]) continue;
      const path = join(imagesDir, entry.name);
      try {
        const info = await Deno.lstat(path);
        groups.set(m[1], [...(groups.get(m[1]) ?? []), { path, info }]);
      } catch {
        // removed meanwhile
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const out: AbandonedPartial[] = [];
  for (const [, files] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    const modified = Math.max(...files.map((f) => f.info.mtime?.getTime() ?? now));
    if (now - modified <= ABANDONED_PARTIAL_MS) continue; // perhaps still being written
    out.push({
      files: files.map((f) => f.path).sort(),
      size: files.reduce((sum, f) => sum + f.info.size, 0),
      modified,
    });
  }
  return out;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** `3 hours`, `2 days` (pure). */
function hoursAgo(ms: number): string {
  const hours = Math.floor(ms / (60 * 60 * 1000));
  if (hours < 48) return `${hours} hour${hours === 1 ? "" : "s"}`;
  return `${Math.floor(hours / 24)} days`;
}

async function unusedImages(ctx: Context, inUse: Set<string>): Promise<CachedImage[]> {
  const out: CachedImage[] = [];
  for (const image of await listCachedImages(ctx.paths.images)) {
    const identity = await fileIdentity(image.path);
    if (identity !== undefined && !inUse.has(identity)) out.push(image);
  }
  return out;
}

/** The `prune` command. */
export function pruneCommand(getContext: GetContext, _result: CommandResult): Command {
  return new Command("prune")
    .description("Delete cached images no instance uses and abandoned downloads (asks first)")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (flags: { yes?: boolean }) => {
      const ctx = await getContext();
      const now = Date.now();
      const unused = await unusedImages(ctx, await imagesInUse(ctx));
      const partials = await abandonedPartials(ctx.paths.images, now);
      if (unused.length === 0 && partials.length === 0) {
        ctx.ui.info("Nothing to prune: every cached image is in use (or the cache is empty)");
        return;
      }
      const total = unused.reduce((sum, i) => sum + i.size, 0) +
        partials.reduce((sum, p) => sum + p.size, 0);
      for (const i of unused) {
        console.log(`  ${i.vendor}:${i.names[0]}:${i.arch}  ${formatBytes(i.size)}  ${i.path}`);
      }
      for (const p of partials) {
        console.log(
          `  abandoned download  ${formatBytes(p.size)}  ${p.files[0]} (last written ${
            hoursAgo(now - p.modified)
          } ago)`,
        );
      }
      const what = [
        ...(unused.length > 0 ? [plural(unused.length, "image")] : []),
        ...(partials.length > 0 ? [plural(partials.length, "abandoned download")] : []),
      ].join(" and ");
      if (!flags.yes) {
        if (!Deno.stdin.isTerminal()) {
          throw new UserError("Pruning failed: confirmation needed", {
            code: "ConfirmationNeeded",
            hint: "Run `cubic prune --yes`",
          });
        }
        const answer = prompt(`Delete ${what} (${formatBytes(total)})? [y/N]`);
        if (!/^(y|yes)$/i.test(answer?.trim() ?? "")) {
          ctx.ui.info("Nothing deleted");
          return;
        }
      }
      for (const i of unused) {
        await Deno.remove(`${i.path}.json`).catch(() => {});
        await Deno.remove(i.path).catch(() => {});
      }
      for (const file of partials.flatMap((p) => p.files)) {
        await Deno.remove(file).catch(() => {});
      }
      ctx.ui.info(`Freed ${formatBytes(total)} (${what})`);
    });
}
