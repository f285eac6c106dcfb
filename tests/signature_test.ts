/**
 * OpenPGP verification on the vendors' real signatures (Ubuntu, Fedora 44, openSUSE Leap 16's v3
 * packet) and on signatures by the fixture TEST keys. The signatures the tests make are made with
 * GnuPG (see support/test_signing_key.ts); Cubic itself never signs and reaches openpgp only
 * through src/signature.ts.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "./support/assert.ts";
import {
  fingerprintsOf,
  verifyClearSigned,
  verifyDetached,
  type VerifyOptions,
} from "../src/signature.ts";
import { ExitCode, UserError } from "../src/errors.ts";
import {
  createTestSigningKey,
  dearmor,
  importFixtureSigningKey,
  type TestSigningKey,
} from "./support/test_signing_key.ts";
import { FIXTURES } from "./support/fixture_fetcher.ts";
import { ALMALINUX_10_KEY, ALMALINUX_9_KEY } from "../providers/keys/almalinux.ts";

const DIR = new URL("./fixtures/signatures/", import.meta.url).pathname;
const bytes = (name: string) => Deno.readFileSync(DIR + name);
const text = (name: string) => Deno.readTextFileSync(DIR + name);

const UBUNTU_FPR = "D2EB44626FDDC30B513D5BB71A5D6C4C7DB87C81";
const FEDORA_FPR = "36F612DCF27F7D1A48A835E4DBFCF71C6D9F90A6";
const OPENSUSE_FPR = "AD485664E901B867051AB15F35A2F86E29B700A4";
const ED25519_FPR = "43565590E42B0522C8A3B4A20C730E568C3F3531";

const UBUNTU_KEY = text(`ubuntu-uec-image-automatic-signing-key-${UBUNTU_FPR}.asc`);
const FEDORA_KEY = text(`fedora-44-${FEDORA_FPR}.asc`);
const OPENSUSE_KEY = text(`opensuse-project-signing-key-${OPENSUSE_FPR}.asc`);
const ED25519_KEY = text(`cubic-fixture-test-key-ed25519-${ED25519_FPR}.asc`);
const ARCH_KEY = text("arch-boxes-1B9A16984A4E8CB448712D2AE0B78BF4326C6F8F.asc");

const FEDORA_CHECKSUM = "Fedora-Cloud-44-1.7-aarch64-CHECKSUM";
const LEAP = "Leap-16.0-Minimal-VM.aarch64-Cloud-Build18.7.qcow2.sha256";
const ARCH_IMAGE = "Arch-Linux-x86_64-cloudimg-20260901.583572.qcow2";
/** The placeholder body the mirror fixtures serve for that image (see `_bodies.json`). */
const ARCH_BODY = `cubic-fixture:${ARCH_IMAGE}`;

/** Asserts a verification failure with the given code, exit code 3 and message fragment. */
async function rejectsWith(
  fn: () => Promise<unknown>,
  code: string,
  includes?: string,
): Promise<UserError> {
  const error = await assertRejects<UserError>(fn, UserError, includes);
  assertEquals(error.code, code);
  assertEquals(error.exitCode, ExitCode.verification);
  return error;
}

function flipByte(data: Uint8Array, index: number): Uint8Array {
  const copy = data.slice();
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

/**
 * Signs (detached, binary) a stream with gpg without buffering it: the stream is written to a
 * temporary file chunk by chunk, which gpg hashes as it reads it, and the file is deleted after.
 */
async function signStream(
  stream: ReadableStream<Uint8Array>,
  key: TestSigningKey,
): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "cubic-signature-test-" });
  try {
    const data = join(dir, "image");
    const file = await Deno.open(data, { write: true, createNew: true });
    await stream.pipeTo(file.writable); // closes the file
    await key.sign(data, { out: join(dir, "image.sig"), mode: "detach-binary" });
    return await Deno.readFile(join(dir, "image.sig"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const MiB = 1024 * 1024;

/** A deterministic stream of `total` MiB in 1 MiB chunks, calling `onPull` before each chunk. */
function patternStream(total: number, onPull: (index: number) => void = () => {}) {
  let index = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      onPull(index);
      if (index === total) return controller.close();
      controller.enqueue(new Uint8Array(MiB).fill((index * 7 + 3) & 0xff));
      index++;
    },
  }, { highWaterMark: 0 });
}

// ---- Ubuntu: armoured detached v4 RSA signature over SHA256SUMS -----------------------------

Deno.test("verifies Ubuntu's real SHA256SUMS.gpg with the Ubuntu key and reports its fingerprint", async () => {
  const result = await verifyDetached(bytes("SHA256SUMS"), bytes("SHA256SUMS.gpg"), [UBUNTU_KEY]);
  assertEquals(result.signerFingerprint, UBUNTU_FPR);
  assertEquals(result.primaryFingerprint, UBUNTU_FPR);
  assertEquals(result.created?.toISOString().slice(0, 10), "2026-07-25");
});

