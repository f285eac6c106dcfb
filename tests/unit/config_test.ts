import { assertEquals, assertThrows } from "../support/assert.ts";
import { mirrorBaseUrl, mirrorEnvName, parseConfig } from "../../src/config.ts";
import { cubicPaths } from "../../src/paths.ts";
import { UserError } from "../../src/errors.ts";

Deno.test("names the mirror variable in upper case with '-' turned into '_'", () => {
  assertEquals(mirrorEnvName("debian"), "CUBIC_MIRROR_DEBIAN");
  assertEquals(mirrorEnvName("centos-stream"), "CUBIC_MIRROR_CENTOS_STREAM");
});

Deno.test("the environment overrides config.yaml, which overrides the vendor default", () => {
  const config = parseConfig("mirrors:\n  debian: http://cfg.example/debian\n", "config.yaml");
  const def = "https://cloud.debian.org/images/cloud/";
  assertEquals(mirrorBaseUrl("debian", def, { env: {}, config: { mirrors: {} } }), def);
  assertEquals(mirrorBaseUrl("debian", def, { env: {}, config }), "http://cfg.example/debian/");
  assertEquals(
    mirrorBaseUrl("debian", def, {
      env: { CUBIC_MIRROR_DEBIAN: "http://127.0.0.1:8080/images/cloud/" },
      config,
    }),
    "http://127.0.0.1:8080/images/cloud/",
  );
});

Deno.test("rejects a mirror URL that is not http(s)", () => {
  assertThrows(
    () =>
      mirrorBaseUrl("debian", "https://x/", {
        env: { CUBIC_MIRROR_DEBIAN: "ftp://x/" },
        config: { mirrors: {} },
      }),
    UserError,
    "only http and https",
  );
});

Deno.test("explains a config.yaml that is not valid YAML", () => {
  assertThrows(
    () => parseConfig("mirrors: [\n", "/home/u/.config/cubic/config.yaml"),
    UserError,
    "config.yaml",
  );
});

Deno.test("an empty config.yaml is an empty config", () => {
  assertEquals(parseConfig("", "c"), { mirrors: {} });
});

Deno.test("honours XDG_DATA_HOME, XDG_CACHE_HOME and XDG_CONFIG_HOME", () => {
  const paths = cubicPaths({
    HOME: "/home/u",
    XDG_DATA_HOME: "/d",
    XDG_CACHE_HOME: "/c",
    XDG_CONFIG_HOME: "/f",
  });
  assertEquals(paths, {
    data: "/d/cubic",
    cache: "/c/cubic",
    config: "/f/cubic",
    machines: "/d/cubic/machines",
    images: "/c/cubic/images",
  });
});

Deno.test("falls back to ~/.local/share, ~/.cache and ~/.config", () => {
  const paths = cubicPaths({ HOME: "/home/u" });
  assertEquals([paths.machines, paths.images, paths.config], [
    "/home/u/.local/share/cubic/machines",
    "/home/u/.cache/cubic/images",
    "/home/u/.config/cubic",
  ]);
});
