/** `cubic run`: create, start and connect in one step. */
import { Command } from "./commander.ts";
import { ExitCode, UserError } from "../errors.ts";
import { createInstance, ensureReady, sshTarget, validateName } from "../instance.ts";
import { sshExec, sshShell } from "../ssh.ts";
import { type CreateFlags, createOptions, withCreateFlags } from "./create.ts";
import { type BootOptions, bootOptions, remoteCommand } from "./options.ts";
import type { CommandResult, GetContext } from "./root.ts";
import { withBootFlags } from "./start.ts";

/** `run` creates the instance it names, so the name cannot carry a user as `ssh` targets do. */
function newInstanceName(text: string): string {
  const at = text.indexOf("@");
  if (at >= 0) {
    const user = text.slice(0, at);
    const name = text.slice(at + 1);
    throw new UserError(
      `Using '${text}' as a new instance name failed: a name cannot contain '@' (run takes the guest user from --user)`,
      {
        code: "InvalidName",
        exitCode: ExitCode.usage,
        hint: `cubic run ${name || "<name>"} --user ${user || "<user>"} --image …`,
      },
    );
  }
  return validateName(text);
}

/**
 * `run` created the instance before the start failed, and keeps it (its logs explain the failure):
 * the hint says so, since running `run` again would only find the name taken.
 */
function createdButNotReady(error: UserError, name: string): UserError {
  const kept = `'${name}' was created and is kept: try again with \`cubic start ${name}\` ` +
    `(taking --accel and --timeout), or remove it with \`cubic delete --yes ${name}\``;
  return new UserError(error.message, {
    cause: error,
    code: error.code,
    exitCode: error.exitCode,
    hint: error.hint === undefined ? kept : `${error.hint}\n${kept}`,
  });
}

/** The `run` command. */
export function runCommand(getContext: GetContext, result: CommandResult): Command {
  return withBootFlags(withCreateFlags(
    new Command("run").description(
      "Create an instance, boot it and open a shell (or run the command given after --)",
    )
      .argument("<name>", "new instance name")
      .argument("[command...]", "a command to run instead of a shell"),
  )).action(async (nameText: string, words: string[], flags: CreateFlags & BootOptions) => {
    // Every value is checked before anything is downloaded or created.
    const name = newInstanceName(nameText);
    const create = createOptions(flags);
    const boot = bootOptions(flags);
    const ctx = await getContext();
    await createInstance(ctx, name, create);
    let config;
    try {
      config = await ensureReady(ctx, name, boot);
    } catch (error) {
      throw error instanceof UserError ? createdButNotReady(error, name) : error;
    }
    const target = await sshTarget(ctx, config);
    result.exitCode = words.length > 0
      ? await sshExec(target, remoteCommand(words), {
        stdin: Deno.stdin.isTerminal() ? "null" : "inherit",
      })
      : await sshShell(target);
  });
}
