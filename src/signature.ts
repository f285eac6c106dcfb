/**
 * OpenPGP verification of what vendors sign: detached signatures over checksum files or images
 * (armoured or binary, the data possibly a stream) and clear-signed checksum files. The only
 * module that imports openpgp.
 *
 * Trust is a list of armoured public keys; a signature by one of their subkeys counts. Every
 * failure is a `UserError` with exit code 3 and one of the codes `SignatureInvalid` (the data or
 * the signature was altered), `SignatureUntrusted` (signed by a key that is not trusted),
 * `SignatureMissing` (no signature packet, or an unreadable one), `SignatureWeak` (made with a
 * hash algorithm too weak to trust, such as SHA-1) and `SignatureUnsupported`.
 *
 * Version 3 signature packets: OpenPGP.js dropped them in v4 and v6 has no option to bring them
 * back (its parser turns them into "unparseable" packets and then finds no signature at all).
 * openSUSE still signs its appliance checksums with one (v3, RSA, SHA-512). RFC 4880 says
 * implementations SHOULD accept v3 signatures and RFC 9580 still allows it, so this module
 * checks exactly that case itself: a detached v3 signature over binary data
 * (signature class 0x00), RSA PKCS#1 v1.5 with SHA-256/384/512, by a trusted key that openpgp
 * judges fit to sign at the signature's creation time. Any other v3 (or v2/v5) signature is
 * refused with `SignatureUnsupported`, never accepted.
 */
import * as openpgp from "openpgp";
import { Buffer } from "node:buffer";
import { createPublicKey, createVerify } from "node:crypto";
import { errorMessage, ExitCode, UserError } from "./errors.ts";

/** Who made a verified signature and when. */
export interface SignatureResult {
  /** Fingerprint (upper-case hex) of the key that made the signature: a trusted key or a subkey. */
  signerFingerprint: string;
  /** Fingerprint (upper-case hex) of the trusted primary key the signer belongs to. */
  primaryFingerprint: string;
  /** The signature's creation time, when it carries one. */
  created: Date | undefined;
}

/** Options for {@linkcode verifyDetached} and {@linkcode verifyClearSigned}. */
export interface VerifyOptions {
  /** Names the signed file in error messages, e.g. `SHA256SUMS`. */
  what?: string;
  /**
   * How many of the trusted keys the user added under `keys:` in config.yaml, and for which
   * vendor, so that an untrusted signer's hint names the right place (default: none).
   */
  configKeys?: { vendor: string; count: number };
}

/** The data a detached signature covers. */
export type SignedData = Uint8Array | string | ReadableStream<Uint8Array>;

/**
 * Verifies a detached signature (armoured or binary) over `data` (a string counts as its UTF-8
 * bytes) against trusted keys. A stream is read to its end without being buffered, or cancelled
 * unread when the signature is rejected before any data is needed.
 */
export async function verifyDetached(
  data: SignedData,
  signature: Uint8Array | string,
  keys: readonly string[],
  options: VerifyOptions = {},
): Promise<SignatureResult> {
  const subject = describe(options.what);
  let reading = false;
  try {
    const trusted = await readTrustedKeys(keys);
    const binary = await signatureBytes(signature, subject);
    const parsed = await readSignatureOrMissing(binary, subject);
    const modern = dataSignatures(parsed.packets);
    const legacy = legacyPackets(binary);
    if (modern.some((p) => ownerOf(trusted, p.issuerKeyID)) || legacy.length === 0) {
      requireTrustedSigner(modern, trusted, subject, options);
      reading = true;
      const message = await openpgp.createMessage({ binary: asBinary(data) });
      const result = await openpgp.verify({
        message,
        signature: parsed,
        verificationKeys: trusted,
        format: "binary",
      });
      if (result.data instanceof ReadableStream) await drain(result.data);
      return await settle(result.signatures, trusted, subject);
    }
    const { key, signature: sig } = chooseLegacy(legacy, trusted, modern, subject, options);
    reading = true;
    return await verifyLegacy(data, sig, key, subject);
  } catch (error) {
    if (!reading && data instanceof ReadableStream) await data.cancel(error).catch(() => {});
    throw error;
  }
}

