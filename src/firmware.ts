/**
 * UEFI firmware discovery through QEMU's firmware descriptors (docs/interop/firmware.json).
 */
import { join } from "node:path";
import { UserError } from "./errors.ts";
import type { Arch } from "./provider.ts";

/** A usable firmware: read-only code plus the template of its variable store. */
export interface Firmware {
  code: string;
  varsTemplate: string;
  descriptor: string;
}

interface Descriptor {
  "interface-types"?: string[];
  mapping?: {
    device?: string;
    executable?: { filename?: string; format?: string };
    "nvram-template"?: { filename?: string; format?: string };
  };
  targets?: { architecture?: string; machines?: string[] }[];
  features?: string[];
}

const EXCLUDED_FEATURES = [
  "secure-boot",
  "enrolled-keys",
  "requires-smm",
  "amd-sev-es",
  "amd-sev-snp",
  "intel-tdx",
];

/** Whether a descriptor describes plain UEFI flash firmware for an arch and machine (pure). */
export function descriptorMatches(doc: Descriptor, arch: Arch): boolean {
  const qemuArch = arch === "amd64" ? "x86_64" : "aarch64";
  const machine = arch === "amd64" ? "q35" : "virt";
  if (!doc["interface-types"]?.includes("uefi")) return false;
  if (doc.mapping?.device !== "flash") return false;
  if (!doc.mapping.executable?.filename || !doc.mapping["nvram-template"]?.filename) return false;
  if (doc.features?.some((f) => EXCLUDED_FEATURES.includes(f))) return false;
  return doc.targets?.some((t) =>
    t.architecture === qemuArch && t.machines?.some((m) => m.includes(machine))
  ) ?? false;
}

/** Descriptor directories in QEMU's precedence order (pure). */
export function descriptorDirs(env: Record<string, string | undefined>): string[] {
  const configHome = env.XDG_CONFIG_HOME || (env.HOME ? join(env.HOME, ".config") : undefined);
  return [
    ...(configHome ? [join(configHome, "qemu", "firmware")] : []),
    "/etc/qemu/firmware",
    "/usr/share/qemu/firmware",
    "/usr/local/share/qemu/firmware",
  ];
}

/** Finds UEFI firmware for `arch`; `CUBIC_FIRMWARE_CODE`/`_VARS` override the search. */
export async function findFirmware(
  arch: Arch,
  env: Record<string, string | undefined>,
): Promise<Firmware> {
  if (env.CUBIC_FIRMWARE_CODE && env.CUBIC_FIRMWARE_VARS) {
    return {
      code: env.CUBIC_FIRMWARE_CODE,
      varsTemplate: env.CUBIC_FIRMWARE_VARS,
      descriptor: "CUBIC_FIRMWARE_CODE",
    };
  }
  // Same file name in several directories: the first directory wins (QEMU's rule).
  const byName = new Map<string, string>();
  for (const dir of descriptorDirs(env)) {
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (entry.name.endsWith(".json") && !byName.has(entry.name)) {
          byName.set(entry.name, join(dir, entry.name));
        }
      }
    } catch {
      // a missing directory is normal
    }
  }
  for (const name of [...byName.keys()].sort()) {
    const path = byName.get(name)!;
    let doc: Descriptor;
    try {
      doc = JSON.parse(await Deno.readTextFile(path));
    } catch {
      continue;
    }
    if (!descriptorMatches(doc, arch)) continue;
    const code = doc.mapping!.executable!.filename!;
    const varsTemplate = doc.mapping!["nvram-template"]!.filename!;
    if (await exists(code) && await exists(varsTemplate)) {
      return { code, varsTemplate, descriptor: path };
    }
  }
  const pkg = arch === "amd64" ? "ovmf" : "qemu-efi-aarch64";
  throw new UserError(
    `Finding UEFI firmware for ${arch} failed: no usable QEMU firmware descriptor`,
    {
      code: "FirmwareNotFound",
      hint:
        `Install it: sudo apt-get install ${pkg}  (Fedora: edk2-ovmf; or set CUBIC_FIRMWARE_CODE and CUBIC_FIRMWARE_VARS)`,
    },
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
