/**
 * The few assertions Cubic's tests use, on top of node:assert (JSR's @std/assert is unreachable).
 */
import nodeAssert from "node:assert/strict";

/** Asserts deep, strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Asserts a truthy value. */
export function assert(value: unknown, message?: string): asserts value {
  nodeAssert.ok(value, message);
}

/** Asserts a string matches a pattern. */
export function assertMatch(actual: string, pattern: RegExp, message?: string): void {
  nodeAssert.match(actual, pattern, message);
}

type ErrorClass = abstract new (...args: never[]) => Error;

function check(error: unknown, cls: ErrorClass | undefined, includes: string | undefined): Error {
  if (cls && !(error instanceof cls)) {
    throw new nodeAssert.AssertionError({
      message: `expected ${cls.name}, got ${(error as Error)?.constructor?.name}: ${
        (error as Error)?.message
      }`,
    });
  }
  const e = error as Error;
  if (includes !== undefined && !e.message.includes(includes)) {
    throw new nodeAssert.AssertionError({
      message: `expected the message to include ${JSON.stringify(includes)}, got ${
        JSON.stringify(e.message)
      }`,
    });
  }
  return e;
}

/** Asserts that `fn` throws (an instance of `cls` whose message includes `includes`). */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  cls?: ErrorClass,
  includes?: string,
): E {
  try {
    fn();
  } catch (error) {
    return check(error, cls, includes) as E;
  }
  throw new nodeAssert.AssertionError({ message: "expected the function to throw" });
}

/** Asserts that `fn` rejects (with an instance of `cls` whose message includes `includes`). */
export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  cls?: ErrorClass,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    return check(error, cls, includes) as E;
  }
  throw new nodeAssert.AssertionError({ message: "expected the promise to reject" });
}
