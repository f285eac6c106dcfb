import { assertEquals } from "../tests/support/assert.ts";
import { consoleTail, printable } from "./printable.ts";

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

Deno.test("consoleTail removes colour, cursor, OVMF's ESC[=3h and title sequences from the console", () => {
  const text = "\x1b[=3h\x1b[2J\x1b[01;01HBdsDxe: loading\n" +
    "\x1b]0;owned\x07\x1b[32m[  OK  ]\x1b[0m Started ssh.service\n";
  assertEquals(consoleTail(text, 10), "BdsDxe: loading\n[  OK  ] Started ssh.service");
});

Deno.test("consoleTail lets a carriage return overwrite its line, as a terminal does", () => {
  const text = "Booting `Debian'\rBooting `Debian GNU/Linux'\r\nlogin: \r\n";
  assertEquals(consoleTail(text, 10), "Booting `Debian GNU/Linux'\nlogin: ");
});

Deno.test("consoleTail keeps the last non-blank lines and escapes any control character left", () => {
  const text = "one\n\n  \ntwo\x07\nthree\n\n";
  assertEquals(consoleTail(text, 2), "two\\x07\nthree");
  assertEquals(consoleTail("\x1b[2J\r\n\n", 5), "");
});
