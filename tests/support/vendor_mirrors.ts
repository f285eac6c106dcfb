/**
 * The same real Debian test image published in other vendors' exact layouts — file names,
 * checksum formats and signature files — so that the ubuntu, fedora and archlinux providers and
 * the signature checks run end to end against a local mirror. Signatures are made with a test
 * key (see test_signing_key.ts), never a vendor's.
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

/** A layout's image name and the mirror base URL path to configure. */
export interface VendorLayout {
  vendor: "ubuntu" | "fedora" | "archlinux";
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
