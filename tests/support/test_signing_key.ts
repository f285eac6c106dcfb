/**
 * An OpenPGP key made for one test run with GnuPG (the real tool, as a mirror operator would
 * use it), to sign a local mirror's checksum files and images. Cubic is told to trust it through
 * config.yaml's `keys`, exactly as a user with a private mirror would.
 */
import { join } from "node:path";

/** A throwaway signing key in its own GnuPG home. */
export interface TestSigningKey {
  /** Armoured public key. */
  publicKey: string;
  fingerprint: string;
  /** Writes `<file>.asc`/`.gpg`/`.sig` style signatures or a clear-signed copy. */
  sign(
    file: string,
    options: { out: string; mode: "detach-armor" | "detach-binary" | "clearsign" },
  ): Promise<void>;
  remove(): Promise<void>;
}

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

/** Generates an Ed25519 signing key in a temporary GnuPG home. */
export async function createTestSigningKey(name = "Cubic Test Mirror"): Promise<TestSigningKey> {
  const home = await Deno.makeTempDir({ prefix: "cubic-gpg-" });
  await Deno.chmod(home, 0o700);
  await gpg(home, [
    "--quick-gen-key",
    `${name} <mirror@cubic.invalid>`,
    "ed25519",
    "sign",
    "never",
  ]);
  const listing = await gpg(home, ["--with-colons", "--list-keys"]);
  const fingerprint = listing.split("\n").find((l) => l.startsWith("fpr:"))!.split(":")[9]!;
  const publicKey = await gpg(home, ["--armor", "--export", fingerprint]);
  return {
    publicKey,
    fingerprint,
    async sign(file, { out, mode }) {
      const flags = mode === "clearsign"
        ? ["--clearsign"]
        : mode === "detach-armor"
        ? ["--armor", "--detach-sign"]
        : ["--detach-sign"];
      await gpg(home, [
        "--local-user",
        fingerprint,
        "--digest-algo",
        "SHA256",
        ...flags,
        "--output",
        out,
        file,
      ]);
    },
    async remove() {
      await Deno.remove(home, { recursive: true }).catch(() => {});
    },
  };
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
