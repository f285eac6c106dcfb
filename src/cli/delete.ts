/** `cubic delete`: remove instances and everything they own (asks first unless --yes). */
import { Command } from "./commander.ts";
import { UserError } from "../errors.ts";
import { deleteInstance } from "../instance.ts";
import { loadInstance } from "../store.ts";
import type { CommandResult, GetContext } from "./root.ts";

/** The `delete` command. */
export function deleteCommand(getContext: GetContext, _result: CommandResult): Command {
  return new Command("delete").alias("rm").description("Delete instances (stops them first)")
    .argument("<names...>", "instance names")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (names: string[], flags: { yes?: boolean }) => {
      const ctx = await getContext();
      for (const name of names) await loadInstance(ctx.paths.machines, name); // all exist, or nothing happens
      if (!flags.yes) {
        if (!Deno.stdin.isTerminal()) {
          throw new UserError(`Deleting ${names.join(", ")} failed: confirmation needed`, {
            code: "ConfirmationNeeded",
            hint: `Run \`cubic delete --yes ${names.join(" ")}\``,
          });
        }
        const answer = prompt(`Delete ${names.join(", ")} and all their data? [y/N]`);
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
