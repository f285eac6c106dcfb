/**
 * Commands that act on several instances or images carry on past a failing one and report the
 * failures together at the end; this is that report.
 */
import { UserError } from "../errors.ts";

/** One item of a multi-item command that failed. */
export interface BatchFailure {
  item: string;
  error: UserError;
}

/**
 * The error summing up a command's failures, or undefined when there were none. A shared exit
 * code keeps its meaning (3: an image was rejected); mixed causes exit 1. A single failure keeps
 * its own hint.
 */
export function batchError(
  failed: readonly BatchFailure[],
  options: { action: string; total: number; noun: string; code: string },
): UserError | undefined {
  const first = failed[0];
  if (first === undefined) return undefined;
  return new UserError(
    `${options.action} ${failed.length} of ${options.total} ${options.noun} failed: ${
      failed.map((f) => f.item).join(", ")
    }`,
    {
      code: options.code,
      exitCode: failed.every((f) => f.error.exitCode === first.error.exitCode)
        ? first.error.exitCode
        : 1,
      hint: failed.length === 1 && first.error.hint
        ? first.error.hint
        : "See the warnings above for each one",
    },
  );
}
