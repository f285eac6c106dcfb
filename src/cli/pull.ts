/** `cubic pull`: download and verify an image into the cache without creating an instance. */
import { Command } from "./commander.ts";
import { obtainImage } from "../instance.ts";
import { formatBytes } from "../ui.ts";
import type { CommandResult, GetContext } from "./root.ts";

/** The `pull` command. */
export function pullCommand(getContext: GetContext, _result: CommandResult): Command {
  return new Command("pull").description("Download and verify an image into the cache")
    .argument("<images...>", "images as vendor:name[:arch], e.g. debian:12")
    .action(async (images: string[]) => {
      const ctx = await getContext();
      for (const image of images) {
        const cached = await obtainImage(ctx, image);
        ctx.ui.info(
          `${image}: verified ${cached.algorithm} ${cached.digest.slice(0, 16)}… (${
            formatBytes(cached.size)
          }) at ${cached.path}`,
        );
      }
    });
}
