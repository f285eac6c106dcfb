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
