/**
 * Mistakes in user configuration — a provider YAML file or config.yaml's `keys` — through the
 * real CLI: each is a one-line `error:` and a `hint:` naming the file, never "a bug in Cubic",
 * and a broken provider file does not stop commands that need no provider.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { type CubicHome, makeCubicHome, runCubic } from "../support/cli.ts";
import { startMirrorServer } from "../support/mirror_server.ts";

const TINYOS = `
id: tinyos
name: Tiny OS
base_url: https://mirror.invalid/tinyos/
release_pattern: '^(\\d+\\.\\d+)$'
directory: "{release}/{arch}/"
image_pattern: 'tinyos-{release}-{arch}-\\d+\\.qcow2'
checksum_file: SHA256SUMS
arches: { amd64: x86_64 }
`;

const FIXTURE_KEY = new URL(
  "../fixtures/signatures/cubic-fixture-test-key-ed25519-43565590E42B0522C8A3B4A20C730E568C3F3531.asc",
  import.meta.url,
).pathname;

async function providerFile(home: CubicHome, name: string, text: string): Promise<string> {
  const dir = join(home.env.XDG_CONFIG_HOME!, "cubic", "providers");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, name), text);
  return join(dir, name);
}

/** Asserts a one-line error naming `file` (a regex source) and a hint, nothing else. */
function assertUserError(r: { code: number; stderr: string }, message: RegExp): void {
  assertEquals(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines.length, 2, r.stderr);
  assertMatch(lines[0]!, message);
  assertMatch(lines[1]!, /^hint: /);
  assert(!r.stderr.includes("a bug in Cubic"), r.stderr);
}

