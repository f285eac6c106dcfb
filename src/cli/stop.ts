/** `cubic stop`: ACPI power-down, bounded wait, then force. */
import { Command } from "./commander.ts";
import { UserError } from "../errors.ts";
import { stopInstance } from "../instance.ts";
import { listInstanceNames } from "../store.ts";
import { parseTimeout } from "./options.ts";
import type { CommandResult, GetContext } from "./root.ts";

/** The `stop` command. */
export function stopCommand(getContext: GetContext, _result: CommandResult): Command {
  return new Command("stop").description(
    "Stop instances (clean shutdown, then force after --timeout)",
  )
    .argument("[names...]", "instance names")
    .option("-a, --all", "stop every instance")
    .option("-f, --force", "end QEMU at once, without a clean shutdown")
    .option("--timeout <seconds>", "time allowed for the clean shutdown (default 60)")
    .action(
      async (names: string[], flags: { all?: boolean; force?: boolean; timeout?: string }) => {
        const ctx = await getContext();
        const targets = flags.all ? await listInstanceNames(ctx.paths.machines) : names;
        if (targets.length === 0 && !flags.all) {
          throw new UserError("Stopping failed: no instance named", {
            code: "MissingInstanceName",
            hint: "Name one or more instances, or use --all",
          });
        }
        for (const name of targets) {
          const outcome = await stopInstance(ctx, name, {
            force: flags.force ?? false,
            ...(flags.timeout ? { timeoutMs: parseTimeout(flags.timeout) } : {}),
          });
          ctx.ui.info(
            outcome === "not-running"
              ? `${name} is not running`
              : outcome === "forced"
              ? `${name} stopped (forced)`
              : `${name} stopped`,
          );
        }
      },
    );
}
