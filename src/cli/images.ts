/** `cubic images`: the catalogue of images the configured mirrors offer. */
import { Command } from "./commander.ts";
import { listCachedImages } from "../cache.ts";
import { loadCatalogue } from "../catalogue.ts";
import { hostArch } from "../images.ts";
import { formatBytes } from "../ui.ts";
import { formatTable } from "./table.ts";
import type { CommandResult, GetContext } from "./root.ts";

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
      for (const s of catalogue.stale) {
        ctx.ui.warn(
          `${s.vendor}: mirror unreachable (${s.reason}); showing its list from ${s.fetchedAt}`,
        );
      }
      for (const f of catalogue.failed) ctx.ui.warn(`${f.vendor}: listing failed: ${f.reason}`);
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