Deno.test("accepts Ubuntu's signature as armoured text and the data as a string", async () => {
  const result = await verifyDetached(text("SHA256SUMS"), text("SHA256SUMS.gpg"), [
    FEDORA_KEY,
    UBUNTU_KEY,
  ]);
  assertEquals(result.signerFingerprint, UBUNTU_FPR);
});

Deno.test("rejects SHA256SUMS with one byte changed as SignatureInvalid", async () => {
  const tampered = flipByte(bytes("SHA256SUMS"), 100);
  const error = await rejectsWith(
    () => verifyDetached(tampered, bytes("SHA256SUMS.gpg"), [UBUNTU_KEY], { what: "SHA256SUMS" }),
    "SignatureInvalid",
    UBUNTU_FPR,
  );
  assertMatch(error.message, /^Verifying the OpenPGP signature of "SHA256SUMS" failed/);
  assert(error.hint);
});

Deno.test("rejects Ubuntu's signature as SignatureUntrusted naming D2EB… when only Fedora's key is trusted", async () => {
  const error = await rejectsWith(
    () => verifyDetached(bytes("SHA256SUMS"), bytes("SHA256SUMS.gpg"), [FEDORA_KEY]),
    "SignatureUntrusted",
    UBUNTU_FPR,
  );
  assertMatch(error.message, new RegExp(`trusted: ${FEDORA_FPR}`));
});

// ---- Fedora: clear-signed v4 text-mode signature -------------------------------------------

Deno.test("verifies Fedora 44's real clear-signed CHECKSUM and returns its BSD lines", async () => {
  const result = await verifyClearSigned(text(FEDORA_CHECKSUM), [FEDORA_KEY], {
    what: FEDORA_CHECKSUM,
  });
  assertEquals(result.signerFingerprint, FEDORA_FPR);
  assert(
    result.text.includes(
      "SHA256 (Fedora-Cloud-Base-Generic-44-1.7.aarch64.qcow2) = " +
        "55c60a3b80d3616a08705afd0459e75fe9f03c54aba7a46e4002a41a72fa0d5b",
    ),
  );
  assert(!result.text.includes("PGP"), "the armour is not part of the verified text");
});

Deno.test("rejects a tampered digest inside Fedora's clear-signed text as SignatureInvalid", async () => {
  const original = text(FEDORA_CHECKSUM);
  const tampered = original.replace(
    "55c60a3b80d3616a08705afd0459e75fe9f03c54aba7a46e4002a41a72fa0d5b",
    "55c60a3b80d3616a08705afd0459e75fe9f03c54aba7a46e4002a41a72fa0d5c",
  );
  assert(tampered !== original);
  await rejectsWith(
    () => verifyClearSigned(tampered, [FEDORA_KEY], { what: FEDORA_CHECKSUM }),
    "SignatureInvalid",
    FEDORA_FPR,
  );
});

Deno.test("rejects Fedora's clear-signed CHECKSUM as SignatureUntrusted when only Ubuntu's key is trusted", async () => {
  await rejectsWith(
    () => verifyClearSigned(text(FEDORA_CHECKSUM), [UBUNTU_KEY]),
    "SignatureUntrusted",
    FEDORA_FPR,
  );
});

Deno.test("returns only the signed text, never lines added around the clear-signed block", async () => {
  const injected = "SHA256 (evil.qcow2) = " + "0".repeat(64);
  const result = await verifyClearSigned(
    `${injected}\n${text(FEDORA_CHECKSUM)}\n${injected}\n`,
    [FEDORA_KEY],
  );
  assert(!result.text.includes("evil.qcow2"));
  assert(result.text.includes("Fedora-Cloud-Base-Generic-44-1.7.aarch64.qcow2"));
});

Deno.test("rejects a plain checksum file passed as clear-signed text as SignatureMissing", async () => {
  await rejectsWith(
    () => verifyClearSigned(text("SHA256SUMS"), [UBUNTU_KEY], { what: "SHA256SUMS" }),
    "SignatureMissing",
    '"SHA256SUMS"',
  );
});

// ---- openSUSE Leap 16: detached v3 RSA SHA-512 signature -----------------------------------

Deno.test("verifies openSUSE's real version 3 signature over its .sha256 file", async () => {
  const result = await verifyDetached(bytes(LEAP), text(`${LEAP}.asc`), [OPENSUSE_KEY]);
  assertEquals(result.signerFingerprint, OPENSUSE_FPR);
  assertEquals(result.primaryFingerprint, OPENSUSE_FPR);
  assertEquals(result.created?.toISOString(), "2026-06-19T05:31:12.000Z");
});

