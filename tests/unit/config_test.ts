import { assertEquals, assertRejects, assertThrows } from "../support/assert.ts";
import { mirrorBaseUrl, mirrorEnvName, parseConfig, trustedExtraKeys } from "../../src/config.ts";
import { cubicPaths } from "../../src/paths.ts";
import { UserError } from "../../src/errors.ts";

Deno.test("names the mirror variable in upper case with '-' turned into '_'", () => {
  assertEquals(mirrorEnvName("debian"), "CUBIC_MIRROR_DEBIAN");
  assertEquals(mirrorEnvName("centos-stream"), "CUBIC_MIRROR_CENTOS_STREAM");
});

Deno.test("the environment overrides config.yaml, which overrides the vendor default", () => {
  const config = parseConfig("mirrors:\n  debian: http://cfg.example/debian\n", "config.yaml");
  const def = "https://cloud.debian.org/images/cloud/";
  assertEquals(mirrorBaseUrl("debian", def, { env: {}, config: { mirrors: {}, keys: {} } }), def);
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
        config: { mirrors: {}, keys: {} },
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
  assertEquals(parseConfig("", "c"), { mirrors: {}, keys: {} });
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

Deno.test("config.yaml trusts extra keys per provider, from files or inline", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n";
    await Deno.writeTextFile(`${dir}/k.asc`, key);
    const config = parseConfig(`keys:\n  ubuntu: ["${dir}/k.asc"]\n`, "c");
    assertEquals(await trustedExtraKeys(config, "ubuntu"), [key]);
    assertEquals(await trustedExtraKeys(config, "fedora"), []);
    const missing = parseConfig(`keys:\n  ubuntu: ["${dir}/missing.asc"]\n`, "c");
    await assertRejects(() => trustedExtraKeys(missing, "ubuntu"), UserError, "missing.asc");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rejects keys that are not lists", () => {
  assertThrows(() => parseConfig("keys:\n  ubuntu: 3\n", "c"), UserError, "keys.ubuntu");
});
