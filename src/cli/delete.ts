/** `cubic delete`: remove instances and everything they own (asks first unless --yes). */
import { Command } from "./commander.ts";
import { UserError } from "../errors.ts";
import { deleteInstance } from "../instance.ts";
import { BrokenInstance, loadInstance } from "../store.ts";
import type { CommandResult, GetContext } from "./root.ts";

/** The confirmation question for deleting `names` (pure). */
export function deletePrompt(names: readonly string[]): string {
  return names.length === 1
    ? `Delete ${names[0]} and all its data? [y/N]`
    : `Delete ${names.length} instances (${names.join(", ")}) and all their data? [y/N]`;
}

/** The `delete` command. */
export function deleteCommand(getContext: GetContext, _result: CommandResult): Command {
  return new Command("delete").alias("rm").description("Delete instances (stops them first)")
    .argument("<names...>", "instance names")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (given: string[], flags: { yes?: boolean }) => {
      const ctx = await getContext();
      const names = [...new Set(given)];
      // All exist, or nothing happens. A broken instance exists: deleting is how it is repaired.
      for (const name of names) {
        await loadInstance(ctx.paths.machines, name).catch((error) => {
          if (!(error instanceof BrokenInstance)) throw error;
        });
      }
      if (!flags.yes) {
        if (!Deno.stdin.isTerminal()) {
          throw new UserError(`Deleting ${names.join(", ")} failed: confirmation needed`, {
            code: "ConfirmationNeeded",
            hint: `Run \`cubic delete --yes ${names.join(" ")}\``,
          });
        }
        const answer = prompt(deletePrompt(names));
        if (!/^(y|yes)$/i.test(answer?.trim() ?? "")) {
          ctx.ui.info("Nothing deleted");
          return;
        }
      }
      for (const name of names) {
        await deleteInstance(ctx, name);
        ctx.ui.info(`Deleted ${name}`);
      }
    });
}