/**
 * Verifies a clear-signed text against trusted keys and returns the signed text, the only part
 * of the file a caller may parse (text outside the signed block is dropped).
 */
export async function verifyClearSigned(
  text: string,
  keys: readonly string[],
  options: VerifyOptions = {},
): Promise<SignatureResult & { text: string }> {
  const subject = describe(options.what);
  const trusted = await readTrustedKeys(keys);
  let message: openpgp.CleartextMessage;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: text });
  } catch (error) {
    throw missing(subject, `it is not a clear-signed OpenPGP message (${reason(error)})`, error);
  }
  // deno-lint-ignore no-explicit-any -- the type omits the parsed signature, which exists
  const packets = (message as any).signature?.packets as openpgp.PacketList<openpgp.AnyPacket>;
  const candidates = dataSignatures(packets);
  if (candidates.length === 0) {
    // deno-lint-ignore no-explicit-any -- see above
    const written = await toBytes((message as any).signature.write());
    const version = legacyPackets(written)[0]?.[0];
    if (version !== undefined) {
      throw unsupported(
        subject,
        `its signature is a version ${version} packet, which Cubic checks only when detached`,
      );
    }
  }
  requireTrustedSigner(candidates, trusted, subject, options);
  const result = await openpgp.verify({ message, verificationKeys: trusted });
  const signer = await settle(result.signatures, trusted, subject);
  return { ...signer, text: result.data };
}

/** Lists the fingerprints (upper-case hex) of an armoured key block: primary keys and subkeys. */
export async function fingerprintsOf(armouredKey: string): Promise<string[]> {
  const keys = await openpgp.readKeys({ armoredKeys: armouredKey });
  return keys.flatMap((key) => key.getKeys().map((k) => k.getFingerprint().toUpperCase()));
}

// ---------------------------------------------------------------------------------------------
// Keys, signatures and outcomes (version 4 and 6 packets, checked by openpgp)

type TrustedKey = openpgp.PublicKey;

/** Parses the trusted keys; they come from provider files, so a broken one is a programming fault. */
async function readTrustedKeys(armoured: readonly string[]): Promise<TrustedKey[]> {
  if (armoured.length === 0) throw new TypeError("verifying a signature needs trusted keys");
  const keys: TrustedKey[] = [];
  for (const [index, block] of armoured.entries()) {
    try {
      for (const key of await openpgp.readKeys({ armoredKeys: block })) {
        keys.push(key.isPrivate() ? key.toPublic() : key);
      }
    } catch (error) {
      throw new Error(`Reading trusted OpenPGP key #${index} failed: ${reason(error)}`, {
        cause: error,
      });
    }
  }
  return keys;
}

/** The signature as packet bytes: binary as given, armoured text unarmoured. */
async function signatureBytes(signature: Uint8Array | string, subject: string) {
  // A binary packet's first octet has its high bit set; anything else should be armour.
  if (signature instanceof Uint8Array && signature.length > 0 && (signature[0]! & 0x80) !== 0) {
    return signature;
  }
  const text = typeof signature === "string" ? signature : new TextDecoder().decode(signature);
  try {
    const { type, data } = await openpgp.unarmor(text);
    if (type !== openpgp.enums.armor.signature) {
      throw new Error(`the armour holds ${openpgp.enums.read(openpgp.enums.armor, type)}`);
    }
    return await toBytes(data);
  } catch (error) {
    throw missing(subject, `it is not an OpenPGP signature (${reason(error)})`, error);
  }
}

async function readSignatureOrMissing(binary: Uint8Array, subject: string) {
  try {
    return await openpgp.readSignature({ binarySignature: binary });
  } catch (error) {
    throw missing(subject, `its signature cannot be read (${reason(error)})`, error);
  }
}

