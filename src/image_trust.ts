/**
 * What makes an image trusted beyond its checksum: the vendor's OpenPGP signature over the
 * checksum file (detached or clear-signed) or over the image itself, checked against the
 * provider's keys plus any the user trusts in config.yaml. A vendor that publishes no signature
 * gets checksum-only verification, and the cache records which one happened.
 *
 * `cubic pull` (through the cache) and `cubic show` believe a checksum file by the same code
 * path: {@linkcode trustedKeysFor} picks the keys and {@linkcode verifiedChecksum} fetches the
 * file as bytes, checks its signature over exactly those bytes and only then reads the digest.
 */
import { expectedDigest } from "./checksum.ts";
import { configuredKeys, type CubicConfig, mirrorEnvName, trustedExtraKeys } from "./config.ts";
import { ExitCode, UserError } from "./errors.ts";
import {
  DeadlineExceeded,
  fetchBytes,
  HttpError,
  NetworkError,
  redactUrl,
  RedirectError,
  ResponseTooLarge,
  type TransferSettings,
  transferSettings,
} from "./http.ts";
import type { ImageRef, Provider } from "./provider.ts";
import { verifyClearSigned, verifyDetached, type VerifyOptions } from "./signature.ts";

/** Fetches a small file's exact bytes, as {@linkcode fetchBytes} does (tests may pass another). */
export type FetchBytes = typeof fetchBytes;

/** How signature and checksum files are fetched. */
export interface TrustFetchOptions {
  /** Stall timeout and retry policy; defaults from the environment. */
  transfer?: Partial<TransferSettings>;
  /** Default: {@linkcode fetchBytes} (capped, retried, with a deadline). */
  fetchBytes?: FetchBytes;
}

/** How an image was vouched for, as recorded in the cache. */
export type TrustRecord =
  | { kind: "checksum-only" }
  | { kind: "signature"; over: "checksum" | "image"; signer: string; signatureUrl: string };

/** The OpenPGP keys trusted for one image. */
export interface TrustedKeys {
  /** Armoured public keys: those built into Cubic for the release or vendor, then config.yaml's. */
  keys: readonly string[];
  /** How many of `keys` come from config.yaml's `keys:`. */
  fromConfig: number;
}

/** The largest signature file Cubic reads: 1 MiB (real ones are well under 10 KiB). */
export const MAX_SIGNATURE_BYTES = 1024 * 1024;

/** Vendors already warned about unused config.yaml keys, per configuration. */
const warnedUnused = new WeakMap<CubicConfig, Set<string>>();

/**
 * The keys that may vouch for `ref`: the release's own (`ref.keys`) or else its provider's, plus
 * the extra keys config.yaml trusts for the provider. `warning` is set, the first time only for a
 * configuration and vendor, when config.yaml lists keys for a vendor whose image carries no
 * signature to check them against (they are then not read at all).
 */
export async function trustedKeysFor(
  ref: ImageRef,
  options: { providers: readonly Provider[]; config: CubicConfig },
): Promise<TrustedKeys & { warning?: string }> {
  const provider = options.providers.find((p) => p.id === ref.vendor);
  if (provider === undefined) throw new TypeError(`no provider for vendor '${ref.vendor}'`);
  const builtIn = ref.keys ?? provider.keys;
  if (ref.signature === undefined) {
    const listed = configuredKeys(options.config, provider.id);
    const warned = warnedUnused.get(options.config) ?? new Set<string>();
    warnedUnused.set(options.config, warned);
    if (listed.length === 0 || warned.has(provider.id)) return { keys: builtIn, fromConfig: 0 };
    warned.add(provider.id);
    return {
      keys: builtIn,
      fromConfig: 0,
      warning: `keys for ${provider.id} are not used: ${provider.displayName} publishes no ` +
        "signature for this image, so only its checksum is verified (see 'keys:' in config.yaml)",
    };
  }
  const extra = await trustedExtraKeys(options.config, provider.id);
  return { keys: [...builtIn, ...extra], fromConfig: extra.length };
}

