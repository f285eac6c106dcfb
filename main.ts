/**
 * Cubic's entry point: runs the CLI; the one place that prints an error and picks the exit code.
 */
import { CommanderError } from "./src/cli/commander.ts";
import { rootCommand } from "./src/cli/root.ts";
import { ExitCode, UserError } from "./src/errors.ts";
import { printable } from "./src/printable.ts";

/** Runs Cubic with `args` and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const result = { exitCode: 0 };
  const program = rootCommand(result);
  if (args.length === 0) {
    program.outputHelp();
    return ExitCode.ok;
  }
  try {
    await program.parseAsync(args, { from: "user" });
    return result.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed its message (or the help/version text).
      return error.exitCode === 0 ? 0 : ExitCode.usage;
    }
    if (error instanceof UserError) {
      // Messages quote mirrors, image headers and the guest's console: never raw to the terminal.
      console.error(`error: ${printable(error.message)}`);
      if (error.hint) console.error(`hint: ${printable(error.hint)}`);
      return error.exitCode;
    }
    console.error(
      `error: unexpected failure (a bug in Cubic): ${
        printable(String((error as Error)?.stack ?? error))
      }`,
    );
    return ExitCode.error;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