/** Signature packets openpgp parsed that sign data (binary or text), as openpgp verifies them. */
function dataSignatures(packets: readonly openpgp.AnyPacket[] | undefined) {
  const kinds: number[] = [openpgp.enums.signature.binary, openpgp.enums.signature.text];
  return (packets ?? []).filter((p): p is openpgp.SignaturePacket =>
    p instanceof openpgp.SignaturePacket && kinds.includes(p.signatureType ?? -1)
  );
}

function describeIssuer(packet: openpgp.SignaturePacket): string {
  return packet.issuerFingerprint
    ? hex(packet.issuerFingerprint)
    : `key ID ${packet.issuerKeyID.toHex().toUpperCase()}`;
}

/**
 * Fails before any data is read when no signature names a trusted key, or when one by a trusted
 * key uses a hash algorithm openpgp refuses for data (SHA-1, MD5, RIPEMD-160): such a signature
 * proves nothing, whether or not the data was changed.
 */
function requireTrustedSigner(
  packets: readonly openpgp.SignaturePacket[],
  trusted: readonly TrustedKey[],
  subject: string,
  options: VerifyOptions,
): void {
  if (packets.length === 0) throw missing(subject, "it contains no signature over data");
  const mine = packets.filter((p) => ownerOf(trusted, p.issuerKeyID) !== undefined);
  if (mine.length === 0) throw untrusted(subject, packets.map(describeIssuer), trusted, options);
  for (const packet of mine) {
    const hash = packet.hashAlgorithm;
    if (hash !== null && openpgp.config.rejectMessageHashAlgorithms.has(hash)) {
      const owner = ownerOf(trusted, packet.issuerKeyID)!;
      const signer = owner.getKeys(packet.issuerKeyID)[0]!.getFingerprint().toUpperCase();
      throw weak(subject, signer, hashName(hash));
    }
  }
}

function ownerOf(trusted: readonly TrustedKey[], keyID: openpgp.KeyID) {
  return trusted.find((key) => key.getKeys(keyID).length > 0);
}

/**
 * Every signature by a trusted key must verify (one that does not means tampering, even if
 * another verifies); signatures by other keys are ignored. Returns the first trusted signer.
 */
async function settle(
  outcomes: ReadonlyArray<{
    keyID: openpgp.KeyID;
    verified: Promise<true>;
    signature: Promise<openpgp.Signature>;
  }>,
  trusted: readonly TrustedKey[],
  subject: string,
): Promise<SignatureResult> {
  let first: SignatureResult | undefined;
  for (const outcome of outcomes) {
    const owner = ownerOf(trusted, outcome.keyID);
    if (owner === undefined) continue;
    const signer = owner.getKeys(outcome.keyID)[0]!.getFingerprint().toUpperCase();
    try {
      await outcome.verified;
    } catch (error) {
      const insecure = /^Insecure (?:message )?hash algorithm: (\S+)/.exec(reason(error));
      if (insecure) throw weak(subject, signer, insecure[1]!, error);
      throw invalid(subject, signer, reason(error), error);
    }
    const packet = (await outcome.signature).packets[0];
    first ??= {
      signerFingerprint: signer,
      primaryFingerprint: owner.getFingerprint().toUpperCase(),
      created: packet?.created ?? undefined,
    };
  }
  if (first === undefined) throw new Error("no trusted signature was checked"); // guarded earlier
  return first;
}

// ---------------------------------------------------------------------------------------------
// Version 3 signature packets (RFC 4880 §5.2.2), which openpgp no longer reads

interface LegacySignature {
  signatureType: number;
  /** The five hashed octets: signature type and creation time. */
  hashed: Uint8Array;
  created: Date;
  keyID: string;
  publicKeyAlgorithm: number;
  hashAlgorithm: number;
  /** The RSA signature value. */
  value: Uint8Array;
}

