/** `cubic stop`: ACPI power-down, bounded wait, then force. */
import { Command } from "./commander.ts";
import { batchError, type BatchFailure } from "./batch.ts";
import { ExitCode, UserError } from "../errors.ts";
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
    .option("--timeout <seconds>", "time allowed for the clean shutdown (default: 60)")
    .action(
      async (names: string[], flags: { all?: boolean; force?: boolean; timeout?: string }) => {
        if (names.length === 0 && !flags.all) {
          throw new UserError("Stopping failed: no instance was named", {
            code: "MissingInstanceName",
            exitCode: ExitCode.usage,
            hint: "Name one or more instances, or use --all",
          });
        }
        const timeout = flags.timeout === undefined
          ? {}
          : { timeoutMs: parseTimeout(flags.timeout) };
        const ctx = await getContext();
        const targets = [
          ...new Set([...names, ...(flags.all ? await listInstanceNames(ctx.paths.machines) : [])]),
        ];
        if (targets.length === 0) ctx.ui.info("No instances to stop");
        // One instance that cannot be stopped must not keep the others running.
        const failed: BatchFailure[] = [];
        for (const name of targets) {
          let outcome;
          try {
            outcome = await stopInstance(ctx, name, { force: flags.force ?? false, ...timeout });
          } catch (error) {
            if (!(error instanceof UserError) || targets.length === 1) throw error;
            ctx.ui.warn(`${error.message}${error.hint ? ` (${error.hint})` : ""}`);
            failed.push({ item: name, error });
            continue;
          }
          ctx.ui.info(
            outcome === "not-running"
              ? `${name} is not running`
              : outcome === "forced"
              ? `${name} stopped (forced)`
              : `${name} stopped`,
          );
        }
        const error = batchError(failed, {
          action: "Stopping",
          total: targets.length,
          noun: "instances",
          code: "StopFailed",
        });
        if (error) throw error;
      },
    );
}
