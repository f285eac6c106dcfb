/** `cubic start`: boot instances and wait until they accept SSH logins. */
import { Command } from "./commander.ts";
import { batchError, type BatchFailure } from "./batch.ts";
import { UserError } from "../errors.ts";
import { startInstance } from "../instance.ts";
import { type BootOptions, bootOptions } from "./options.ts";
import type { CommandResult, GetContext } from "./root.ts";

/** Adds --accel and --timeout. */
export function withBootFlags(command: Command): Command {
  return command
    .option("--accel <mode>", "hardware acceleration: auto, on or off (default: auto)")
    .option("--timeout <seconds>", "how long to wait for the guest (default: 300)");
}

/** The `start` command. */
export function startCommand(getContext: GetContext, _result: CommandResult): Command {
  return withBootFlags(
    new Command("start").description("Start instances and wait until they accept SSH logins")
      .argument("<names...>", "instance names")
      .option("--no-wait", "return once QEMU runs, without waiting for SSH"),
  ).action(async (names: string[], flags: BootOptions & { wait: boolean }) => {
    const boot = bootOptions(flags);
    const ctx = await getContext();
    if (names.length === 1) {
      const config = await startInstance(ctx, names[0]!, { ...boot, wait: flags.wait });
      ctx.ui.info(`${names[0]} is running (${config.accel}, ssh port ${config.sshPort})`);
      return;
    }
    // Several instances: launch them all first so they boot side by side, then wait for each;
    // one that fails does not keep the others from starting.
    const failed: BatchFailure[] = [];
    const launched: string[] = [];
    for (const name of names) {
      try {
        await startInstance(ctx, name, { ...boot, wait: false });
        launched.push(name);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        ctx.ui.warn(`${name}: ${error.message}`);
        failed.push({ item: name, error });
      }
    }
    for (const name of launched) {
      if (!flags.wait) {
        ctx.ui.info(`${name} is starting`);
        continue;
      }
      try {
        const config = await startInstance(ctx, name, { ...boot, wait: true });
        ctx.ui.info(`${name} is running (${config.accel}, ssh port ${config.sshPort})`);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        ctx.ui.warn(`${name}: ${error.message}`);
        failed.push({ item: name, error });
      }
    }
    const error = batchError(failed, {
      action: "Starting",
      total: names.length,
      noun: "instances",
      code: "StartFailed",
    });
    if (error) throw error;
  });
}
