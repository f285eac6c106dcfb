/**
 * The command tree. Each command lives in its own file and receives a lazily built Context.
 */
import { Command } from "./commander.ts";
import type { Context } from "../context.ts";
import { createContext } from "../context.ts";
import { VERSION } from "../version.ts";
import { createCommand } from "./create.ts";
import { deleteCommand } from "./delete.ts";
import { execCommand } from "./exec.ts";
import { instancesCommand } from "./instances.ts";
import { pullCommand } from "./pull.ts";
import { imagesCommand } from "./images.ts";
import { showCommand } from "./show.ts";
import { pruneCommand } from "./prune.ts";
import { runCommand } from "./run.ts";
import { sshCommand } from "./ssh.ts";
import { startCommand } from "./start.ts";
import { stopCommand } from "./stop.ts";

/** Returns the Context for the current invocation (built on first use). */
export type GetContext = () => Promise<Context>;

/** Result of a command: the process exit code. */
export type CommandResult = { exitCode: number };

/** Builds the root command; `result` receives the exit code chosen by the command. */
export function rootCommand(result: CommandResult): Command {
  const program = new Command("cubic")
    .description("Start Linux VMs from official cloud images: rootless, daemonless, verified.")
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  cubic run dev --image debian:12             create, boot and open a shell",
        "  cubic exec dev -- uname -a                  run one command; its exit code is cubic's",
        "  echo 'cat /etc/os-release' | cubic ssh dev  run a piped script",
        "  cubic instances                             list instances",
        "  cubic stop dev && cubic delete --yes dev    stop and remove",
        "",
        "Exit codes: 0 ok, 1 error (with a hint), 2 usage, 3 image failed verification,",
        "4 timeout; exec/ssh exit with the remote command's code.",
      ].join("\n"),
    )
    .version(`cubic ${VERSION}`, "-V, --version", "print the version")
    .option("-q, --quiet", "only print errors and command output")
    .option("-v, --verbose", "print more detail")
    .showHelpAfterError("hint: run `cubic --help` for usage")
    .exitOverride();
  let context: Context | undefined;
  const getContext: GetContext = async () => {
    const opts = program.opts<{ quiet?: boolean; verbose?: boolean }>();
    context ??= await createContext({ quiet: opts.quiet ?? false, verbose: opts.verbose ?? false });
    return context;
  };
  for (
    const make of [
      runCommand,
      createCommand,
      startCommand,
      stopCommand,
      sshCommand,
      execCommand,
      instancesCommand,
      imagesCommand,
      showCommand,
      pullCommand,
      deleteCommand,
      pruneCommand,
    ]
  ) {
    const command = make(getContext, result);
    program.addCommand(command.showHelpAfterError(usageHint(command.name())).exitOverride());
  }
  return program;
}

/**
 * The `hint:` line under a usage error of one command. Commands that run a guest command remind
 * that it goes after `--`: without it, its options (`uname -a`) are read as Cubic's.
 */
function usageHint(command: string): string {
  const help = `see \`cubic ${command} --help\``;
  return ["exec", "run"].includes(command)
    ? `hint: put the guest command after --, as in \`cubic ${command} dev ${
      command === "run" ? "-i debian:12 " : ""
    }-- uname -a\`; ${help}`
    : `hint: ${help}`;
}
