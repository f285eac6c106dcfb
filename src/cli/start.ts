/** `cubic start`: boot instances and wait until they accept SSH logins. */
import { Command } from "./commander.ts";
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
    for (const name of names) {
      const config = await startInstance(ctx, name, { ...boot, wait: flags.wait });
      ctx.ui.info(`${name} is running (${config.accel}, ssh port ${config.sshPort})`);
    }
  });
}
