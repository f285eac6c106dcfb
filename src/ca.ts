/**
 * Per-instance certificate authority: one small CA issues a server certificate for QEMU's QMP and
 * serial chardevs and a client certificate for Cubic, so both ends of every monitor or console
 * connection prove they belong to the same instance. This is the only module importing node-forge.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { join } from "node:path";
// @ts-types="@types/node-forge"
import forge from "node-forge";
import { errorMessage, UserError } from "./errors.ts";

/** PEM-encoded certificates and keys of one instance. The CA's private key is never kept. */
export interface TlsMaterial {
  /** The instance CA's certificate; QEMU and Cubic trust only this. */
  caCert: string;
  /** QEMU's certificate (serverAuth, SAN IP:127.0.0.1 and DNS:localhost). */
  serverCert: string;
  /** QEMU's private key (PKCS#8). */
  serverKey: string;
  /** Cubic's certificate (clientAuth). */
  clientCert: string;
  /** Cubic's private key (PKCS#8). */
  clientKey: string;
}

/** What a client needs to open a mutual-TLS connection to one instance's QEMU. */
export interface ClientTls {
  /** The instance CA's certificate (PEM). */
  caCert: string;
  /** Cubic's client certificate (PEM). */
  cert: string;
  /** Cubic's client private key (PEM). */
  key: string;
}

/** Options for {@linkcode generateTlsMaterial}. */
export interface GenerateTlsOptions {
  /** Names the certificates, usually after the instance; defaults to `cubic`. */
  commonName?: string;
  /** Validity in days from now; defaults to 3650 (about ten years). */
  days?: number;
}

/**
 * File names inside a TLS directory. QEMU's `tls-creds-x509` object reads the first three by these
 * exact names; the client files next to them are ignored by QEMU.
 */
export const TLS_FILES = {
  caCert: "ca-cert.pem",
  serverCert: "server-cert.pem",
  serverKey: "server-key.pem",
  clientCert: "client-cert.pem",
  clientKey: "client-key.pem",
} as const satisfies Record<keyof TlsMaterial, string>;

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_DAYS = 3650;

interface KeyPair {
  forgePrivate: forge.pki.rsa.PrivateKey;
  forgePublic: forge.pki.rsa.PublicKey;
  privatePem: string;
}

/** Generates a fresh CA and issues QEMU's server and Cubic's client certificate with it. */
export function generateTlsMaterial(options: GenerateTlsOptions = {}): TlsMaterial {
  const commonName = options.commonName ?? "cubic";
  const days = options.days ?? DEFAULT_DAYS;
  // X.509 caps a CN at 64 characters; the longest suffix added below is " client".
  if (commonName.length === 0 || commonName.length > 48) {
    throw new RangeError(`commonName must be 1-48 characters, got ${JSON.stringify(commonName)}`);
  }
  if (!Number.isInteger(days) || days < 1) {
    throw new RangeError(`days must be a positive integer, got ${days}`);
  }
  const now = Date.now();
  const validity = { notBefore: new Date(now - DAY_MS), notAfter: new Date(now + days * DAY_MS) };

  const caKeys = rsaKeyPair();
  const ca = forge.pki.createCertificate();
  fill(ca, caKeys.forgePublic, validity);
  ca.setSubject(distinguishedName(`${commonName} CA`));
  ca.setIssuer(ca.subject.attributes);
  ca.setExtensions([
    // pathLen 0: this CA signs two leaves and never another CA.
    { name: "basicConstraints", critical: true, cA: true, pathLenConstraint: 0 },
    { name: "keyUsage", critical: true, keyCertSign: true, cRLSign: true },
    { name: "subjectKeyIdentifier" },
  ]);
  ca.sign(caKeys.forgePrivate, forge.md.sha256.create());
  const caKeyId = ca.generateSubjectKeyIdentifier().getBytes();

  const issue = (cn: string, keys: KeyPair, leafExtensions: object[]): string => {
    const cert = forge.pki.createCertificate();
    fill(cert, keys.forgePublic, validity);
    cert.setSubject(distinguishedName(cn));
    // The CA's own attribute objects keep the issuer bytes identical to the CA's subject, which
    // GnuTLS and rustls compare when they build the chain.
    cert.setIssuer(ca.subject.attributes);
    cert.setExtensions([
      { name: "basicConstraints", critical: true, cA: false },
      // QEMU (GnuTLS) rejects a critical keyUsage without keyEncipherment, even on client certs.
      { name: "keyUsage", critical: true, digitalSignature: true, keyEncipherment: true },
      ...leafExtensions,
      { name: "subjectKeyIdentifier" },
      { name: "authorityKeyIdentifier", keyIdentifier: caKeyId },
    ]);
    cert.sign(caKeys.forgePrivate, forge.md.sha256.create());
    return forge.pki.certificateToPem(cert);
  };

  const serverKeys = rsaKeyPair();
  const serverCert = issue(`${commonName} QEMU`, serverKeys, [
    { name: "extKeyUsage", serverAuth: true },
    // rustls checks the IP SAN against the address we dial and ignores the CN.
    {
      name: "subjectAltName",
      altNames: [{ type: 7, ip: "127.0.0.1" }, { type: 2, value: "localhost" }],
    },
  ]);
  const clientKeys = rsaKeyPair();
  const clientCert = issue(`${commonName} client`, clientKeys, [
    { name: "extKeyUsage", clientAuth: true },
  ]);

  return {
    caCert: forge.pki.certificateToPem(ca),
    serverCert,
    serverKey: serverKeys.privatePem,
    clientCert,
    clientKey: clientKeys.privatePem,
  };
}

