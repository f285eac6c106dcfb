/** `cubic ssh`: a shell in the instance (PTY on a terminal, piped script otherwise). */
import { Command } from "./commander.ts";
import { withReadyGuest } from "../instance.ts";
import { sshShell } from "../ssh.ts";
import { type BootOptions, bootOptions, parseTarget } from "./options.ts";
import type { CommandResult, GetContext } from "./root.ts";
import { withBootFlags } from "./start.ts";

/** The `ssh` command. */
export function sshCommand(getContext: GetContext, result: CommandResult): Command {
  return withBootFlags(
    new Command("ssh").description(
      "Open a shell in an instance (starting it if needed); with piped stdin, run it as a script and return its exit code",
    ).argument("<target>", "[user@]instance"),
  ).action(async (targetText: string, flags: BootOptions) => {
    const { user, name } = parseTarget(targetText);
    const boot = bootOptions(flags);
    const ctx = await getContext();
    result.exitCode = await withReadyGuest(
      ctx,
      name,
      { ...boot, user },
      (target) => sshShell(target),
    );
  });
}
