/**
 * Checks that text a user gives as a trusted OpenPGP key (in config.yaml's `keys`, or a provider
 * file's `keys`) is an armoured public key block that OpenPGP can read. A wrong file — a binary
 * `gpg --export`, a private key, `/etc/hostname` — is then a clear error naming where it was
 * configured, instead of a failure deep inside signature verification.
 */
import { errorMessage } from "./errors.ts";
import { fingerprintsOf } from "./signature.ts";

const BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const END = "-----END PGP PUBLIC KEY BLOCK-----";

/** Whether `text` looks like an armoured public key at all (pure): a path, if not. */
export function looksArmoured(text: string): boolean {
  return text.includes(BEGIN);
}

/** Why `text` is not a usable armoured OpenPGP public key block, or `undefined` when it is. */
export async function publicKeyProblem(text: string): Promise<string | undefined> {
  if (text.includes("-----BEGIN PGP PRIVATE KEY BLOCK-----")) {
    return "it is a private key block, not a public key";
  }
  if (!text.includes(BEGIN)) {
    // deno-lint-ignore no-control-regex
    const binary = /[\u0000\ufffd]/.test(text);
    return binary
      ? "it is binary, not an armoured OpenPGP public key"
      : `it is not an armoured OpenPGP public key (no '${BEGIN}' line)`;
  }
  if (!text.includes(END)) return `its armour is cut short (no '${END}' line)`;
  let fingerprints: string[];
  try {
    fingerprints = await fingerprintsOf(text);
  } catch (error) {
    const reason = errorMessage(error).split("\n")[0];
    return `OpenPGP cannot read the key in it (${reason})`;
  }
  return fingerprints.length === 0 ? "it holds no key" : undefined;
}
