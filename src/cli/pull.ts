/**
 * `cubic pull`: download and verify images into the cache without creating an instance. Every
 * image named is attempted, even after one fails, so one bad name or mirror does not silently
 * leave the others unpulled; the failures are reported together at the end.
 */
import { Command } from "./commander.ts";
import { batchError, type BatchFailure } from "./batch.ts";
import { UserError } from "../errors.ts";
import { hostArch, parseImageName } from "../images.ts";
import { obtainImage } from "../instance.ts";
import { formatBytes } from "../ui.ts";
import type { CommandResult, GetContext } from "./root.ts";

/** The `pull` command. */
export function pullCommand(getContext: GetContext, _result: CommandResult): Command {
  return new Command("pull").description("Download and verify images into the cache")
    .argument("<images...>", "images as vendor:name[:arch], e.g. debian:12")
    .action(async (given: string[]) => {
      const images = [...new Set(given)];
      // A malformed name is a usage error: refuse it before downloading anything.
      for (const image of images) parseImageName(image, hostArch());
      const ctx = await getContext();
      const failed: BatchFailure[] = [];
      for (const image of images) {
        try {
          const cached = await obtainImage(ctx, image);
          ctx.ui.info(
            `${image}: verified ${cached.algorithm} ${cached.digest.slice(0, 16)}… (${
              formatBytes(cached.size)
            }) at ${cached.path}`,
          );
        } catch (error) {
          // One image: its own error is the whole story (message, hint and exit code).
          if (images.length === 1 || !(error instanceof UserError)) throw error;
          ctx.ui.warn(`${image}: ${error.message}${error.hint ? `\n  hint: ${error.hint}` : ""}`);
          failed.push({ item: image, error });
        }
      }
      const error = batchError(failed, {
        action: "Pulling",
        total: images.length,
        noun: "images",
        code: "PullFailed",
      });
      if (error) throw error;
    });
}