Deno.test("verifies openSUSE's version 3 signature over a streamed .sha256 file", async () => {
  const data = ReadableStream.from([bytes(LEAP).subarray(0, 10), bytes(LEAP).subarray(10)]);
  const result = await verifyDetached(data, bytes(`${LEAP}.asc`), [UBUNTU_KEY, OPENSUSE_KEY]);
  assertEquals(result.signerFingerprint, OPENSUSE_FPR);
});

Deno.test("rejects openSUSE's .sha256 with one byte changed under its version 3 signature", async () => {
  await rejectsWith(
    () => verifyDetached(flipByte(bytes(LEAP), 5), text(`${LEAP}.asc`), [OPENSUSE_KEY]),
    "SignatureInvalid",
    OPENSUSE_FPR,
  );
});

Deno.test("rejects openSUSE's version 3 signature as untrusted when only Ubuntu's key is trusted", async () => {
  await rejectsWith(
    () => verifyDetached(bytes(LEAP), text(`${LEAP}.asc`), [UBUNTU_KEY]),
    "SignatureUntrusted",
    "key ID 35A2F86E29B700A4",
  );
});

/** openSUSE's v3 packet with one field changed (offsets count the 3-octet packet header). */
async function leapSignatureWith(field: "class" | "hash", value: number): Promise<Uint8Array> {
  const packet = await dearmor(text(`${LEAP}.asc`));
  assertEquals([packet[0], packet[3], packet[4]], [0x89, 3, 5]); // old-format tag 2, v3, 5 hashed
  packet[field === "class" ? 5 : 19] = value;
  return packet;
}

Deno.test("refuses a version 3 signature that uses SHA-1 as SignatureUnsupported", async () => {
  await rejectsWith(
    async () => verifyDetached(bytes(LEAP), await leapSignatureWith("hash", 2), [OPENSUSE_KEY]),
    "SignatureUnsupported",
    "SHA1",
  );
});

Deno.test("refuses a version 3 signature over canonical text as SignatureUnsupported", async () => {
  await rejectsWith(
    async () => verifyDetached(bytes(LEAP), await leapSignatureWith("class", 1), [OPENSUSE_KEY]),
    "SignatureUnsupported",
    "0x01",
  );
});

Deno.test("refuses a clear-signed text whose only signature is a version 3 packet as SignatureUnsupported", async () => {
  const clearSigned = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + text(LEAP) +
    text(`${LEAP}.asc`);
  await rejectsWith(
    () => verifyClearSigned(clearSigned, [OPENSUSE_KEY]),
    "SignatureUnsupported",
    "version 3",
  );
});

// ---- AlmaLinux: armoured detached signature over CHECKSUM (fixture signed by the RSA test key) ---

const ALMA_DIR = `${FIXTURES}almalinux/almalinux/9/cloud/x86_64/images/`;
const RSA_FPR = "C5E3929487E8FD38A6962814F8B4E4A51CBD1759";

Deno.test("refuses an AlmaLinux CHECKSUM.asc made by another key as SignatureUntrusted, naming AlmaLinux 9's key", async () => {
  const error = await rejectsWith(
    () =>
      verifyDetached(
        Deno.readFileSync(`${ALMA_DIR}CHECKSUM`),
        Deno.readTextFileSync(`${ALMA_DIR}CHECKSUM.asc`),
        [ALMALINUX_9_KEY, ALMALINUX_10_KEY],
      ),
    "SignatureUntrusted",
    RSA_FPR,
  );
  assertMatch(error.message, /BF18AC2876178908D6E71267D36CB86CB86B3716/);
  assertMatch(error.message, /EE6DB7B98F5BF5EDD9DA0DE5DEE5C11CC2A1E572/);
});

Deno.test("verifies an AlmaLinux CHECKSUM.asc once its signer is trusted beside the AlmaLinux keys", async () => {
  const key = await importFixtureSigningKey(RSA_FPR);
  try {
    const result = await verifyDetached(
      Deno.readFileSync(`${ALMA_DIR}CHECKSUM`),
      Deno.readTextFileSync(`${ALMA_DIR}CHECKSUM.asc`),
      [ALMALINUX_9_KEY, key.publicKey],
    );
    assertEquals(result.signerFingerprint, RSA_FPR);
  } finally {
    await key.remove();
  }
});

// ---- Arch-style binary .sig by the ed25519 test key ----------------------------------------

Deno.test("verifies an Arch-style binary .sig by the ed25519 test key over a synthesized image", async () => {
  const result = await verifyDetached(ARCH_BODY, bytes(`${ARCH_IMAGE}.sig`), [ED25519_KEY], {
    what: ARCH_IMAGE,
  });
  assertEquals(result.signerFingerprint, ED25519_FPR);
});

