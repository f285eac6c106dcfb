/** `cubic exec`: run one command in an instance; its exit code becomes Cubic's. */
import { Command } from "./commander.ts";
import { ExitCode, UserError } from "../errors.ts";
import { withReadyGuest } from "../instance.ts";
import { sshExec } from "../ssh.ts";
import { type BootOptions, bootOptions, parseTarget, remoteCommand } from "./options.ts";
import type { CommandResult, GetContext } from "./root.ts";
import { withBootFlags } from "./start.ts";

/** The `exec` command. */
export function execCommand(getContext: GetContext, result: CommandResult): Command {
  return withBootFlags(
    new Command("exec").description(
      "Run a command in an instance (starting it if needed) and exit with its exit code",
    )
      .argument("<target>", "[user@]instance")
      .argument("<command...>", "the command; put it after -- (one word = a shell command line)")
      .option("-t, --tty", "allocate a terminal (stderr then arrives on stdout)"),
  ).action(async (targetText: string, words: string[], flags: BootOptions & { tty?: boolean }) => {
    if (words.length === 0) {
      throw new UserError("Running a command failed: no command given", {
        code: "MissingCommand",
        exitCode: ExitCode.usage,
        hint: "cubic exec dev -- uname -a",
      });
    }
    const { user, name } = parseTarget(targetText);
    const boot = bootOptions(flags);
    const ctx = await getContext();
    result.exitCode = await withReadyGuest(
      ctx,
      name,
      { ...boot, user },
      (target) =>
        sshExec(target, remoteCommand(words), {
          stdin: Deno.stdin.isTerminal() && !flags.tty ? "null" : "inherit",
          pty: flags.tty ?? false,
        }),
    );
  });
}