/**
 * Writes the material into `dir` (created 0700) as five 0600 files, whatever the umask.
 *
 * Each file is written to a temporary name, synced and renamed, so a crash never leaves a
 * truncated PEM; `ca-cert.pem` is renamed last, so on a first write its presence means the set
 * is complete.
 */
export async function writeTlsDir(dir: string, material: TlsMaterial): Promise<void> {
  // ca-cert.pem goes last: see the JSDoc.
  const order: (keyof TlsMaterial)[] = [
    "serverKey",
    "serverCert",
    "clientKey",
    "clientCert",
    "caCert",
  ];
  const staged: { temp: string; final: string }[] = [];
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is filtered by the umask and ignored for an existing directory.
    await Deno.chmod(dir, 0o700);
    for (const field of order) {
      const final = join(dir, TLS_FILES[field]);
      const temp = join(dir, `.${TLS_FILES[field]}.${randomBytes(6).toString("hex")}.tmp`);
      staged.push({ temp, final });
      await writePrivateFile(temp, material[field]);
    }
    for (const { temp, final } of staged) await Deno.rename(temp, final);
  } catch (error) {
    for (const { temp } of staged) await Deno.remove(temp).catch(() => {});
    throw new UserError(`Writing TLS certificates to "${dir}" failed: ${errorMessage(error)}`, {
      hint: `Check that "${dir}" is writable and the disk is not full, then retry.`,
      cause: error,
    });
  }
  await syncDir(dir);
}

/** Reads Cubic's client certificate, key and the CA certificate from a TLS directory. */
export async function readClientTls(dir: string): Promise<ClientTls> {
  const read = async (name: string): Promise<string> => {
    const path = join(dir, name);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      throw new UserError(`Reading "${path}" failed: ${errorMessage(error)}`, {
        hint: error instanceof Deno.errors.NotFound
          ? "The instance's TLS certificates are missing; recreate the instance with " +
            "`cubic delete <name>` and `cubic create`."
          : `Check the permissions of "${dir}"; it should belong to you with mode 0700.`,
        cause: error,
      });
    }
    if (!text.includes("-----BEGIN ")) {
      throw new UserError(`Reading "${path}" failed: the file is not PEM`, {
        hint: "The instance's TLS certificates are damaged; recreate the instance with " +
          "`cubic delete <name>` and `cubic create`.",
      });
    }
    return text;
  };
  const [caCert, cert, key] = await Promise.all([
    read(TLS_FILES.caCert),
    read(TLS_FILES.clientCert),
    read(TLS_FILES.clientKey),
  ]);
  return { caCert, cert, key };
}

/** RSA-2048 from node:crypto: native keygen is fast, forge's pure-JS keygen takes seconds. */
function rsaKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  const forgePrivate = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  const forgePublic = forge.pki.setRsaPublicKey(forgePrivate.n, forgePrivate.e);
  return { forgePrivate, forgePublic, privatePem: privateKey };
}

function fill(
  cert: forge.pki.Certificate,
  publicKey: forge.pki.rsa.PublicKey,
  validity: { notBefore: Date; notAfter: Date },
): void {
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = validity.notBefore;
  cert.validity.notAfter = validity.notAfter;
}

/** 128 random bits as a positive, minimally encoded DER INTEGER (first byte 0x40-0x7f). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString("hex");
}

function distinguishedName(commonName: string): forge.pki.CertificateField[] {
  // UTF8String rather than forge's default PrintableString, which cannot hold "_" or "@".
  // @types/node-forge types valueTagClass as asn1.Class, but forge reads it as an asn1.Type.
  const utf8 = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;
  return [
    { shortName: "O", value: "Cubic", valueTagClass: utf8 },
    { shortName: "CN", value: commonName, valueTagClass: utf8 },
  ];
}

async function writePrivateFile(path: string, text: string): Promise<void> {
  const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  try {
    // The create mode is filtered by the umask; chmod makes 0600 exact.
    await Deno.chmod(path, 0o600);
    const bytes = new TextEncoder().encode(text);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
}

/** Makes the renames durable; best effort, since not every filesystem can sync a directory. */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  } catch {
    // A missing directory fsync only weakens durability after a power cut, not correctness.
  }
}
