/**
 * Option parsing shared by several commands (pure).
 */
import { type AccelMode, parseAccelMode } from "../accel.ts";
import { UserError } from "../errors.ts";
import { parseSize } from "../size.ts";

/** Parses a positive integer option. */
export function parseCount(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > 1024) {
    throw new UserError(
      `Reading ${what} '${text}' failed: expected a whole number from 1 to 1024`,
      {
        code: "InvalidNumber",
        hint: `For example ${what} 2`,
      },
    );
  }
  return n;
}

/** Parses `--timeout` in seconds into milliseconds. */
export function parseTimeout(text: string): number {
  const n = Number(text.replace(/s$/, ""));
  if (!Number.isFinite(n) || n <= 0) {
    throw new UserError(`Reading --timeout '${text}' failed: expected seconds`, {
      code: "InvalidNumber",
      hint: "For example --timeout 600",
    });
  }
  return Math.round(n * 1000);
}

/** Parses `--memory` into MiB. */
export function parseMemory(text: string): number {
  const bytes = parseSize(text, "--memory");
  const mib = Math.floor(bytes / 1024 ** 2);
  if (mib < 256) {
    throw new UserError(`Reading --memory '${text}' failed: a guest needs at least 256M`, {
      code: "InvalidSize",
      hint: "For example --memory 2G",
    });
  }
  return mib;
}

/** Options shared by the commands that may boot a VM. */
export interface BootOptions {
  accel: string;
  timeout?: string;
}

/** Reads the boot options. */
export function bootOptions(opts: BootOptions): { accel: AccelMode; timeoutMs: number } {
  return {
    accel: parseAccelMode(opts.accel),
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