const LEGACY_HASHES: ReadonlyMap<number, string> = new Map([
  [openpgp.enums.hash.sha256, "sha256"],
  [openpgp.enums.hash.sha384, "sha384"],
  [openpgp.enums.hash.sha512, "sha512"],
]);
const RSA: readonly number[] = [
  openpgp.enums.publicKey.rsaEncryptSign,
  openpgp.enums.publicKey.rsaSign,
];

/** Bodies of the signature packets openpgp does not read (versions other than 4 and 6). */
function legacyPackets(binary: Uint8Array): Uint8Array[] {
  return (rawPackets(binary) ?? [])
    .filter((p) => p.tag === openpgp.enums.packet.signature && p.body[0] !== 4 && p.body[0] !== 6)
    .map((p) => p.body);
}

/** Reads a v3 packet, or says why Cubic refuses it. */
function readLegacy(body: Uint8Array, subject: string): LegacySignature | UserError {
  if (body[0] !== 3) {
    return unsupported(subject, `its signature packet has version ${body[0] ?? "(none)"}`);
  }
  const sig = parseLegacy(body);
  if (sig === undefined) return missing(subject, "its version 3 signature packet is malformed");
  if (sig.signatureType !== openpgp.enums.signature.binary) {
    const hexClass = sig.signatureType.toString(16).padStart(2, "0");
    return unsupported(
      subject,
      `its version 3 signature has class 0x${hexClass}; only signatures over binary data ` +
        "(0x00) are checked",
    );
  }
  if (!RSA.includes(sig.publicKeyAlgorithm)) {
    return unsupported(
      subject,
      `its version 3 signature uses public-key algorithm ${sig.publicKeyAlgorithm}; only RSA ` +
        "is checked",
    );
  }
  if (!LEGACY_HASHES.has(sig.hashAlgorithm)) {
    return unsupported(
      subject,
      `its version 3 signature uses hash algorithm ${hashName(sig.hashAlgorithm)}, which Cubic ` +
        "does not accept (too weak or unknown); only SHA-256, SHA-384 and SHA-512 are",
    );
  }
  return sig;
}

function parseLegacy(body: Uint8Array): LegacySignature | undefined {
  // version, hashed length (always 5), class, time(4), key ID(8), pk algo, hash algo, left16(2)
  if (body.length < 21 || body[1] !== 5) return undefined;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const bits = view.getUint16(19);
  const value = body.subarray(21);
  if (bits === 0 || value.length !== Math.ceil(bits / 8)) return undefined; // exactly one MPI
  return {
    signatureType: body[2]!,
    hashed: body.subarray(2, 7),
    created: new Date(view.getUint32(3) * 1000),
    keyID: hex(body.subarray(7, 15)),
    publicKeyAlgorithm: body[15]!,
    hashAlgorithm: body[16]!,
    value,
  };
}

/**
 * Picks the first acceptable v3 signature by a trusted key (or its subkey). Without one, the
 * first refusal explains why, else the signers are named as untrusted.
 */
function chooseLegacy(
  bodies: readonly Uint8Array[],
  trusted: readonly TrustedKey[],
  modern: readonly openpgp.SignaturePacket[],
  subject: string,
  options: VerifyOptions,
): { key: LegacyKey; signature: LegacySignature } {
  let refusal: UserError | undefined;
  const signers = modern.map(describeIssuer);
  for (const body of bodies) {
    const sig = readLegacy(body, subject);
    if (sig instanceof UserError) {
      refusal ??= sig;
      continue;
    }
    signers.push(`key ID ${sig.keyID}`);
    for (const owner of trusted) {
      const key = owner.getKeys().find((k) => k.getKeyID().toHex().toUpperCase() === sig.keyID);
      if (key) return { key: { owner, key }, signature: sig };
    }
  }
  throw refusal ?? untrusted(subject, signers, trusted, options);
}

