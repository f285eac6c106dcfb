import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertThrows,
} from "../support/assert.ts";
import { mirrorBaseUrl, mirrorEnvName, parseConfig, trustedExtraKeys } from "../../src/config.ts";
import { cubicPaths } from "../../src/paths.ts";
import { UserError } from "../../src/errors.ts";
import { UBUNTU_CLOUD_IMAGE_SIGNING_KEY } from "../../providers/keys/ubuntu.ts";

Deno.test("names the mirror variable in upper case with '-' turned into '_'", () => {
  assertEquals(mirrorEnvName("debian"), "CUBIC_MIRROR_DEBIAN");
  assertEquals(mirrorEnvName("centos-stream"), "CUBIC_MIRROR_CENTOS_STREAM");
});

Deno.test("the environment overrides config.yaml, which overrides the vendor default", () => {
  const { config } = parseConfig("mirrors:\n  debian: http://cfg.example/debian\n", "config.yaml");
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
  assertEquals(parseConfig("", "c"), { config: { mirrors: {}, keys: {} }, warnings: [] });
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
    const key = UBUNTU_CLOUD_IMAGE_SIGNING_KEY;
    await Deno.writeTextFile(`${dir}/k.asc`, key);
    const { config } = parseConfig(`keys:\n  ubuntu: ["${dir}/k.asc"]\n`, "c");
    assertEquals(await trustedExtraKeys(config, "ubuntu"), [key]);
    assertEquals(await trustedExtraKeys(config, "fedora"), []);
    const { config: missing } = parseConfig(`keys:\n  ubuntu: ["${dir}/missing.asc"]\n`, "c");
    await assertRejects(() => trustedExtraKeys(missing, "ubuntu"), UserError, "missing.asc");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a trusted key that is not an armoured public key is a UserError naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/hostname`, "buildhost\n");
    // A binary `gpg --export`: an old-format public-key packet header, then key material.
    await Deno.writeFile(`${dir}/key.gpg`, new Uint8Array([0x99, 0x01, 0x0d, 0x04, 0, 0xff, 0x80]));
    const broken = UBUNTU_CLOUD_IMAGE_SIGNING_KEY.replace(/\n[A-Za-z0-9+/]{20}/, "\n!!!!");
    await Deno.writeTextFile(`${dir}/broken.asc`, broken);
    const source = "/home/u/.config/cubic/config.yaml";
    const cases: [string, RegExp][] = [
      [`${dir}/hostname`, /hostname' for ubuntu failed: it is not an armoured OpenPGP public key/],
      [`${dir}/key.gpg`, /key\.gpg' for ubuntu failed: it is binary/],
      [`${dir}/broken.asc`, /broken\.asc' for ubuntu failed: OpenPGP cannot read the key/],
    ];
    for (const [path, message] of cases) {
      const { config } = parseConfig(`keys:\n  ubuntu: ["${path}"]\n`, source);
      const error = await assertRejects<UserError>(
        () => trustedExtraKeys(config, "ubuntu"),
        UserError,
      );
      assertEquals(error.code, "InvalidKey");
      assertMatch(error.message, message);
      assert(!error.message.includes("\n"), "one line");
      assertMatch(
        error.hint ?? "",
        /gpg --armor --export .* keys\.ubuntu in \/home\/u\/\.config\/cubic\/config\.yaml/,
      );
    }
    const { config: inline } = parseConfig(
      `keys:\n  ubuntu:\n    - |\n      -----BEGIN PGP PUBLIC KEY BLOCK-----\n      garbage\n`,
      source,
    );
    const error = await assertRejects(() => trustedExtraKeys(inline, "ubuntu"), UserError);
    assertMatch(
      error.message,
      /^Reading the trusted key keys\.ubuntu\[0\] in '\/home\/u\/\.config\/cubic\/config\.yaml' failed: its armour is cut short/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a YAML syntax error in config.yaml is a one-line UserError with its line", () => {
  const error = assertThrows(() => parseConfig("mirrors: [a\n", "/c/config.yaml"), UserError);
  assertMatch(error.message, /^Reading '\/c\/config\.yaml' failed: .*line \d+/);
  assert(!error.message.includes("\n"), error.message);
});

Deno.test("rejects keys that are not lists", () => {
  assertThrows(() => parseConfig("keys:\n  ubuntu: 3\n", "c"), UserError, "keys.ubuntu");
});

Deno.test("an unknown top-level key in config.yaml is a warning that suggests the known one", () => {
  const { config, warnings } = parseConfig(
    "mirror:\n  debian: http://127.0.0.1:8080/\n",
    "/home/u/.config/cubic/config.yaml",
  );
  assertEquals(config, { mirrors: {}, keys: {} });
  assertEquals(warnings, [
    "Reading '/home/u/.config/cubic/config.yaml': ignoring the unknown key 'mirror' (did you mean 'mirrors'?) (known keys: mirrors, keys)",
  ]);
});

Deno.test("a provider id no provider has under mirrors or keys is a warning naming the likely one", () => {
  const text = "mirrors:\n  debain: http://127.0.0.1:8080/\n  debian: http://127.0.0.1:9/\n" +
    "keys:\n  plan9: [/k.asc]\n";
  const { warnings } = parseConfig(text, "c", { knownProviders: ["debian", "ubuntu"] });
  assertEquals(warnings, [
    "Reading 'c': ignoring mirrors.debain: no provider has the id 'debain' (did you mean 'debian'?) (known: debian, ubuntu)",
    "Reading 'c': ignoring keys.plan9: no provider has the id 'plan9' (known: debian, ubuntu)",
  ]);
});

Deno.test("provider ids are not checked when the caller does not say which exist", () => {
  assertEquals(parseConfig("mirrors:\n  debain: http://x/\n", "c").warnings, []);
});

Deno.test("a well-formed config.yaml has no warnings", () => {
  const text = "mirrors:\n  debian: http://127.0.0.1:8080/\nkeys:\n  ubuntu: [/k.asc]\n";
  assertEquals(parseConfig(text, "c", { knownProviders: ["debian", "ubuntu"] }).warnings, []);
});

Deno.test("a mirror URL's credentials never appear in the mirror URL errors", () => {
  for (const bad of ["ftp://user:hunter2@x/", "user:hunter2@:not a url"]) {
    const error = assertThrows<UserError>(
      () =>
        mirrorBaseUrl("debian", "https://x/", {
          env: { CUBIC_MIRROR_DEBIAN: bad },
          config: { mirrors: {}, keys: {} },
        }),
      UserError,
    );
    assert(!`${error.message} ${error.hint}`.includes("hunter2"), error.message);
  }
});

Deno.test("the mirror base URL comes back without its credentials", () => {
  assertEquals(
    mirrorBaseUrl("debian", "https://x/", {
      env: { CUBIC_MIRROR_DEBIAN: "http://user:hunter2@127.0.0.1:8080/images/cloud" },
      config: { mirrors: {}, keys: {} },
    }),
    "http://127.0.0.1:8080/images/cloud/",
  );
});
