/** config.yaml through the real CLI: typos are warned about, never silently ignored. */
import { join } from "node:path";
import { assertEquals, assertMatch } from "../support/assert.ts";
import { makeCubicHome, runCubic } from "../support/cli.ts";

Deno.test("a misspelt provider id and an unknown key in config.yaml are warnings on stderr", async () => {
  const home = await makeCubicHome();
  try {
    const dir = join(home.env.XDG_CONFIG_HOME!, "cubic");
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      join(dir, "config.yaml"),
      "mirror:\n  debian: http://127.0.0.1:9/\nmirrors:\n  debain: http://127.0.0.1:9/\n",
    );
    const result = await runCubic(["instances", "--json"], { env: home.env });
    assertEquals(result.code, 0, result.stderr);
    assertMatch(
      result.stderr,
      /^warning: Reading '.*config\.yaml': ignoring the unknown key 'mirror' \(did you mean 'mirrors'\?\)/m,
    );
    assertMatch(
      result.stderr,
      /^warning: Reading '.*config\.yaml': ignoring mirrors\.debain: no provider has the id 'debain' \(did you mean 'debian'\?\)/m,
    );
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});