interface LegacyKey {
  owner: TrustedKey;
  key: TrustedKey | openpgp.Subkey;
}

async function verifyLegacy(
  data: SignedData,
  sig: LegacySignature,
  { owner, key }: LegacyKey,
  subject: string,
): Promise<SignatureResult> {
  const signer = key.getFingerprint().toUpperCase();
  // The same checks openpgp makes for newer packets: key able to sign when the signature was made.
  try {
    if (sig.created > new Date()) throw new Error("Signature creation time is in the future");
    if (key.getCreationTime() > sig.created) throw new Error("Key is newer than the signature");
    await owner.getSigningKey(key.getKeyID(), sig.created);
  } catch (error) {
    throw invalid(subject, signer, reason(error), error);
  }
  if (key.keyPacket.algorithm !== sig.publicKeyAlgorithm) {
    throw invalid(subject, signer, "the signature's algorithm does not match the key");
  }
  const { n, e } = key.keyPacket.publicParams as { n: Uint8Array; e: Uint8Array };
  const publicKey = createPublicKey({
    key: {
      kty: "RSA",
      n: Buffer.from(n).toString("base64url"),
      e: Buffer.from(e).toString("base64url"),
    },
    format: "jwk",
  });
  if (sig.value.length > n.length) throw invalid(subject, signer, "the signature is too long");
  const padded = new Uint8Array(n.length);
  padded.set(sig.value, n.length - sig.value.length);
  const verifier = createVerify(LEGACY_HASHES.get(sig.hashAlgorithm)!);
  if (data instanceof ReadableStream) {
    for await (const chunk of data) verifier.update(chunk);
  } else {
    verifier.update(typeof data === "string" ? new TextEncoder().encode(data) : data);
  }
  verifier.update(sig.hashed);
  // The two "left 16 bits" of the digest sit outside the signature, so they prove nothing.
  if (!verifier.verify(publicKey, padded)) {
    throw invalid(subject, signer, "the RSA signature does not match the data");
  }
  return {
    signerFingerprint: signer,
    primaryFingerprint: owner.getFingerprint().toUpperCase(),
    created: sig.created,
  };
}

interface RawPacket {
  tag: number;
  body: Uint8Array;
}

