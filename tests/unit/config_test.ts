import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertThrows,
} from "../support/assert.ts";
import {
  configuredKeys,
  configuredMirror,
  keyFilePath,
  mirrorBaseUrl,
  mirrorEnvName,
  parseConfig,
  trustedExtraKeys,
} from "../../src/config.ts";
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

Deno.test("a relative key path is relative to config.yaml's directory and ~/ to the home directory, never to the working directory", () => {
  const source = "/home/u/.config/cubic/config.yaml";
  assertEquals(keyFilePath("mirror.asc", source, "/home/u"), "/home/u/.config/cubic/mirror.asc");
  assertEquals(keyFilePath("keys/m.asc", source, "/home/u"), "/home/u/.config/cubic/keys/m.asc");
  assertEquals(keyFilePath("~/keys/m.asc", source, "/home/u"), "/home/u/keys/m.asc");
  assertEquals(keyFilePath("/etc/m.asc", source, "/home/u"), "/etc/m.asc");
});

Deno.test("a key file next to config.yaml is found whatever directory Cubic runs in", async () => {
  const dir = await Deno.makeTempDir();
  const elsewhere = await Deno.makeTempDir();
  const cwd = Deno.cwd();
  try {
    await Deno.writeTextFile(`${dir}/k.asc`, UBUNTU_CLOUD_IMAGE_SIGNING_KEY);
    await Deno.writeTextFile(`${elsewhere}/k.asc`, "planted\n");
    const { config } = parseConfig(`keys:\n  ubuntu: [k.asc]\n`, `${dir}/config.yaml`);
    Deno.chdir(elsewhere);
    assertEquals(await trustedExtraKeys(config, "ubuntu"), [UBUNTU_CLOUD_IMAGE_SIGNING_KEY]);
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(elsewhere, { recursive: true });
  }
});

Deno.test("a key path that is not a small regular file is refused with the reason, without reading it all", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/big.asc`, new Uint8Array(1024 * 1024 + 1));
    const cases: [string, RegExp][] = [
      ["/dev/zero", /'\/dev\/zero' for ubuntu failed: not a regular file$/],
      [dir, /failed: not a regular file$/],
      [`${dir}/missing.asc`, /missing\.asc' for ubuntu failed: no such file$/],
      [
        `${dir}/big.asc`,
        /big\.asc' for ubuntu failed: it is larger than 1024 KiB, which no public key is$/,
      ],
    ];
    for (const [path, message] of cases) {
      const { config } = parseConfig(`keys:\n  ubuntu: ["${path}"]\n`, `${dir}/config.yaml`);
      const error = await assertRejects<UserError>(
        () => trustedExtraKeys(config, "ubuntu"),
        UserError,
      );
      assertEquals(error.code, "KeyFileUnreadable");
      assertMatch(error.message, message);
      assertMatch(error.hint ?? "", /relative to config\.yaml's directory/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("provider ids that name Object.prototype members are ordinary ids, set or not", () => {
  const { config } = parseConfig("mirrors:\n  debian: 'http://m/'\n", "c");
  assertEquals(configuredMirror(config, "constructor"), undefined);
  assertEquals(configuredKeys(config, "constructor"), []);
  assertEquals(configuredKeys(config, "toString"), []);
  const def = "https://constructor.example/";
  assertEquals(mirrorBaseUrl("constructor", def, { env: {}, config }), def);
  const { config: set } = parseConfig(
    "mirrors:\n  constructor: 'http://m/c/'\nkeys:\n  __proto__: []\n",
    "c",
  );
  assertEquals(mirrorBaseUrl("constructor", def, { env: {}, config: set }), "http://m/c/");
  assertEquals(Object.getPrototypeOf(set.keys), Object.prototype);
});

Deno.test("an empty mirror URL in config.yaml is an error, not a silent fall back to the vendor", () => {
  const error = assertThrows(() => parseConfig("mirrors:\n  debian: ''\n", "c.yaml"), UserError);
  assertEquals(error.message, "Reading 'c.yaml' failed: mirrors.debian is empty");
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
  assertMatch(error.message, /^Reading '\/c\/config\.yaml' failed: .*line \d+, column \d+$/);
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
