/**
 * Data sizes on the command line: `512M`, `2G`, `1.5G`, `20GiB` (binary units).
 */
import { UserError } from "./errors.ts";

const UNITS: Readonly<Record<string, number>> = {
  "": 1,
  B: 1,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
};

/** Parses a size with a unit suffix into bytes (pure). */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([BKMGT]?)(?:i?B)?$/i.exec(text.trim());
  const unit = m?.[2]?.toUpperCase() ?? "";
  if (!m?.[1] || (unit === "" && !/B$/i.test(text.trim()))) {
    throw new UserError(`Reading ${what} '${text}' failed: expected a number with a unit`, {
      code: "InvalidSize",
      hint: "For example 512M, 2G or 20G (binary units: 1G = 1024 MiB)",
    });
  }
  const bytes = Math.round(Number(m[1]) * UNITS[unit]!);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UserError(`Reading ${what} '${text}' failed: out of range`, {
      code: "InvalidSize",
      hint: "For example 2G",
    });
  }
  return bytes;
}
