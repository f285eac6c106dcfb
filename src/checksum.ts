/**
 * Checksum files as vendors publish them: GNU (`hash  file`, `hash *file`), BSD
 * (`SHA256 (file) = hash`), wrapped in an OpenPGP clear-signature or not, with comments, CRLF
 * line ends and upper-case hex. Parsing is pure; streaming digests live here too.
 */
import { createHash, type Hash } from "node:crypto";
import { ExitCode, UserError } from "./errors.ts";
import type { HashAlgorithm } from "./provider.ts";

/** One `digest file` statement of a checksum file. */
export interface ChecksumEntry {
  file: string;
  /** Lower-case hex. */
  digest: string;
  /** Set when the line names it (BSD style) or its length implies it. */
  algorithm: HashAlgorithm | undefined;
}

const HEX_LENGTH: Readonly<Record<HashAlgorithm, number>> = { sha256: 64, sha512: 128 };

/** Removes an OpenPGP clear-signature wrapper, undoing dash-escaping (pure). */
export function stripClearSignature(text: string): string {
  const lines = text.split(/\r?\n/);
  const begin = lines.findIndex((l) => l.trim() === "-----BEGIN PGP SIGNED MESSAGE-----");
  if (begin < 0) return text;
  let i = begin + 1;
  while (i < lines.length && lines[i]!.trim() !== "") i++; // armour headers ("Hash: SHA256")
  const body: string[] = [];
  for (i++; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "-----BEGIN PGP SIGNATURE-----") break;
    body.push(line.startsWith("- ") ? line.slice(2) : line);
  }
  return body.join("\n");
}

/** Parses every checksum statement of a checksum file; unknown lines are ignored (pure). */
export function parseChecksums(text: string): ChecksumEntry[] {
  const entries: ChecksumEntry[] = [];
  for (const raw of stripClearSignature(text).split(/\r?\n/)) {
    const line = raw.replace(/\r$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const bsd = /^(SHA256|SHA512|SHA-256|SHA-512)\s*\((.+)\)\s*=\s*([0-9a-fA-F]+)$/i.exec(line);
    if (bsd) {
      const algorithm = bsd[1]!.toLowerCase().replace("-", "") as HashAlgorithm;
      entries.push({ file: bsd[2]!, digest: bsd[3]!.toLowerCase(), algorithm });
      continue;
    }
    const gnu = /^([0-9a-fA-F]{32,})\s[ *]?(.+)$/.exec(line);
    if (gnu) {
      const digest = gnu[1]!.toLowerCase();
      const algorithm = digest.length === 64
        ? "sha256"
        : digest.length === 128
        ? "sha512"
        : undefined;
      entries.push({ file: gnu[2]!.replace(/^\.\//, ""), digest, algorithm });
    }
  }
  return entries;
}

/**
 * The expected digest of `fileName` from a checksum file. Exact file-name match; "not listed"
 * and "listed twice with different digests" are distinct errors.
 */
export function expectedDigest(
  text: string,
  fileName: string,
  options: { algorithm: HashAlgorithm; source?: string },
): string {
  const source = options.source ?? "the checksum file";
  const matches = parseChecksums(text).filter((e) =>
    e.file === fileName &&
    (e.algorithm === undefined || e.algorithm === options.algorithm)
  );
  const digests = [...new Set(matches.map((m) => m.digest))];
  if (digests.length === 0) {
    throw new UserError(
      `Finding the checksum of '${fileName}' failed: ${source} does not list it`,
      {
        code: "ChecksumNotListed",
        exitCode: ExitCode.verification,
        hint:
          "The mirror may be mid-update or not be the vendor's; try again later or check the mirror URL",
      },
    );
  }
  if (digests.length > 1) {
    throw new UserError(
      `Finding the checksum of '${fileName}' failed: ${source} lists it ${matches.length} times with different digests`,
      {
        code: "ChecksumAmbiguous",
        exitCode: ExitCode.verification,
        hint: "The checksum file is inconsistent; do not use this mirror until it is fixed",
      },
    );
  }
  const digest = digests[0]!;
  if (digest.length !== HEX_LENGTH[options.algorithm]) {
    throw new UserError(
      `Reading the checksum of '${fileName}' failed: expected a ${options.algorithm} digest, found ${digest.length} hex digits`,
      {
        code: "ChecksumMalformed",
        exitCode: ExitCode.verification,
        hint: "The checksum file looks truncated or corrupt",
      },
    );
  }
  return digest;
}

/** A streaming digest (node:crypto). */
export function createDigest(algorithm: HashAlgorithm): Hash {
  return createHash(algorithm);
}