/** Splits packet framing (RFC 4880 §4.2); `undefined` when it is broken or uses partial lengths. */
function rawPackets(bytes: Uint8Array): RawPacket[] | undefined {
  const out: RawPacket[] = [];
  let i = 0;
  while (i < bytes.length) {
    const ctb = bytes[i++]!;
    if ((ctb & 0x80) === 0) return undefined;
    let tag: number;
    let length: number;
    if ((ctb & 0x40) === 0) {
      tag = (ctb >> 2) & 0x0f;
      const size = [1, 2, 4, 0][ctb & 3]!;
      if (size === 0) length = bytes.length - i;
      else {
        if (i + size > bytes.length) return undefined;
        length = 0;
        for (let k = 0; k < size; k++) length = length * 256 + bytes[i++]!;
      }
    } else {
      tag = ctb & 0x3f;
      const first = bytes[i++];
      if (first === undefined) return undefined;
      if (first < 192) length = first;
      else if (first < 224) {
        const second = bytes[i++];
        if (second === undefined) return undefined;
        length = ((first - 192) << 8) + second + 192;
      } else if (first === 255) {
        if (i + 4 > bytes.length) return undefined;
        length = new DataView(bytes.buffer, bytes.byteOffset + i, 4).getUint32(0);
        i += 4;
      } else return undefined;
    }
    if (i + length > bytes.length) return undefined;
    out.push({ tag, body: bytes.subarray(i, i + length) });
    i += length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Small helpers and errors

function asBinary(data: SignedData): Uint8Array | ReadableStream<Uint8Array> {
  return typeof data === "string" ? new TextEncoder().encode(data) : data;
}

async function drain(stream: ReadableStream<unknown>): Promise<void> {
  const reader = stream.getReader();
  try {
    while (!(await reader.read()).done) { /* openpgp hashes each chunk as it passes */ }
  } finally {
    reader.releaseLock();
  }
}

async function toBytes(
  data: Uint8Array | ReadableStream<Uint8Array> | unknown,
): Promise<Uint8Array> {
  if (data instanceof Uint8Array) return data;
  return new Uint8Array(await new Response(data as ReadableStream<Uint8Array>).arrayBuffer());
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
}

function hashName(id: number): string {
  try {
    return openpgp.enums.read(openpgp.enums.hash, id).toUpperCase();
  } catch {
    return String(id);
  }
}

function describe(what: string | undefined): string {
  return what === undefined ? "the signed data" : `"${what}"`;
}

function reason(error: unknown): string {
  const text = errorMessage(error);
  return text.replace(/^Error (verifying signed message|reading \w+): /, "");
}

function fail(code: string, message: string, hint: string, cause?: unknown): UserError {
  return new UserError(message, {
    code,
    hint,
    exitCode: ExitCode.verification,
    ...(cause === undefined ? {} : { cause }),
  });
}

function missing(subject: string, detail: string, cause?: unknown): UserError {
  return fail(
    "SignatureMissing",
    `Reading the OpenPGP signature of ${subject} failed: ${detail}`,
    "The mirror may have served an error page instead of the signature. Try again later with " +
      "`cubic pull <image>`, or use the vendor's official mirror.",
    cause,
  );
}

function unsupported(subject: string, detail: string): UserError {
  return fail(
    "SignatureUnsupported",
    `Verifying the OpenPGP signature of ${subject} failed: ${detail}`,
    "Cubic cannot check this kind of signature and does not use files it cannot check; " +
      "please report it to the Cubic project.",
  );
}

function untrusted(
  subject: string,
  signers: string[],
  trusted: readonly TrustedKey[],
  options: VerifyOptions,
): UserError {
  const known = trusted.map((k) => k.getFingerprint().toUpperCase()).join(", ");
  const configured = options.configKeys;
  const hint = configured !== undefined && configured.count > 0
    ? `Cubic trusts the vendor keys built into it plus the ${configured.count} key(s) under ` +
      `'keys: { ${configured.vendor}: [...] }' in config.yaml, and none of them made this ` +
      "signature. If your mirror re-signs with another key, add that key there; otherwise the " +
      "mirror is not serving the files it should."
    : "Cubic trusts only the vendor keys built into it (and keys added under 'keys:' in " +
      "config.yaml, none here). If the vendor has announced a new signing key, update Cubic; " +
      "otherwise the mirror is not serving the vendor's files.";
  return fail(
    "SignatureUntrusted",
    `Verifying the OpenPGP signature of ${subject} failed: it was made by ${
      [...new Set(signers)].join(", ")
    }, which is not a trusted key (trusted: ${known})`,
    hint,
  );
}

function weak(subject: string, signer: string, algorithm: string, cause?: unknown): UserError {
  return fail(
    "SignatureWeak",
    `Verifying the OpenPGP signature of ${subject} failed: the signature by ${signer} uses the ` +
      `hash algorithm ${algorithm}, which is too weak to prove anything`,
    "A signature made with a broken hash can be forged, so Cubic does not accept it; the signer " +
      "must sign with SHA-256 or stronger. Use the vendor's official mirror, or ask the mirror's " +
      "operator to re-sign.",
    cause,
  );
}

function invalid(subject: string, signer: string, detail: string, cause?: unknown): UserError {
  return fail(
    "SignatureInvalid",
    `Verifying the OpenPGP signature of ${subject} failed: the signature by ${signer} is not ` +
      `valid (${detail})`,
    "The file was changed after the vendor signed it, or the download is damaged. Try again " +
      "with `cubic pull <image>`; if it fails again, use another mirror.",
    cause,
  );
}