/** A mirror with tinyos 1.2 for x86_64 in the layout TINYOS describes. */
async function tinyMirror(): Promise<{ url: string; close(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "cubic-provider-files-" });
  const images = join(dir, "tinyos", "1.2", "x86_64");
  await Deno.mkdir(images, { recursive: true });
  const file = "tinyos-1.2-x86_64-20260301.qcow2";
  const out = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", "qcow2", join(images, file), "8M"],
  }).output();
  assert(out.success);
  const digest = createHash("sha256").update(await Deno.readFile(join(images, file))).digest("hex");
  await Deno.writeTextFile(join(images, "SHA256SUMS"), `${digest}  ${file}\n`);
  const server = await startMirrorServer(dir);
  return {
    url: `${server.url}/tinyos/`,
    async close() {
      await server.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("a provider file with a YAML syntax error fails image commands only, in one line", async () => {
  const home = await makeCubicHome();
  try {
    const file = await providerFile(home, "bad.yaml", "id: bad\nbase_url: [unclosed\n");
    assertUserError(
      await runCubic(["images"], { env: home.env }),
      new RegExp(
        `^error: Reading the provider file '${file}' failed: it is not valid YAML: .*line \\d+`,
      ),
    );
    assertUserError(
      await runCubic(["pull", "debian:12"], { env: home.env }),
      /^error: Reading the provider file '.*bad\.yaml' failed/,
    );
    const list = await runCubic(["instances"], { env: home.env });
    assertEquals(list.code, 0, list.stderr);
    assertEquals(
      list.stderr,
      "No instances yet; create one with `cubic run dev --image debian:12`\n",
    );
    const show = await runCubic(["show", "nothing"], { env: home.env });
    assertMatch(show.stderr, /^error: Finding the instance 'nothing' failed/m);
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("a provider file whose inline key is not a public key is a one-line error", async () => {
  const home = await makeCubicHome();
  try {
    await providerFile(
      home,
      "tinyos.yaml",
      `${TINYOS}signature: { kind: detached, file: SHA256SUMS.gpg, over: checksum }\n` +
        `keys: ["-----BEGIN PGP PUBLIC KEY BLOCK-----\\n\\nbm90IGEga2V5\\n-----END PGP PUBLIC KEY BLOCK-----\\n"]\n`,
    );
    assertUserError(
      await runCubic(["images"], { env: home.env }),
      /^error: Reading the provider file '.*tinyos\.yaml' failed: keys\[0\]: OpenPGP cannot read the key/,
    );
    await providerFile(
      home,
      "tinyos.yaml",
      `${TINYOS}signature: { kind: clearsigned }\nkeys: ["/etc/hostname"]\n`,
    );
    assertUserError(
      await runCubic(["images"], { env: home.env }),
      /^error: Reading the provider file '.*tinyos\.yaml' failed: keys\[0\]: it is not an armoured OpenPGP public key/,
    );
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("an image_pattern that is not a regular expression is refused when the file is read", async () => {
  const home = await makeCubicHome();
  try {
    await providerFile(
      home,
      "tinyos.yaml",
      TINYOS.replace("image_pattern: 'tinyos-{release}", "image_pattern: 'tinyos-({release}"),
    );
    assertUserError(
      await runCubic(["images"], { env: home.env }),
      /^error: Reading the provider file '.*tinyos\.yaml' failed: image_pattern is not a valid regular expression/,
    );
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("two provider files with the same id are refused, naming both files", async () => {
  const home = await makeCubicHome();
  try {
    const first = await providerFile(home, "a-tinyos.yaml", TINYOS);
    const second = await providerFile(home, "b-tinyos.yml", TINYOS.replace("Tiny OS", "Other"));
    assertUserError(
      await runCubic(["images"], { env: home.env }),
      new RegExp(
        `^error: Reading the provider file '${second}' failed: its id 'tinyos' is already used by the provider file '${first}'`,
      ),
    );
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("provider path templates may not leave base_url, and are normalised", async () => {
  const home = await makeCubicHome();
  try {
    const cases: [string, string, RegExp][] = [
      ["directory", '"../x/"', /directory '\.\.\/x\/' must not contain '\.\.'/],
      ["directory", '"{release}/%2e%2e/{arch}/"', /directory '.*' must not contain '\.\.'/],
      [
        "directory",
        '"/srv/{release}/"',
        /directory '\/srv\/\{release\}\/' must be a relative path/,
      ],
      [
        "directory",
        '"https://evil.example/{release}/"',
        /directory '.*' must be a path relative to base_url/,
      ],
      ["checksum_file", '"../../SHA256SUMS"', /checksum_file '\.\.\/\.\.\/SHA256SUMS' must not/],
    ];
    for (const [key, value, message] of cases) {
      const text = TINYOS.replace(new RegExp(`^${key}: .*$`, "m"), `${key}: ${value}`);
      await providerFile(home, "tinyos.yaml", text);
      assertUserError(
        await runCubic(["images"], { env: home.env }),
        new RegExp(`^error: Reading the provider file '.*tinyos\\.yaml' failed: ${message.source}`),
      );
    }
    const signed = `${TINYOS}signature: { kind: detached, file: "../SHA256SUMS.gpg" }\n` +
      `keys: ["x"]\n`;
    await providerFile(home, "tinyos.yaml", signed);
    assertUserError(
      await runCubic(["images"], { env: home.env }),
      /failed: signature\.file '\.\.\/SHA256SUMS\.gpg' must not contain '\.\.'/,
    );
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
  const mirror = await tinyMirror();
  const normal = await makeCubicHome({ CUBIC_MIRROR_TINYOS: mirror.url });
  try {
    await providerFile(
      normal,
      "tinyos.yaml",
      TINYOS.replace('directory: "{release}/{arch}/"', 'directory: "./{release}//{arch}"')
        .replace("checksum_file: SHA256SUMS", "checksum_file: ./SHA256SUMS"),
    );
    const r = await runCubic(["images", "--json"], { env: normal.env });
    assertEquals(r.code, 0, r.stderr);
    const [row] = JSON.parse(r.stdout).filter((e: { vendor: string }) => e.vendor === "tinyos");
    assertEquals(row.imageUrl, `${mirror.url}1.2/x86_64/tinyos-1.2-x86_64-20260301.qcow2`);
    const pulled = await runCubic(["pull", "tinyos:1.2"], { env: normal.env });
    assertEquals(pulled.code, 0, pulled.stderr);
  } finally {
    await mirror.close();
    await Deno.remove(normal.root, { recursive: true });
  }
});

Deno.test("a config.yaml key that is not an armoured public key fails pull in one line", async () => {
  const mirror = await tinyMirror();
  const home = await makeCubicHome({ CUBIC_MIRROR_TINYOS: mirror.url });
  try {
    // Keys are read only for an image with a signature to check.
    const key = await Deno.readTextFile(FIXTURE_KEY);
    await providerFile(
      home,
      "tinyos.yaml",
      `${TINYOS}signature: { kind: clearsigned }\nkeys:\n  - |\n${
        key.trimEnd().split("\n").map((l) => `    ${l}`).join("\n")
      }\n`,
    );
    const hostname = join(home.root, "hostname");
    await Deno.writeTextFile(hostname, "buildhost\n");
    const exported = join(home.root, "key.gpg");
    await Deno.writeFile(exported, new Uint8Array([0x99, 0x01, 0x0d, 0x04, 0x65, 0xff, 0x80, 0]));
    const config = join(home.env.XDG_CONFIG_HOME!, "cubic", "config.yaml");
    for (
      const [entry, message] of [
        [hostname, /it is not an armoured OpenPGP public key/],
        [exported, /it is binary, not an armoured OpenPGP public key/],
      ] as const
    ) {
      await Deno.writeTextFile(config, `keys:\n  tinyos: ["${entry}"]\n`);
      const r = await runCubic(["pull", "tinyos:1.2"], { env: home.env });
      assertUserError(
        r,
        new RegExp(
          `^error: Reading the trusted key file '${entry}' for tinyos failed: ${message.source}`,
        ),
      );
      assertMatch(r.stderr, new RegExp(`^hint: .*keys\\.tinyos in ${config}`, "m"));
    }
  } finally {
    await mirror.close();
    await Deno.remove(home.root, { recursive: true });
  }
});
