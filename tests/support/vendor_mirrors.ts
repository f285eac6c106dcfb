/**
 * The same real image published in other vendors' exact layouts — file names, checksum formats
 * and signature files — so that every built-in provider (Debian has debian_mirror.ts) and the
 * signature checks run end to end against a local mirror. Signatures are made with a test key
 * (see test_signing_key.ts), never a vendor's; files a vendor signs are signed even where Cubic's
 * provider does not check them yet, so the mirror looks like the vendor's.
 */
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import type { TestSigningKey } from "./test_signing_key.ts";

async function digest(path: string, algorithm: "sha256" | "sha512"): Promise<string> {
  const hash = createHash(algorithm);
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

async function link(image: string, dir: string, name: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await Deno.remove(path).catch(() => {});
  await Deno.symlink(resolve(image), path);
  return path;
}

/** Writes `text` to `dir/name` clear-signed (the unsigned copy is hidden, then removed). */
async function clearsign(key: TestSigningKey, dir: string, name: string, text: string) {
  const unsigned = join(dir, `.${name}.unsigned`);
  await Deno.writeTextFile(unsigned, text);
  try {
    await key.sign(unsigned, { out: join(dir, name), mode: "clearsign" });
  } finally {
    await Deno.remove(unsigned);
  }
}

/** `# name: N bytes` + `SHA256 (name) = hex` for each name, sorted by name (Rocky, CentOS). */
function bsdWithSizes(names: string[], size: number, sum: string): string {
  return [...names].sort().map((n) => `# ${n}: ${size} bytes\nSHA256 (${n}) = ${sum}\n`).join("");
}

/** A layout's image name and the mirror base URL path to configure. */
export interface VendorLayout {
  vendor:
    | "debian"
    | "ubuntu"
    | "fedora"
    | "archlinux"
    | "almalinux"
    | "rockylinux"
    | "opensuse"
    | "gentoo"
    | "centos-stream";
  /** Base path to append to the server URL for CUBIC_MIRROR_<VENDOR>. */
  basePath: string;
  /** The image name to ask Cubic for. */
  image: string;
}

/** Ubuntu: minimal/releases/noble/release/ with SHA256SUMS (`*` markers) and SHA256SUMS.gpg. */
export async function layoutUbuntu(
  image: string,
  root: string,
  key: TestSigningKey,
): Promise<VendorLayout> {
  const dir = join(root, "minimal/releases/noble/release");
  await link(image, dir, "ubuntu-24.04-minimal-cloudimg-amd64.img");
  const sum = await digest(image, "sha256");
  const other = "0".repeat(63) + "1";
  await Deno.writeTextFile(
    join(dir, "SHA256SUMS"),
    `${other} *ubuntu-24.04-minimal-cloudimg-arm64.img\n${sum} *ubuntu-24.04-minimal-cloudimg-amd64.img\n`,
  );
  await key.sign(join(dir, "SHA256SUMS"), {
    out: join(dir, "SHA256SUMS.gpg"),
    mode: "detach-armor",
  });
  return { vendor: "ubuntu", basePath: "/minimal/releases/", image: "ubuntu:noble" };
}

/** Fedora: 44/Cloud/x86_64/images/ with a clear-signed BSD-style CHECKSUM. */
export async function layoutFedora(
  image: string,
  root: string,
  key: TestSigningKey,
): Promise<VendorLayout> {
  const dir = join(root, "pub/fedora/linux/releases/44/Cloud/x86_64/images");
  const name = "Fedora-Cloud-Base-Generic-44-1.7.x86_64.qcow2";
  await link(image, dir, name);
  const size = (await Deno.stat(image)).size;
  const text = `# ${name}: ${size} bytes\nSHA256 (${name}) = ${await digest(image, "sha256")}\n`;
  await Deno.writeTextFile(join(dir, "CHECKSUM.unsigned"), text);
  await key.sign(join(dir, "CHECKSUM.unsigned"), {
    out: join(dir, "Fedora-Cloud-44-1.7-x86_64-CHECKSUM"),
    mode: "clearsign",
  });
  await Deno.remove(join(dir, "CHECKSUM.unsigned"));
  return { vendor: "fedora", basePath: "/pub/fedora/linux/releases/", image: "fedora:44" };
}

/** Arch Linux: images/latest/ with the versioned image, its .SHA256 and a binary .sig over the image. */
export async function layoutArchlinux(
  image: string,
  root: string,
  key: TestSigningKey,
): Promise<VendorLayout> {
  const dir = join(root, "images/latest");
  const name = "Arch-Linux-x86_64-cloudimg-20261201.400000.qcow2";
  await link(image, dir, name);
  await Deno.writeTextFile(
    join(dir, `${name}.SHA256`),
    `${await digest(image, "sha256")}  ${name}\n`,
  );
  await key.sign(image, { out: join(dir, `${name}.sig`), mode: "detach-binary" });
  return { vendor: "archlinux", basePath: "/images/", image: "archlinux:latest" };
}

/**
 * AlmaLinux: almalinux/9/cloud/x86_64/images/ with the dated build, its `-latest` alias, one
 * GNU-style `CHECKSUM` listing both (sorted by name) and the detached `CHECKSUM.asc` over it.
 */
export async function layoutAlmalinux(
  image: string,
  root: string,
  key: TestSigningKey,
): Promise<VendorLayout> {
  const dir = join(root, "almalinux/9/cloud/x86_64/images");
  const names = [
    "AlmaLinux-9-GenericCloud-9.8-20260810.x86_64.qcow2",
    "AlmaLinux-9-GenericCloud-latest.x86_64.qcow2",
  ];
  for (const name of names) await link(image, dir, name);
  const sum = await digest(image, "sha256");
  await Deno.writeTextFile(
    join(dir, "CHECKSUM"),
    names.sort().map((n) => `${sum}  ${n}\n`).join(""),
  );
  await key.sign(join(dir, "CHECKSUM"), { out: join(dir, "CHECKSUM.asc"), mode: "detach-armor" });
  return { vendor: "almalinux", basePath: "/almalinux/", image: "almalinux:9" };
}

/**
 * Rocky Linux: pub/rocky/9/images/x86_64/ with the pinned `GenericCloud-Base` build, its
 * `.latest` alias, a BSD `<image>.CHECKSUM` per image and the directory-wide `CHECKSUM`, all with
 * `# name: N bytes` comments. Rocky does not sign its cloud-image checksums.
 */
export async function layoutRockylinux(image: string, root: string): Promise<VendorLayout> {
  const dir = join(root, "pub/rocky/9/images/x86_64");
  const names = [
    "Rocky-9-GenericCloud-Base-9.8-20260525.0.x86_64.qcow2",
    "Rocky-9-GenericCloud-Base.latest.x86_64.qcow2",
  ];
  const size = (await Deno.stat(image)).size;
  const sum = await digest(image, "sha256");
  for (const name of names) {
    await link(image, dir, name);
    await Deno.writeTextFile(join(dir, `${name}.CHECKSUM`), bsdWithSizes([name], size, sum));
  }
  await Deno.writeTextFile(join(dir, "CHECKSUM"), bsdWithSizes(names, size, sum));
  return { vendor: "rockylinux", basePath: "/pub/rocky/", image: "rockylinux:9" };
}

/**
 * openSUSE Leap 16.0: distribution/leap/16.0/appliances/ with the `Build` image and its
 * unversioned alias, each with a one-line GNU `.sha256` naming the Build file (the alias's too)
 * and a detached armoured `.sha256.asc` over it. The real one is a v3 RSA packet; GnuPG makes
 * v4 (Ed25519 here), which is what a re-signing mirror would publish. Releases are discovered
 * from the OBS project's `repositories/Cloud:/Images:/Leap_<v>/` directories (literal colons),
 * so that directory exists too, as on download.opensuse.org.
 */
export async function layoutOpensuse(
  image: string,
  root: string,
  key: TestSigningKey,
): Promise<VendorLayout> {
  await Deno.mkdir(join(root, "repositories/Cloud:/Images:/Leap_16.0"), { recursive: true });
  const dir = join(root, "distribution/leap/16.0/appliances");
  const build = "Leap-16.0-Minimal-VM.x86_64-Cloud-Build18.7.qcow2";
  const alias = "Leap-16.0-Minimal-VM.x86_64-Cloud.qcow2";
  const line = `${await digest(image, "sha256")}  ${build}\n`;
  for (const name of [build, alias]) {
    await link(image, dir, name);
    await Deno.writeTextFile(join(dir, `${name}.sha256`), line);
    await key.sign(join(dir, `${name}.sha256`), {
      out: join(dir, `${name}.sha256.asc`),
      mode: "detach-armor",
    });
  }
  return { vendor: "opensuse", basePath: "/", image: "opensuse:16.0" };
}

/**
 * Gentoo: releases/amd64/autobuilds/<stamp>/ with the dated image, its clear-signed `.sha256`
 * (`# SHA256 HASH` + GNU line), `.DIGESTS` (BLAKE2B and SHA512) and a detached `.asc` over the
 * image; `current-di-amd64-cloudinit/` points at it and `latest-di-amd64-cloudinit.txt`
 * (clear-signed) names it. The provider does not check the signatures: no Gentoo key is vetted.
 */
export async function layoutGentoo(
  image: string,
  root: string,
  key: TestSigningKey,
): Promise<VendorLayout> {
  const autobuilds = join(root, "releases/amd64/autobuilds");
  const stamp = "20260913T163055Z";
  const dir = join(autobuilds, stamp);
  const name = `di-amd64-cloudinit-${stamp}.qcow2`;
  await link(image, dir, name);
  const blake2b = createHash("blake2b512");
  const file = await Deno.open(image, { read: true });
  for await (const chunk of file.readable) blake2b.update(chunk);
  await Deno.writeTextFile(
    join(dir, `${name}.DIGESTS`),
    `# BLAKE2B HASH\n${blake2b.digest("hex")}  ${name}\n` +
      `# SHA512 HASH\n${await digest(image, "sha512")}  ${name}\n`,
  );
  await clearsign(
    key,
    dir,
    `${name}.sha256`,
    `# SHA256 HASH\n${await digest(image, "sha256")}  ${name}\n`,
  );
  await key.sign(image, { out: join(dir, `${name}.asc`), mode: "detach-armor" });
  const current = join(autobuilds, "current-di-amd64-cloudinit");
  await Deno.remove(current).catch(() => {});
  await Deno.symlink(stamp, current);
  const size = (await Deno.stat(image)).size;
  await clearsign(
    key,
    autobuilds,
    "latest-di-amd64-cloudinit.txt",
    `# Latest as of Mon, 14 Sep 2026 04:45:00 +0000\n# ts=1789361100\n${stamp}/${name} ${size}\n`,
  );
  return { vendor: "gentoo", basePath: "/releases/", image: "gentoo:latest" };
}

/**
 * CentOS Stream: centos/10-stream/x86_64/images/ with the dated GenericCloud build, its
 * `-latest` alias, a one-line BSD `<image>.SHA256SUM` per image and the directory-wide
 * `CHECKSUM` with `# name: N bytes` comments. CentOS does not sign its cloud images.
 */
export async function layoutCentosStream(image: string, root: string): Promise<VendorLayout> {
  const dir = join(root, "centos/10-stream/x86_64/images");
  const names = [
    "CentOS-Stream-GenericCloud-10-20260818.0.x86_64.qcow2",
    "CentOS-Stream-GenericCloud-10-latest.x86_64.qcow2",
  ];
  const size = (await Deno.stat(image)).size;
  const sum = await digest(image, "sha256");
  for (const name of names) {
    await link(image, dir, name);
    await Deno.writeTextFile(join(dir, `${name}.SHA256SUM`), `SHA256 (${name}) = ${sum}\n`);
  }
  await Deno.writeTextFile(join(dir, "CHECKSUM"), bsdWithSizes(names, size, sum));
  return { vendor: "centos-stream", basePath: "/centos/", image: "centos-stream:10" };
}