/** Options for {@linkcode verifiedChecksum}. */
export interface VerifiedChecksumOptions extends TrustFetchOptions {
  keys: TrustedKeys;
}

/** The digest a checksum file vouches for, once it is believed. */
export interface VerifiedChecksum {
  /** The image's digest (lower-case hex, `ref.algorithm`). */
  digest: string;
  /**
   * How the checksum file was vouched for; `undefined` when the vendor signs the image itself,
   * which can only be checked once it is downloaded ({@linkcode verifyImageSignature}).
   */
  trust: TrustRecord | undefined;
}

/**
 * Fetches `ref`'s checksum file, verifies its signature where the vendor signs it (over the exact
 * bytes received) and returns the digest it lists for the image. Signature failures are
 * `UserError`s with exit code 3.
 */
export async function verifiedChecksum(
  ref: ImageRef,
  options: VerifiedChecksumOptions,
): Promise<VerifiedChecksum> {
  const fetch = options.fetchBytes ?? fetchBytes;
  const bytes = await fetch(ref.checksumUrl, { transfer: options.transfer ?? {} });
  const signed = await trustedChecksumText(ref, bytes, options.keys, options);
  const digest = expectedDigest(signed.text, ref.fileName, {
    algorithm: ref.algorithm,
    source: redactUrl(ref.checksumUrl),
  });
  return { digest, trust: signed.trust };
}

/**
 * Checks the signature that covers the checksum file (if the vendor signs it that way) and
 * returns the text to take digests from: for a clear-signed file only the signed part. A
 * detached signature is checked over `checksum` exactly as received (a byte-order mark or bytes
 * that are not UTF-8 included); only then is it decoded.
 */
export async function trustedChecksumText(
  ref: ImageRef,
  checksum: Uint8Array,
  keys: TrustedKeys,
  options: TrustFetchOptions = {},
): Promise<{ text: string; trust: TrustRecord | undefined }> {
  const text = new TextDecoder().decode(checksum);
  const signature = ref.signature;
  if (signature === undefined) return { text, trust: { kind: "checksum-only" } };
  requireKeys(ref, keys);
  const verify = verifyOptions(ref, keys, redactUrl(ref.checksumUrl));
  if (signature.kind === "clearsigned") {
    // OpenPGP canonicalises clear-signed text, so the decoded text is what was signed.
    const result = await verifyClearSigned(text, keys.keys, verify);
    return {
      text: result.text,
      trust: {
        kind: "signature",
        over: "checksum",
        signer: result.signerFingerprint,
        signatureUrl: ref.checksumUrl,
      },
    };
  }
  if (signature.over === "checksum") {
    const what = new URL(ref.checksumUrl).pathname.split("/").at(-1) ?? ref.checksumUrl;
    const sig = await fetchSignature(ref, { url: signature.url, what }, options);
    const result = await verifyDetached(checksum, sig, keys.keys, verify);
    return {
      text,
      trust: {
        kind: "signature",
        over: "checksum",
        signer: result.signerFingerprint,
        signatureUrl: signature.url,
      },
    };
  }
  return { text, trust: undefined }; // signed over the image: checked after download
}

/** Checks a detached signature over the downloaded image file, when the vendor signs images. */
export async function verifyImageSignature(
  ref: ImageRef,
  path: string,
  keys: TrustedKeys,
  options: TrustFetchOptions = {},
): Promise<TrustRecord | undefined> {
  const signature = ref.signature;
  if (signature?.kind !== "detached" || signature.over !== "image") return undefined;
  requireKeys(ref, keys);
  const sig = await fetchSignature(ref, { url: signature.url, what: ref.fileName }, options);
  const file = await Deno.open(path, { read: true });
  let result;
  try {
    result = await verifyDetached(
      file.readable,
      sig,
      keys.keys,
      verifyOptions(ref, keys, ref.fileName),
    );
  } finally {
    // A fully read stream has closed the file already; one rejected early may not have.
    try {
      file.close();
    } catch {
      // already closed
    }
  }
  return {
    kind: "signature",
    over: "image",
    signer: result.signerFingerprint,
    signatureUrl: signature.url,
  };
}

