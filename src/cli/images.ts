/** `cubic images`: the catalogue of images the configured mirrors offer. */
import { Command } from "./commander.ts";
import { listCachedImages } from "../cache.ts";
import { type Catalogue, loadCatalogue } from "../catalogue.ts";
import { UserError } from "../errors.ts";
import { hostArch } from "../images.ts";
import { formatBytes } from "../ui.ts";
import { formatTable } from "./table.ts";
import type { CommandResult, GetContext } from "./root.ts";

/** One warning per vendor that is stale, failed or empty, in vendor order (pure). */
export function catalogueNotes(catalogue: Catalogue): string[] {
  const notes: { vendor: string; text: string }[] = [
    ...catalogue.stale.map((s) => ({
      vendor: s.vendor,
      text: `${s.vendor}: ${s.reason}; showing its list from ${s.fetchedAt}`,
    })),
    ...catalogue.failed.map((f) => ({
      vendor: f.vendor,
      text: `${f.vendor}: listing failed: ${f.reason}`,
    })),
    ...catalogue.empty.map((e) => ({
      vendor: e.vendor,
      text: `${e.vendor}: no images found at ${e.url}`,
    })),
  ];
  return notes.sort((a, b) => a.vendor.localeCompare(b.vendor)).map((n) => n.text);
}

/** The `images` command. */
export function imagesCommand(getContext: GetContext, _result: CommandResult): Command {
  return new Command("images").description("List the images the mirrors offer")
    .option("-a, --all", "include other architectures than the host's")
    .option("--json", "print a JSON array")
    .option("--refresh", "ask the mirrors now instead of using the day-old list")
    .action(async (flags: { all?: boolean; json?: boolean; refresh?: boolean }) => {
      const ctx = await getContext();
      const spinner = ctx.ui.spinner("Fetching image lists");
      const catalogue = await loadCatalogue(ctx, { refresh: flags.refresh ?? false }).finally(() =>
        spinner.stop()
      );
      for (const note of catalogueNotes(catalogue)) ctx.ui.warn(note);
      if (catalogue.entries.length === 0) {
        throw new UserError("Listing images failed: no mirror offered any image", {
          code: "NoImages",
          hint:
            "Check the network and the mirror settings (CUBIC_MIRROR_<VENDOR>, mirrors in config.yaml), then run `cubic images --refresh`",
        });
      }
      const cached = await listCachedImages(ctx.paths.images);
      const isCached = (vendor: string, name: string, arch: string) =>
        cached.some((c) => c.vendor === vendor && c.arch === arch && c.names.includes(name));
      const arch = hostArch();
      const rows = catalogue.entries.filter((e) => flags.all || e.arch === arch).map((e) => ({
        vendor: e.vendor,
        name: e.name,
        aliases: e.aliases,
        arch: e.arch,
        size: e.size,
        cached: isCached(e.vendor, e.name, e.arch),
        signed: e.signed,
        imageUrl: e.imageUrl,
      }));
      if (flags.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      console.log(formatTable(
        ["IMAGE", "ALIASES", "ARCH", "SIZE", "SIGNED", "CACHED"],
        rows.map((r) => [
          `${r.vendor}:${r.name}`,
          r.aliases.map((a) => `${r.vendor}:${a}`).join(", "),
          r.arch,
          r.size === null ? "?" : formatBytes(r.size),
          r.signed ? "yes" : "no",
          r.cached ? "yes" : "no",
        ]),
      ));
    });
}
