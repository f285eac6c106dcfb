import { assertEquals, assertThrows } from "../support/assert.ts";
import { expectedDigest, parseChecksums, stripClearSignature } from "../../src/checksum.ts";
import { ExitCode, UserError } from "../../src/errors.ts";

const DIR = new URL("../fixtures/checksums/", import.meta.url).pathname;
const read = (name: string) => Deno.readTextFileSync(DIR + name);
const A64 = "a".repeat(64);
const B64 = "b".repeat(64);

Deno.test("finds a GNU '*file' entry in Ubuntu's real multi-arch SHA256SUMS", () => {
  const digest = expectedDigest(
    read("ubuntu-noble-SHA256SUMS"),
    "ubuntu-24.04-server-cloudimg-amd64.img",
    {
      algorithm: "sha256",
    },
  );
  assertEquals(digest, "d1940f7d69d343355e183dff1e08a59852d32e7309baa7a4bad8365b11b005ac");
});

Deno.test("finds a BSD entry inside Fedora's real clear-signed CHECKSUM and ignores its comments", () => {
  const digest = expectedDigest(
    read("fedora-44-x86_64-CHECKSUM"),
    "Fedora-Cloud-Base-Generic-44-1.7.x86_64.qcow2",
    {
      algorithm: "sha256",
    },
  );
  assertEquals(digest, "883d8a1a98417f070fedeced65f3773abb609a15decf2397487f584d32306708");
});

Deno.test("reads Arch's single-line .SHA256 file", () => {
  const text = read("Arch-Linux-x86_64-cloudimg.qcow2.SHA256");
  const digest = expectedDigest(text, "Arch-Linux-x86_64-cloudimg.qcow2", { algorithm: "sha256" });
  assertEquals(digest, text.split(/\s+/)[0]);
});

Deno.test("reads CentOS's BSD CHECKSUM where two names share a digest", () => {
  const digest = expectedDigest(
    read("centos-10-x86_64-CHECKSUM"),
    "CentOS-Stream-GenericCloud-10-latest.x86_64.qcow2",
    {
      algorithm: "sha256",
    },
  );
  assertEquals(digest, "74f2698fb5d9c96c474a26cba8d9c2f2a87e6a8add245d64d845f5c99a2a342e");
});

Deno.test("accepts CRLF line ends and upper-case hex", () => {
  const text = `# comment\r\n${A64.toUpperCase()}  disk.qcow2\r\n`;
  assertEquals(expectedDigest(text, "disk.qcow2", { algorithm: "sha256" }), A64);
});

Deno.test("matches the exact file name, not a prefix or suffix of another", () => {
  const text = `${A64}  disk.qcow2.json\n${B64}  old-disk.qcow2\n`;
  const error = assertThrows<UserError>(
    () => expectedDigest(text, "disk.qcow2", { algorithm: "sha256" }),
    UserError,
    "does not list it",
  );
  assertEquals(error.code, "ChecksumNotListed");
  assertEquals(error.exitCode, ExitCode.verification);
});

Deno.test("rejects a checksum file that lists the image twice with different digests", () => {
  const text = `${A64}  disk.qcow2\n${B64}  disk.qcow2\n`;
  const error = assertThrows<UserError>(
    () => expectedDigest(text, "disk.qcow2", { algorithm: "sha256" }),
    UserError,
  );
  assertEquals(error.code, "ChecksumAmbiguous");
  assertEquals(error.exitCode, ExitCode.verification);
});

Deno.test("accepts a file listed twice with the same digest", () => {
  const text = `${A64}  disk.qcow2\n${A64} *disk.qcow2\n`;
  assertEquals(expectedDigest(text, "disk.qcow2", { algorithm: "sha256" }), A64);
});

Deno.test("rejects a truncated digest instead of comparing against it", () => {
  const text = `${"c".repeat(100)}  disk.qcow2\n`;
  const error = assertThrows<UserError>(
    () => expectedDigest(text, "disk.qcow2", { algorithm: "sha512" }),
    UserError,
  );
  assertEquals(error.code, "ChecksumMalformed");
});

Deno.test("does not take a sha256 digest when a sha512 is required", () => {
  const text = `SHA256 (disk.qcow2) = ${A64}\n`;
  const error = assertThrows<UserError>(
    () => expectedDigest(text, "disk.qcow2", { algorithm: "sha512" }),
    UserError,
  );
  assertEquals(error.code, "ChecksumNotListed");
});

Deno.test("undoes dash-escaping in clear-signed text and drops the signature block", () => {
  const text = [
    "-----BEGIN PGP SIGNED MESSAGE-----",
    "Hash: SHA256",
    "",
    "- -----dashed line",
    `${A64}  disk.qcow2`,
    "-----BEGIN PGP SIGNATURE-----",
    "",
    "abc",
    "-----END PGP SIGNATURE-----",
  ].join("\n");
  assertEquals(stripClearSignature(text), `-----dashed line\n${A64}  disk.qcow2`);
  assertEquals(parseChecksums(text).map((e) => e.file), ["disk.qcow2"]);
});
