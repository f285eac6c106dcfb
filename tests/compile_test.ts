/**
 * `deno task compile` builds the single `dist/cubic` binary. Compiling needs Deno's `denort`
 * runtime, which Deno downloads unless `DENORT_BIN` points at one; our CI cannot download it, so
 * this test runs only when DENORT_BIN is set and says so when it skips.
 */
import { assertEquals, assertMatch } from "./support/assert.ts";
import { VERSION } from "../src/version.ts";

const denort = Deno.env.get("DENORT_BIN");
const repo = new URL("..", import.meta.url).pathname;

if (!denort) {
  console.log(
    "compile_test: SKIPPED — DENORT_BIN is not set (deno compile needs the denort runtime, which " +
      "cannot be downloaded here). Set DENORT_BIN=/path/to/denort to run it.",
  );
}

Deno.test({
  name: "deno task compile builds dist/cubic, which prints its version and runs commands",
  ignore: !denort,
  async fn() {
    const compile = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile"],
      cwd: repo,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(compile.code, 0, new TextDecoder().decode(compile.stderr));
    const version = await new Deno.Command(`${repo}dist/cubic`, {
      args: ["--version"],
      stdout: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(version.stdout).trim(), `cubic ${VERSION}`);
    const home = await Deno.makeTempDir();
    try {
      const list = await new Deno.Command(`${repo}dist/cubic`, {
        args: ["instances"],
        env: {
          HOME: home,
          XDG_DATA_HOME: `${home}/d`,
          XDG_CACHE_HOME: `${home}/c`,
          XDG_CONFIG_HOME: `${home}/f`,
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(list.code, 0);
      assertEquals(new TextDecoder().decode(list.stdout), "");
      assertMatch(new TextDecoder().decode(list.stderr), /^No instances yet/);
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  },
});
