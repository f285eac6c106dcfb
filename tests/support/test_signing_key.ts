/**
 * An OpenPGP key made for one test run with GnuPG (the real tool, as a mirror operator would
 * use it), to sign a local mirror's checksum files and images. Cubic is told to trust it through
 * config.yaml's `keys`, exactly as a user with a private mirror would. The signature tests also
 * sign with it (a generated key, one with a signing subkey, or an imported TEST-ONLY fixture
 * key), so that no test needs an OpenPGP library of its own.
 */
import { join } from "node:path";

/** A throwaway signing key in its own GnuPG home. */
export interface TestSigningKey {
  /** Armoured public key. */
  publicKey: string;
  /** The primary key's fingerprint. */
  fingerprint: string;
  /** The fingerprint of the key that makes the signatures: the primary key or its signing subkey. */
  signerFingerprint: string;
  /**
   * Writes `<file>.asc`/`.gpg`/`.sig` style signatures or a clear-signed copy, hashing with
   * `digest` (default SHA256; e.g. SHA1 for a signature too weak to trust).
   */
  sign(
    file: string,
    options: {
      out: string;
      mode: "detach-armor" | "detach-binary" | "clearsign";
      digest?: "SHA1" | "SHA256" | "SHA512";
    },
  ): Promise<void>;
  remove(): Promise<void>;
}

/** How to make the key of {@link createTestSigningKey}. */
export interface TestSigningKeyOptions {
  /**
   * Adds an Ed25519 signing subkey (`gpg --quick-add-key <fpr> ed25519 sign`) and signs with it,
   * as vendors that keep their primary key offline do.
   */
  signingSubkey?: boolean;
}

const FIXTURE_SECRET_KEYS = new URL(
  "../fixtures/signatures/TEST-ONLY-fixture-keys.secret.asc",
  import.meta.url,
).pathname;

async function gpg(home: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("gpg", {
    args: [
      "--homedir",
      home,
      "--batch",
      "--yes",
      "--quiet",
      "--pinentry-mode",
      "loopback",
      "--passphrase",
      "",
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `gpg ${args.join(" ")} failed: ${
        new TextDecoder().decode(out.stderr)
      } (apt-get install gnupg)`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

async function gpgHome(): Promise<string> {
  const home = await Deno.makeTempDir({ prefix: "cubic-gpg-" });
  await Deno.chmod(home, 0o700);
  return home;
}

/** Stops the GnuPG home's agent and deletes the home. */
async function removeHome(home: string): Promise<void> {
  await new Deno.Command("gpgconf", {
    args: ["--homedir", home, "--kill", "all"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => {});
  await Deno.remove(home, { recursive: true }).catch(() => {});
}

/** The key in `home` whose primary fingerprint is `fingerprint`, signing as `signer`. */
async function signingKey(
  home: string,
  fingerprint: string,
  signer: string,
): Promise<TestSigningKey> {
  const publicKey = await gpg(home, ["--armor", "--export", fingerprint]);
  return {
    publicKey,
    fingerprint,
    signerFingerprint: signer,
    async sign(file, { out, mode, digest = "SHA256" }) {
      const flags = mode === "clearsign"
        ? ["--clearsign"]
        : mode === "detach-armor"
        ? ["--armor", "--detach-sign"]
        : ["--detach-sign"];
      await gpg(home, [
        "--local-user",
        `${signer}!`, // exactly this key or subkey, not one gpg would pick
        "--digest-algo",
        digest,
        ...flags,
        "--output",
        out,
        file,
      ]);
    },
    async remove() {
      await removeHome(home);
    },
  };
}

/** Fingerprints in a `--with-colons` listing: each `fpr` line after a `pub`/`sub` line. */
function fingerprints(listing: string, kind: "pub" | "sub" | "sec" | "ssb"): string[] {
  const lines = listing.split("\n");
  return lines.flatMap((line, i) =>
    line.startsWith(`${kind}:`) && lines[i + 1]?.startsWith("fpr:")
      ? [lines[i + 1]!.split(":")[9]!]
      : []
  );
}

/** Generates an Ed25519 signing key (optionally with a signing subkey) in a temporary GnuPG home. */
export async function createTestSigningKey(
  name = "Cubic Test Mirror",
  options: TestSigningKeyOptions = {},
): Promise<TestSigningKey> {
  const home = await gpgHome();
  try {
    await gpg(home, [
      "--quick-gen-key",
      `${name} <mirror@cubic.invalid>`,
      "ed25519",
      "sign",
      "never",
    ]);
    const [fingerprint] = fingerprints(await gpg(home, ["--with-colons", "--list-keys"]), "pub");
    if (!fingerprint) throw new Error("gpg --quick-gen-key made no key");
    let signer = fingerprint;
    if (options.signingSubkey) {
      await gpg(home, ["--quick-add-key", fingerprint, "ed25519", "sign", "never"]);
      const listing = await gpg(home, ["--with-colons", "--list-keys", fingerprint]);
      const [subkey] = fingerprints(listing, "sub");
      if (!subkey) throw new Error("gpg --quick-add-key made no subkey");
      signer = subkey;
    }
    return await signingKey(home, fingerprint, signer);
  } catch (error) {
    await removeHome(home);
    throw error;
  }
}

/**
 * Imports the TEST-ONLY fixture secret keys (tests/fixtures/signatures/) into a temporary GnuPG
 * home and signs with the one whose fingerprint is `fingerprint` (its public half is the matching
 * `cubic-fixture-test-key-*.asc`), for signatures the fixture public keys verify.
 */
export async function importFixtureSigningKey(fingerprint: string): Promise<TestSigningKey> {
  const home = await gpgHome();
  try {
    await gpg(home, ["--import", FIXTURE_SECRET_KEYS]);
    const secret = fingerprints(await gpg(home, ["--with-colons", "--list-secret-keys"]), "sec");
    const wanted = fingerprint.toUpperCase();
    if (!secret.includes(wanted)) {
      throw new Error(`the TEST-ONLY fixture secret keys do not include ${wanted}`);
    }
    return await signingKey(home, wanted, wanted);
  } catch (error) {
    await removeHome(home);
    throw error;
  }
}

/** Decodes an ASCII-armoured OpenPGP block to its packets with `gpg --dearmor`. */
export async function dearmor(armoured: string): Promise<Uint8Array> {
  const home = await gpgHome();
  try {
    const child = new Deno.Command("gpg", {
      args: ["--homedir", home, "--batch", "--quiet", "--dearmor"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(armoured));
    await writer.close();
    const out = await child.output();
    if (!out.success) {
      throw new Error(`gpg --dearmor failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    return out.stdout;
  } finally {
    await removeHome(home);
  }
}

/** Writes a config.yaml trusting `publicKey` for the given providers. */
export async function trustKeyInConfig(
  configHome: string,
  providers: string[],
  publicKey: string,
): Promise<void> {
  const dir = join(configHome, "cubic");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "mirror-key.asc"), publicKey);
  const lines = ["keys:", ...providers.map((p) => `  ${p}: ["${join(dir, "mirror-key.asc")}"]`)];
  await Deno.writeTextFile(join(dir, "config.yaml"), lines.join("\n") + "\n");
}
