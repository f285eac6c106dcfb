/**
 * Errors a user can fix. Everything else is a programming fault and is thrown as a built-in.
 *
 * Exit codes (documented in README):
 *   0  success
 *   1  a Cubic error (UserError) — the message says what failed and the hint what to do
 *   2  command-line usage error
 *   3  InvalidChecksum / signature failure: the downloaded image was rejected
 *   4  timeout waiting for an instance
 *   other  `cubic ssh` / `cubic exec` return the remote command's exit code
 */

/** Exit codes Cubic uses for its own failures. */
export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  verification: 3,
  timeout: 4,
} as const;

/** Options for a {@linkcode UserError}. */
export interface UserErrorOptions {
  /** What the user can do next, ideally naming a command. */
  hint?: string;
  /** The underlying error. */
  cause?: unknown;
  /** Process exit code; defaults to 1. */
  exitCode?: number;
  /** A stable machine-readable code, e.g. `InvalidChecksum`. */
  code?: string;
}

/** A problem the user can fix; carries a hint and an exit code. */
export class UserError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;
  readonly code: string;

  constructor(message: string, options: UserErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UserError";
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.error;
    this.code = options.code ?? "UserError";
  }
}

/** The downloaded image does not match the vendor's checksum. */
export class InvalidChecksum extends UserError {
  constructor(message: string, options: Omit<UserErrorOptions, "code" | "exitCode"> = {}) {
    super(message, { ...options, code: "InvalidChecksum", exitCode: ExitCode.verification });
    this.name = "InvalidChecksum";
  }
}

/** The message of anything thrown (an Error's message, else its string form). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
