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

/**
 * Finds UEFI firmware for `arch`. `CUBIC_FIRMWARE_CODE` and `CUBIC_FIRMWARE_VARS` override the
 * search; they only make sense together, so one without the other is an error.
 */
export async function findFirmware(
  arch: Arch,
  env: Record<string, string | undefined>,
): Promise<Firmware> {
  const override = firmwareOverride(env);
  if (override !== undefined) {
    const files: [string, string][] = [
      ["CUBIC_FIRMWARE_CODE", override.code],
      ["CUBIC_FIRMWARE_VARS", override.varsTemplate],
    ];
    for (const [variable, path] of files) {
      if (!(await exists(path))) {
        throw new UserError(
          `Using the UEFI firmware from ${variable} failed: '${path}' is not a file`,
          {
            code: "FirmwareNotFound",
            hint:
              `Point ${variable} at an existing file, or unset both CUBIC_FIRMWARE_CODE and CUBIC_FIRMWARE_VARS to use QEMU's firmware descriptors`,
          },
        );
      }
    }
    return override;
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

/** The firmware named by `CUBIC_FIRMWARE_CODE` and `CUBIC_FIRMWARE_VARS`, if set (pure). */
export function firmwareOverride(env: Record<string, string | undefined>): Firmware | undefined {
  const code = env.CUBIC_FIRMWARE_CODE || undefined;
  const vars = env.CUBIC_FIRMWARE_VARS || undefined;
  if (code === undefined && vars === undefined) return undefined;
  if (code === undefined || vars === undefined) {
    const [set, missing] = code === undefined
      ? ["CUBIC_FIRMWARE_VARS", "CUBIC_FIRMWARE_CODE"]
      : ["CUBIC_FIRMWARE_CODE", "CUBIC_FIRMWARE_VARS"];
    throw new UserError(
      `Using the UEFI firmware from ${set} failed: ${missing} is not set (both are needed: the read-only code and the template of its variable store)`,
      {
        code: "FirmwareIncomplete",
        hint: `Set ${missing} too (e.g. ${
          missing === "CUBIC_FIRMWARE_VARS"
            ? "/usr/share/OVMF/OVMF_VARS_4M.fd"
            : "/usr/share/OVMF/OVMF_CODE_4M.fd"
        }), or unset ${set} to use QEMU's firmware descriptors`,
      },
    );
  }
  return { code, varsTemplate: vars, descriptor: "CUBIC_FIRMWARE_CODE" };
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