Deno.test("rejects the Arch-style .sig over a different image body as SignatureInvalid", async () => {
  await rejectsWith(
    () => verifyDetached(ARCH_BODY + "x", bytes(`${ARCH_IMAGE}.sig`), [ED25519_KEY]),
    "SignatureInvalid",
  );
});

Deno.test("treats a signature by a trusted key's signing subkey as trusted and names both keys", async () => {
  const key = await createTestSigningKey("Cubic subkey test", { signingSubkey: true });
  const dir = await Deno.makeTempDir({ prefix: "cubic-signature-test-" });
  try {
    const data = new TextEncoder().encode("signed by a subkey\n");
    await Deno.writeFile(join(dir, "data"), data);
    await key.sign(join(dir, "data"), { out: join(dir, "data.asc"), mode: "detach-armor" });
    const signature = await Deno.readTextFile(join(dir, "data.asc"));
    const [primary, subkey] = await fingerprintsOf(key.publicKey);
    assertEquals([primary, subkey], [key.fingerprint, key.signerFingerprint]);
    assert(primary !== subkey, "gpg signed with the subkey, not the primary key");
    const result = await verifyDetached(data, signature, [ARCH_KEY, key.publicKey]);
    assertEquals(result.primaryFingerprint, primary);
    assertEquals(result.signerFingerprint, subkey);
  } finally {
    await key.remove();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lists the primary and subkey fingerprints of Arch's key for `cubic show`", async () => {
  assertEquals(await fingerprintsOf(ARCH_KEY), [
    "1B9A16984A4E8CB448712D2AE0B78BF4326C6F8F",
    "656E4C5AC1CC3B86E539D97E343635A6859A9174",
  ]);
});

// ---- Streams -------------------------------------------------------------------------------

Deno.test("verifies a detached signature over a streamed 200 MiB image without buffering it", async () => {
  const key = await importFixtureSigningKey(ED25519_FPR);
  let signature: Uint8Array;
  try {
    signature = await signStream(patternStream(200), key);
  } finally {
    await key.remove();
  }
  const isolate = () => {
    const m = Deno.memoryUsage();
    return m.heapUsed + m.external; // this isolate only: parallel test files do not disturb it
  };
  const before = isolate();
  let peak = before;
  const result = await verifyDetached(
    patternStream(200, () => peak = Math.max(peak, isolate())),
    signature,
    [ED25519_KEY],
  );
  assertEquals(result.signerFingerprint, ED25519_FPR);
  // Buffering would hold all 200 MiB; what remains is garbage not yet collected.
  assert(
    peak - before < 128 * MiB,
    `memory grew by ${Math.round((peak - before) / MiB)} MiB while verifying 200 MiB`,
  );

  const changed = patternStream(200);
  const reader = changed.getReader();
  const tampered = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      controller.enqueue(value[0] === 3 ? flipByte(value, MiB - 1) : value); // the first chunk
    },
  });
  await rejectsWith(() => verifyDetached(tampered, signature, [ED25519_KEY]), "SignatureInvalid");
});

Deno.test("cancels a streamed image without reading it when the signer is not trusted", async () => {
  let pulled = 0;
  let cancelled = false;
  const data = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(MiB));
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  await rejectsWith(
    () => verifyDetached(data, bytes(`${ARCH_IMAGE}.sig`), [UBUNTU_KEY]),
    "SignatureUntrusted",
    ED25519_FPR,
  );
  assert(cancelled, "the stream was cancelled");
  assertEquals(pulled, 0);
});

Deno.test("passes a download error from the stream through unchanged", async () => {
  const data = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.error(new TypeError("connection reset"));
    },
  });
  await assertRejects(
    () => verifyDetached(data, bytes(`${ARCH_IMAGE}.sig`), [ED25519_KEY]),
    TypeError,
    "connection reset",
  );
});

// ---- Not a signature -----------------------------------------------------------------------

const garbage: Array<[string, Uint8Array | string]> = [
  ["text", "this is not a signature\n"],
  ["binary bytes", new Uint8Array(64).fill(0xa5)],
  ["an armoured public key", UBUNTU_KEY],
  ["an empty file", new Uint8Array()],
];
for (const [name, signature] of garbage) {
  Deno.test(`rejects ${name} given as the signature as SignatureMissing`, async () => {
    const options: VerifyOptions = { what: "SHA256SUMS" };
    await rejectsWith(
      () => verifyDetached(bytes("SHA256SUMS"), signature, [UBUNTU_KEY], options),
      "SignatureMissing",
      '"SHA256SUMS"',
    );
  });
}
