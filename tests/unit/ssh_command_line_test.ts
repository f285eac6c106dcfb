/**
 * The ssh command `cubic show <instance>` prints: quoted for a POSIX shell and, inside `-o`
 * values, for ssh's own parser. Checked as a value and by the real tools: `/bin/sh` splits the
 * line and `ssh -G` (which prints its configuration and connects nowhere) says what it read.
 */
import { assertEquals } from "../support/assert.ts";
import { shellQuote, sshCommandLine, sshFileValue } from "../../src/cli/show.ts";

Deno.test("ordinary paths are printed without quotes", () => {
  assertEquals(
    sshCommandLine({
      key: "/home/me/.local/share/cubic/machines/web/ssh_client_key",
      port: 2222,
      knownHosts: "/home/me/.local/share/cubic/machines/web/known_hosts",
      user: "cubic",
    }),
    "ssh -i /home/me/.local/share/cubic/machines/web/ssh_client_key -p 2222 -o UserKnownHostsFile=/home/me/.local/share/cubic/machines/web/known_hosts -o StrictHostKeyChecking=yes cubic@127.0.0.1",
  );
});

Deno.test("a word with blanks or quotes is single-quoted for the shell", () => {
  assertEquals(shellQuote("/a b/c"), "'/a b/c'");
  assertEquals(shellQuote("it's"), `'it'\\''s'`);
  assertEquals(shellQuote("$HOME"), "'$HOME'");
});

Deno.test("a file name in an ssh option has % doubled and is double-quoted when ssh would split it", () => {
  assertEquals(sshFileValue("/plain/known_hosts"), "/plain/known_hosts");
  assertEquals(sshFileValue("/100%/known_hosts"), "/100%%/known_hosts");
  assertEquals(sshFileValue("/a b/known_hosts"), '"/a b/known_hosts"');
  assertEquals(sshFileValue('/a "b" \\c/k'), '"/a \\"b\\" \\\\c/k"');
});

/** What `ssh -G` reads from `line` (with `-G` added after `ssh`), run by /bin/sh: option → values. */
async function sshReads(line: string): Promise<Map<string, string[]>> {
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", line.replace(/^ssh /, "ssh -G ")],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, stderr);
  assertEquals(stderr.match(/warning.*/gi), null, "ssh found the identity file");
  const options = new Map<string, string[]>();
  for (const row of new TextDecoder().decode(out.stdout).split("\n")) {
    const space = row.indexOf(" ");
    if (space > 0) {
      const name = row.slice(0, space);
      options.set(name, [...(options.get(name) ?? []), row.slice(space + 1)]);
    }
  }
  return options;
}

// `${` is the one sequence ssh cannot be told to take literally (it always expands `${VAR}`).
for (
  const name of [
    "cubic home",
    'it\'s a "test"',
    "back\\slash #hash\ttab",
    "100% $HOME",
  ]
) {
  Deno.test(`sh and ssh read the printed command as meant under ${JSON.stringify(name)}`, async () => {
    const root = await Deno.makeTempDir({ prefix: "cubic-ssh-line-" });
    try {
      const dir = `${root}/${name}/machines/web`;
      await Deno.mkdir(dir, { recursive: true });
      const key = `${dir}/ssh_client_key`;
      await Deno.writeTextFile(key, "");
      const knownHosts = `${dir}/known_hosts`;
      const read = await sshReads(sshCommandLine({ key, port: 2222, knownHosts, user: "cubic" }));
      assertEquals(read.get("userknownhostsfile"), [knownHosts]);
      // ssh -G prints identity files before their %-expansion, which happens when they are loaded.
      assertEquals(read.get("identityfile")?.[0], key.replaceAll("%", "%%"));
      assertEquals(read.get("port"), ["2222"]);
      assertEquals(read.get("user"), ["cubic"]);
      assertEquals(read.get("hostname"), ["127.0.0.1"]);
      assertEquals(read.get("stricthostkeychecking"), ["true"]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}
