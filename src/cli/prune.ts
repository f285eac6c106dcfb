/** `cubic prune`: free cached images that no instance is based on. */
import { Command } from "./commander.ts";
import { listCachedImages } from "../cache.ts";
import { UserError } from "../errors.ts";
import { listInstanceNames, loadInstance } from "../store.ts";
import { formatBytes } from "../ui.ts";
import type { CommandResult, GetContext } from "./root.ts";

/** The `prune` command. */
export function pruneCommand(getContext: GetContext, _result: CommandResult): Command {
  return new Command("prune").description("Delete cached images no instance uses (asks first)")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (flags: { yes?: boolean }) => {
      const ctx = await getContext();
      const inUse = new Set<string>();
      for (const name of await listInstanceNames(ctx.paths.machines)) {
        // Instance disks are overlays: their base image must stay.
        inUse.add((await loadInstance(ctx.paths.machines, name)).baseImage);
      }
      const unused = (await listCachedImages(ctx.paths.images)).filter((i) => !inUse.has(i.path));
      if (unused.length === 0) {
        ctx.ui.info("Nothing to prune: every cached image is in use (or the cache is empty)");
        return;
      }
      const total = unused.reduce((sum, i) => sum + i.size, 0);
      for (const i of unused) {
        console.log(`  ${i.vendor}:${i.names[0]}:${i.arch}  ${formatBytes(i.size)}  ${i.path}`);
      }
      if (!flags.yes) {
        if (!Deno.stdin.isTerminal()) {
          throw new UserError("Pruning failed: confirmation needed", {
            code: "ConfirmationNeeded",
            hint: "Run `cubic prune --yes`",
          });
        }
        const answer = prompt(
          `Delete these ${unused.length} images (${formatBytes(total)})? [y/N]`,
        );
        if (!/^(y|yes)$/i.test(answer?.trim() ?? "")) {
          ctx.ui.info("Nothing deleted");
          return;
        }
      }
      for (const i of unused) {
        await Deno.remove(`${i.path}.json`).catch(() => {});
        await Deno.remove(i.path).catch(() => {});
      }
      ctx.ui.info(`Freed ${formatBytes(total)}`);
    });
}
