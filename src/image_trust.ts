/**
 * What makes an image trusted beyond its checksum: the vendor's OpenPGP signature over the
 * checksum file (detached or clear-signed) or over the image itself, checked against the
 * provider's keys plus any the user trusts in config.yaml. A vendor that publishes no signature
 * gets checksum-only verification, and the cache records which one happened.
 */
import { UserError } from "./errors.ts";
import { fetchChecked, HttpError } from "./http.ts";
import type { ImageRef } from "./provider.ts";
import { verifyClearSigned, verifyDetached } from "./signature.ts";

/** How an image was vouched for, as recorded in the cache. */
export type TrustRecord =
  | { kind: "checksum-only" }
  | { kind: "signature"; over: "checksum" | "image"; signer: string; signatureUrl: string };

async function fetchSignature(url: string, ref: ImageRef): Promise<Uint8Array> {
  try {
    const response = await fetchChecked(url);
    return new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) {
      throw new UserError(
        `Verifying ${ref.vendor}:${
          ref.names[0]
        } failed: the vendor signs it, but the mirror has no signature at ${url}`,
        {
          code: "SignatureMissing",
          exitCode: 3,
          hint:
            "A mirror must publish the vendor's signature file; use the vendor's mirror or one that copies it",
        },
      );
    }
    throw error;
  }
}

/**
 * Checks the signature that covers the checksum file (if the vendor signs it that way) and
 * returns the text to take digests from: for a clear-signed file only the signed part.
 */
export async function trustedChecksumText(
  ref: ImageRef,
  checksumText: string,
  keys: readonly string[],
): Promise<{ text: string; trust: TrustRecord | undefined }> {
  const signature = ref.signature;
  if (signature === undefined) return { text: checksumText, trust: { kind: "checksum-only" } };
  if (keys.length === 0) {
    throw new UserError(
      `Verifying ${ref.vendor}:${ref.names[0]} failed: no trusted key for its signature`,
      {
        code: "SignatureUntrusted",
        exitCode: 3,
        hint: `Add the signer's public key under 'keys: { ${ref.vendor}: [...] }' in config.yaml`,
      },
    );
  }
  if (signature.kind === "clearsigned") {
    const result = await verifyClearSigned(checksumText, keys, { what: ref.checksumUrl });
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
    const sig = await fetchSignature(signature.url, ref);
    const result = await verifyDetached(new TextEncoder().encode(checksumText), sig, keys, {
      what: ref.checksumUrl,
    });
    return {
      text: checksumText,
      trust: {
        kind: "signature",
        over: "checksum",
        signer: result.signerFingerprint,
        signatureUrl: signature.url,
      },
    };
  }
  return { text: checksumText, trust: undefined }; // signed over the image: checked after download
}

/** Checks a detached signature over the downloaded image file, when the vendor signs images. */
export async function verifyImageSignature(
  ref: ImageRef,
  path: string,
  keys: readonly string[],
): Promise<TrustRecord | undefined> {
  const signature = ref.signature;
  if (signature?.kind !== "detached" || signature.over !== "image") return undefined;
  requireKeys(ref, keys);
  const sig = await fetchSignature(signature.url, ref);
  const file = await Deno.open(path, { read: true });
  const result = await verifyDetached(file.readable, sig, keys, { what: ref.fileName });
  return {
    kind: "signature",
    over: "image",
    signer: result.signerFingerprint,
    signatureUrl: signature.url,
  };
}

function requireKeys(ref: ImageRef, keys: readonly string[]): void {
  if (keys.length > 0) return;
  throw new UserError(
    `Verifying ${ref.vendor}:${ref.names[0]} failed: no trusted key for its signature`,
    {
      code: "SignatureUntrusted",
      exitCode: 3,
      hint: `Add the signer's public key under 'keys: { ${ref.vendor}: [...] }' in config.yaml`,
    },
  );
}
