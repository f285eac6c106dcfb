import { assertEquals } from "../tests/support/assert.ts";
import { printable } from "./printable.ts";

Deno.test("printable escapes ESC, BEL and CSI sequences so a title or fake line cannot be drawn", () => {
  assertEquals(
    printable("x\x1b]0;PWNED\x07\x1b[2K\x1b[1A\x1b[32mFAKE: verified OK\x1b[0m"),
    "x\\x1b]0;PWNED\\x07\\x1b[2K\\x1b[1A\\x1b[32mFAKE: verified OK\\x1b[0m",
  );
});

Deno.test("printable escapes carriage return, DEL, C1 controls and bidi overrides but keeps newlines and tabs", () => {
  assertEquals(printable("a\rb\x7fc\x9bd"), "a\\x0db\\x7fc\\x9bd");
  assertEquals(printable("evil\u202egpj.exe"), "evil\\u{202e}gpj.exe");
  assertEquals(printable("line 1\n\tline 2"), "line 1\n\tline 2");
});

Deno.test("printable leaves ordinary text, including non-ASCII letters, unchanged", () => {
  const text = "Verifying debian:12 — SHA-512 ✓ (Größe 1.5 GiB)";
  assertEquals(printable(text), text);
});
