/**
 * Option parsing shared by several commands (pure). A value that cannot be read is a usage
 * error (exit code 2), like an unknown option.
 */
import { type AccelMode, parseAccelMode } from "../accel.ts";
import { ExitCode, UserError } from "../errors.ts";
import { parseSize } from "../size.ts";

/** QEMU's q35 and virt machines take at most 255 vCPUs without extra configuration. */
export const MAX_CPUS = 255;

/** Parses a whole-number option from 1 to `max`. */
export function parseCount(text: string, what: string, options: { max?: number } = {}): number {
  const max = options.max ?? 1024;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new UserError(
      `Reading ${what} '${text}' failed: expected a whole number from 1 to ${max}`,
      {
        code: "InvalidNumber",
        exitCode: ExitCode.usage,
        hint: `For example ${what} 2`,
      },
    );
  }
  return n;
}

/** Parses `--cpus` (1 to 255). */
export function parseCpus(text: string): number {
  return parseCount(text, "--cpus", { max: MAX_CPUS });
}

/** Timers in Deno hold at most 2^31 - 1 ms (24.8 days). */
const MAX_TIMEOUT_SECONDS = 2_000_000;

/** Parses `--timeout` in seconds into milliseconds. */
export function parseTimeout(text: string): number {
  const n = Number(text.replace(/s$/, ""));
  if (!Number.isFinite(n) || n <= 0 || n > MAX_TIMEOUT_SECONDS) {
    throw new UserError(
      `Reading --timeout '${text}' failed: expected a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS}`,
      {
        code: "InvalidNumber",
        exitCode: ExitCode.usage,
        hint: "For example --timeout 600",
      },
    );
  }
  return Math.round(n * 1000);
}

/** Parses a size option (`--disk`, `--memory`) into bytes. */
export function parseSizeOption(text: string, what: string): number {
  try {
    return parseSize(text, what);
  } catch (error) {
    throw error instanceof UserError ? asUsageError(error) : error;
  }
}

/** Parses `--memory` into MiB. */
export function parseMemory(text: string): number {
  const bytes = parseSizeOption(text, "--memory");
  const mib = Math.floor(bytes / 1024 ** 2);
  if (mib < 256) {
    throw new UserError(`Reading --memory '${text}' failed: a guest needs at least 256M`, {
      code: "InvalidSize",
      exitCode: ExitCode.usage,
      hint: "For example --memory 2G",
    });
  }
  return mib;
}

/** The same error as a usage error (exit code 2). */
export function asUsageError(error: UserError): UserError {
  if (error.exitCode === ExitCode.usage) return error;
  return new UserError(error.message, {
    code: error.code,
    exitCode: ExitCode.usage,
    cause: error,
    ...(error.hint === undefined ? {} : { hint: error.hint }),
  });
}

/** Options shared by the commands that may boot a VM. */
export interface BootOptions {
  accel?: string;
  timeout?: string;
}

/** Reads the boot options. */
export function bootOptions(opts: BootOptions): { accel: AccelMode; timeoutMs: number } {
  return {
    accel: parseAccelMode(opts.accel ?? "auto"),
    timeoutMs: opts.timeout === undefined ? 300_000 : parseTimeout(opts.timeout),
  };
}

/** Splits `[user@]instance`. */
export function parseTarget(text: string): { user: string | undefined; name: string } {
  const at = text.indexOf("@");
  if (at < 0) return { user: undefined, name: text };
  if (text.indexOf("@", at + 1) >= 0 || at === 0 || at === text.length - 1) {
    throw new UserError(`Reading the target '${text}' failed: expected [user@]instance`, {
      code: "InvalidTarget",
      exitCode: ExitCode.usage,
      hint: "For example: dev or cubic@dev",
    });
  }
  return { user: text.slice(0, at), name: text.slice(at + 1) };
}

/**
 * Turns `exec`'s words into one remote command line: a single word is taken as a shell command
 * as written (`'ls | wc -l'`); several words are quoted one by one so they arrive unchanged.
 */
export function remoteCommand(words: string[]): string {
  if (words.length === 1) return words[0]!;
  return words.map(shellQuote).join(" ");
}

/** POSIX shell quoting (pure). */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