/**
 * Fetching a signature file failed for a reason other than the signature itself: the network,
 * the mirror's status, a redirect. `transient` says whether trying again later may succeed.
 */
export class SignatureFetchError extends UserError {
  /** The signature's URL (credential-free). */
  readonly url: string;
  readonly transient: boolean;
  constructor(
    ref: ImageRef,
    signature: { url: string; what: string },
    error: UserError,
    attempts: number,
  ) {
    const url = signature.url;
    const retried = (error instanceof NetworkError && error.answered) ||
      (error instanceof HttpError && error.transient);
    const reason = error instanceof HttpError || error instanceof NetworkError ||
        error instanceof DeadlineExceeded || error instanceof RedirectError
      ? error.reason
      : error.message;
    const transient = error instanceof NetworkError || error instanceof DeadlineExceeded ||
      (error instanceof HttpError && error.transient);
    const pull = `cubic pull ${ref.vendor}:${ref.names[0] ?? ""}:${ref.arch}`;
    super(
      `Fetching the signature '${redactUrl(url)}' of '${signature.what}' failed${
        retried ? ` after ${attempts} attempt${attempts === 1 ? "" : "s"}` : ""
      }: ${reason}`,
      {
        cause: error,
        code: "SignatureFetchFailed",
        hint: transient
          ? `Run \`${pull}\` to try again, or use another mirror with ${
            mirrorEnvName(ref.vendor)
          }; nothing was cached`
          : `${error.hint ?? "Use another mirror"}; nothing was cached`,
      },
    );
    this.url = redactUrl(url);
    this.transient = transient;
  }
}

/** The signature at `url` over `what` (a file name), as bytes. */
async function fetchSignature(
  ref: ImageRef,
  signature: { url: string; what: string },
  options: TrustFetchOptions,
): Promise<Uint8Array> {
  const url = signature.url;
  const transfer = options.transfer ?? {};
  try {
    // A signature is a few KiB: cap it so a hostile mirror cannot make Cubic buffer gigabytes.
    return await (options.fetchBytes ?? fetchBytes)(url, {
      maxBytes: MAX_SIGNATURE_BYTES,
      transfer,
    });
  } catch (error) {
    const name = `${ref.vendor}:${ref.names[0]}`;
    if (error instanceof HttpError && error.status === 404) {
      throw new UserError(
        `Verifying ${name} failed: the vendor signs it, but the mirror has no signature at ${
          redactUrl(url)
        }`,
        {
          code: "SignatureMissing",
          exitCode: ExitCode.verification,
          hint:
            "A mirror must publish the vendor's signature file; use the vendor's mirror or one that copies it. Nothing was cached",
        },
      );
    }
    if (error instanceof ResponseTooLarge) {
      throw new UserError(
        `Verifying ${name} failed: the signature at ${
          redactUrl(url)
        } is larger than 1 MiB, and a real one is a few KiB`,
        {
          cause: error,
          code: "SignatureTooLarge",
          exitCode: ExitCode.verification,
          hint:
            "The mirror serves something else as the signature; nothing was cached. Use the vendor's mirror or one that copies its files",
        },
      );
    }
    if (
      error instanceof HttpError || error instanceof NetworkError ||
      error instanceof DeadlineExceeded || error instanceof RedirectError
    ) {
      const attempts = { ...transferSettings(Deno.env.toObject()), ...transfer }.attempts;
      throw new SignatureFetchError(ref, signature, error, attempts);
    }
    throw error;
  }
}

function verifyOptions(ref: ImageRef, keys: TrustedKeys, what: string): VerifyOptions {
  return { what, configKeys: { vendor: ref.vendor, count: keys.fromConfig } };
}

function requireKeys(ref: ImageRef, keys: TrustedKeys): void {
  if (keys.keys.length > 0) return;
  throw new UserError(
    `Verifying ${ref.vendor}:${ref.names[0]} failed: no trusted key for its signature`,
    {
      code: "SignatureUntrusted",
      exitCode: ExitCode.verification,
      hint: `Add the signer's public key under 'keys: { ${ref.vendor}: [...] }' in config.yaml`,
    },
  );
}
