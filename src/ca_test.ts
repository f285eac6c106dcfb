import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { join } from "node:path";
import {
  generateTlsMaterial,
  readClientTls,
  TLS_FILES,
  type TlsMaterial,
  writeTlsDir,
} from "./ca.ts";
import { UserError } from "./errors.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
// DER encodings (tag, length, value) of the extended key usage OIDs.
const SERVER_AUTH_OID = Uint8Array.of(0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01);
const CLIENT_AUTH_OID = Uint8Array.of(0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02);

const material = generateTlsMaterial({ commonName: "web_1@test" });
const other = generateTlsMaterial();

function x509(pem: string): X509Certificate {
  return new X509Certificate(pem);
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

async function hasOpenssl(): Promise<boolean> {
  try {
    return (await new Deno.Command("openssl", { args: ["version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/** Runs openssl with the material written to a temp dir; returns stdout and success. */
async function openssl(args: (dir: string) => string[]): Promise<{ ok: boolean; out: string }> {
  const dir = await Deno.makeTempDir({ prefix: "cubic-ca-test-" });
  try {
    await writeTlsDir(dir, material);
    const output = await new Deno.Command("openssl", { args: args(dir), stderr: "piped" })
      .output();
    const decoder = new TextDecoder();
    return {
      ok: output.success,
      out: decoder.decode(output.stdout) + decoder.decode(output.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the server and client certificates chain to the instance CA and match their keys", () => {
  const ca = x509(material.caCert);
  const server = x509(material.serverCert);
  const client = x509(material.clientCert);

  assert.equal(ca.ca, true);
  assert.equal(ca.checkIssued(ca), true, "the CA is self-signed");
  assert.equal(ca.verify(ca.publicKey), true);
  for (const leaf of [server, client]) {
    assert.equal(leaf.ca, false);
    assert.equal(leaf.checkIssued(ca), true);
    assert.equal(leaf.verify(ca.publicKey), true);
  }
  assert.equal(server.checkPrivateKey(createPrivateKey(material.serverKey)), true);
  assert.equal(client.checkPrivateKey(createPrivateKey(material.clientKey)), true);
  assert.match(material.serverKey, /^-----BEGIN PRIVATE KEY-----/);
  assert.match(material.clientKey, /^-----BEGIN PRIVATE KEY-----/);
});

Deno.test("the CA's private key is neither returned nor reused for a leaf", () => {
  assert.deepEqual(Object.keys(material).sort(), [
    "caCert",
    "clientCert",
    "clientKey",
    "serverCert",
    "serverKey",
  ]);
  const ca = x509(material.caCert);
  assert.equal(ca.checkPrivateKey(createPrivateKey(material.serverKey)), false);
  assert.equal(ca.checkPrivateKey(createPrivateKey(material.clientKey)), false);
});

Deno.test("the certificates carry the key usages and names GnuTLS and rustls require", () => {
  const ca = x509(material.caCert);
  const server = x509(material.serverCert);
  const client = x509(material.clientCert);

  assert.deepEqual(ca.keyUsage, ["KeyCertSign", "CRLSign"]);
  assert.deepEqual(server.keyUsage, ["DigitalSignature", "KeyEncipherment"]);
  assert.deepEqual(client.keyUsage, ["DigitalSignature", "KeyEncipherment"]);
  assert.equal(server.subjectAltName, "IP Address:127.0.0.1, DNS:localhost");
  assert.equal(server.checkIP("127.0.0.1"), "127.0.0.1");
  assert.equal(client.subjectAltName, undefined);

  assert.equal(contains(server.raw, SERVER_AUTH_OID), true, "server has serverAuth");
  assert.equal(contains(server.raw, CLIENT_AUTH_OID), false, "server lacks clientAuth");
  assert.equal(contains(client.raw, CLIENT_AUTH_OID), true, "client has clientAuth");
  assert.equal(contains(client.raw, SERVER_AUTH_OID), false, "client lacks serverAuth");
});

Deno.test("openssl reads the extensions and verifies each certificate for its purpose only", async (t) => {
  if (!(await hasOpenssl())) {
    console.warn("openssl not installed: skipped; the DER checks above still ran");
    return;
  }
  const text = async (file: string) =>
    (await openssl((dir) => ["x509", "-noout", "-text", "-in", join(dir, file)])).out;

  await t.step("the CA is a critical CA:TRUE that may only sign", async () => {
    const out = await text(TLS_FILES.caCert);
    assert.match(out, /Basic Constraints: critical\s+CA:TRUE/);
    assert.match(out, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(out, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(out, /Public-Key: \(2048 bit\)/);
  });
  await t.step("the server certificate is for TLS servers at 127.0.0.1 and localhost", async () => {
    const out = await text(TLS_FILES.serverCert);
    assert.match(out, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(out, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(out, /Extended Key Usage: \s+TLS Web Server Authentication\n/);
    assert.match(out, /Subject Alternative Name: \s+IP Address:127\.0\.0\.1, DNS:localhost/);
  });
  await t.step("the client certificate is for TLS clients", async () => {
    const out = await text(TLS_FILES.clientCert);
    assert.match(out, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(out, /Extended Key Usage: \s+TLS Web Client Authentication\n/);
  });
  await t.step("openssl verify accepts each leaf for its own purpose and no other", async () => {
    const verify = (purpose: string, file: string) =>
      openssl((dir) => [
        "verify",
        "-CAfile",
        join(dir, TLS_FILES.caCert),
        "-purpose",
        purpose,
        join(dir, file),
      ]);
    assert.equal((await verify("sslserver", TLS_FILES.serverCert)).ok, true);
    assert.equal((await verify("sslclient", TLS_FILES.clientCert)).ok, true);
    assert.equal((await verify("sslclient", TLS_FILES.serverCert)).ok, false);
    assert.equal((await verify("sslserver", TLS_FILES.clientCert)).ok, false);
  });
});

Deno.test("validity starts a day in the past and lasts the requested number of days", () => {
  const now = Date.now();
  for (const pem of [material.caCert, material.serverCert, material.clientCert]) {
    const cert = x509(pem);
    const from = new Date(cert.validFrom).getTime();
    const to = new Date(cert.validTo).getTime();
    assert.ok(Math.abs(from - (now - DAY_MS)) < 60_000, `validFrom ${cert.validFrom}`);
    assert.ok(Math.abs(to - (now + 3650 * DAY_MS)) < 60_000, `validTo ${cert.validTo}`);
  }
  const short = x509(generateTlsMaterial({ days: 2 }).serverCert);
  assert.ok(Math.abs(new Date(short.validTo).getTime() - (now + 2 * DAY_MS)) < 60_000);
});

Deno.test("the common name appears in every subject, even with characters PrintableString forbids", () => {
  assert.equal(x509(material.caCert).subject, "O=Cubic\nCN=web_1@test CA");
  assert.equal(x509(material.serverCert).subject, "O=Cubic\nCN=web_1@test QEMU");
  assert.equal(x509(material.clientCert).subject, "O=Cubic\nCN=web_1@test client");
  assert.equal(x509(material.serverCert).issuer, x509(material.caCert).subject);
  assert.equal(x509(other.clientCert).subject, "O=Cubic\nCN=cubic client");
});

Deno.test("each generation makes a new CA whose certificates another instance's CA rejects", () => {
  const serials = [material, other].flatMap((m) =>
    [m.caCert, m.serverCert, m.clientCert].map((pem) => x509(pem).serialNumber)
  );
  assert.equal(new Set(serials).size, serials.length, "serials are unique");
  for (const serial of serials) {
    assert.match(serial, /^[4-7][0-9A-F]{31}$/, "128-bit positive serial");
  }
  assert.notEqual(x509(material.caCert).fingerprint256, x509(other.caCert).fingerprint256);
  assert.equal(x509(other.clientCert).verify(x509(material.caCert).publicKey), false);
  assert.equal(x509(material.serverCert).verify(x509(other.caCert).publicKey), false);
});

Deno.test("invalid options are rejected as programming faults", () => {
  assert.throws(() => generateTlsMaterial({ days: 0 }), RangeError);
  assert.throws(() => generateTlsMaterial({ days: 1.5 }), RangeError);
  assert.throws(() => generateTlsMaterial({ commonName: "" }), RangeError);
});

Deno.test("writeTlsDir makes the directory 0700 and every file 0600 under a permissive umask", async () => {
  const parent = await Deno.makeTempDir({ prefix: "cubic-ca-test-" });
  const dir = join(parent, "tls");
  // Simulate a directory and a key left world-readable by an earlier, careless write.
  await Deno.mkdir(dir);
  await Deno.chmod(dir, 0o777);
  await Deno.writeTextFile(join(dir, TLS_FILES.serverKey), "stale");
  await Deno.chmod(join(dir, TLS_FILES.serverKey), 0o666);
  const previous = Deno.umask(0);
  try {
    await writeTlsDir(dir, material);
  } finally {
    Deno.umask(previous);
  }
  try {
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names.sort(), Object.values(TLS_FILES).sort(), "no temporary files remain");
    for (const [field, name] of Object.entries(TLS_FILES)) {
      const path = join(dir, name);
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600, `${name} is 0600`);
      assert.equal(await Deno.readTextFile(path), material[field as keyof TlsMaterial]);
    }
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("writeTlsDir creates a missing directory 0700 under a permissive umask", async () => {
  const parent = await Deno.makeTempDir({ prefix: "cubic-ca-test-" });
  const dir = join(parent, "machines", "web", "tls");
  const previous = Deno.umask(0);
  try {
    await writeTlsDir(dir, material);
  } finally {
    Deno.umask(previous);
  }
  try {
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    for (const name of Object.values(TLS_FILES)) {
      assert.equal((await Deno.stat(join(dir, name))).mode! & 0o777, 0o600, `${name} is 0600`);
    }
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("readClientTls returns the CA certificate and the client's certificate and key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cubic-ca-test-" });
  try {
    await writeTlsDir(dir, material);
    assert.deepEqual(await readClientTls(dir), {
      caCert: material.caCert,
      cert: material.clientCert,
      key: material.clientKey,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readClientTls reports a missing or damaged file as a UserError with a hint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cubic-ca-test-" });
  try {
    await writeTlsDir(dir, material);
    await Deno.remove(join(dir, TLS_FILES.clientKey));
    const missing = await readClientTls(dir).then(() => undefined, (error: unknown) => error);
    assert.ok(missing instanceof UserError);
    assert.match(missing.message, /client-key\.pem/);
    assert.ok(missing.hint && missing.hint.length > 0);
    assert.ok(missing.cause instanceof Deno.errors.NotFound);

    await Deno.writeTextFile(join(dir, TLS_FILES.clientKey), "not a key");
    const damaged = await readClientTls(dir).then(() => undefined, (error: unknown) => error);
    assert.ok(damaged instanceof UserError);
    assert.match(damaged.message, /not PEM/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeTlsDir reports a directory it cannot create as a UserError", async () => {
  const parent = await Deno.makeTempDir({ prefix: "cubic-ca-test-" });
  try {
    const blocker = join(parent, "not-a-directory");
    await Deno.writeTextFile(blocker, "");
    const error = await writeTlsDir(join(blocker, "tls"), material).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(error instanceof UserError, `expected a UserError, got ${error}`);
    assert.match(error.message, /not-a-directory\/tls/);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
