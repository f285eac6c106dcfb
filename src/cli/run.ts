/** `cubic run`: create, start and connect in one step. */
import { Command } from "./commander.ts";
import { createInstance, ensureReady, sshTarget } from "../instance.ts";
import { sshExec, sshShell } from "../ssh.ts";
import { type CreateFlags, createOptions, withCreateFlags } from "./create.ts";
import { type BootOptions, bootOptions, parseTarget, remoteCommand } from "./options.ts";
import type { CommandResult, GetContext } from "./root.ts";
import { withBootFlags } from "./start.ts";

/** The `run` command. */
export function runCommand(getContext: GetContext, result: CommandResult): Command {
  return withBootFlags(withCreateFlags(
    new Command("run").description(
      "Create an instance, boot it and open a shell (or run the command given after --)",
    )
      .argument("<name>", "new instance name")
      .argument("[command...]", "a command to run instead of a shell"),
  )).action(async (nameText: string, words: string[], flags: CreateFlags & BootOptions) => {
    const ctx = await getContext();
    const { name } = parseTarget(nameText);
    await createInstance(ctx, name, createOptions(flags));
    const config = await ensureReady(ctx, name, bootOptions(flags));
    const target = await sshTarget(ctx, config);
    result.exitCode = words.length > 0
      ? await sshExec(target, remoteCommand(words), {
        stdin: Deno.stdin.isTerminal() ? "null" : "inherit",
      })
      : await sshShell(target);
  });
}
