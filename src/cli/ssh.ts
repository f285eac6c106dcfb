/** `cubic ssh`: a shell in the instance (PTY on a terminal, piped script otherwise). */
import { Command } from "./commander.ts";
import { withReadyGuest } from "../instance.ts";
import { sshExec, sshShell } from "../ssh.ts";
import { type BootOptions, bootOptions, parseTarget } from "./options.ts";
import type { CommandResult, GetContext } from "./root.ts";
import { withBootFlags } from "./start.ts";

/**
 * With piped stdin the user's shell reads the script from stdin. An exec session (not a login
 * shell session) keeps the guest's message of the day out of the output.
 */
const SCRIPT_SHELL = 'exec "${SHELL:-/bin/sh}" -s';

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
      (target) =>
        Deno.stdin.isTerminal()
          ? sshShell(target)
          : sshExec(target, SCRIPT_SHELL, { stdin: "inherit" }),
    );
  });
}
