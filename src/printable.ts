/**
 * Text from elsewhere — a mirror's file names, an image header, the guest's console — made safe
 * to print on a terminal (pure): control characters (ESC, BEL, carriage return, C1 controls, DEL)
 * and bidirectional overrides are shown as `\xNN` / `\u{NNNN}` escapes, so such text can neither
 * drive the terminal nor disguise itself as Cubic's own output. Newlines and tabs are kept.
 */
// deno-lint-ignore no-control-regex
const UNPRINTABLE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/** `text` with terminal control and bidi-override characters escaped (pure). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
}

/**
 * Escape sequences a console writes: CSI (`ESC [ … final`, e.g. colours, cursor moves and OVMF's
 * `ESC[=3h`), OSC (`ESC ] … BEL` or `ESC ] … ESC \\`, e.g. window titles) and two-character ones.
 */
// deno-lint-ignore no-control-regex
const ESCAPE_SEQUENCE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;

/**
 * The last `lines` non-blank lines of a guest's console output as a terminal would have shown them
 * (pure): escape sequences removed, a carriage return overwriting its line, and whatever control
 * characters remain escaped by {@linkcode printable}. Empty when the console printed nothing.
 */
export function consoleTail(text: string, lines: number): string {
  return text.replace(ESCAPE_SEQUENCE, "").split("\n")
    .map((line) => line.split("\r").filter((part) => part !== "").at(-1) ?? "")
    .filter((line) => line.trim() !== "")
    .slice(-lines)
    .map(printable)
    .join("\n");
}
