/**
 * qemu-img: image inspection and copy-on-write overlays.
 */
import { dirname, resolve } from "node:path";
import { UserError } from "./errors.ts";
import { findQemuProgram } from "./qemu.ts";

/** What `qemu-img info` reports that Cubic uses. */
export interface ImageInfo {
  format: string;
  virtualSize: number;
  actualSize: number;
  backingFile: string | undefined;
}

async function qemuImg(args: string[], env: Record<string, string | undefined>): Promise<string> {
  const binary = await findQemuProgram("qemu-img", env);
  const out = await new Deno.Command(binary, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    throw new UserError(`Running 'qemu-img ${args[0]}' failed: ${stderr}`, {
      code: "QemuImgFailed",
      hint: "Check the disk file and free space",
    });
  }
  return new TextDecoder().decode(out.stdout);
}

/** Reads an image's format and sizes (works while QEMU has it open). */
export async function imageInfo(
  path: string,
  env: Record<string, string | undefined>,
): Promise<ImageInfo> {
  const json = JSON.parse(await qemuImg(["info", "--force-share", "--output=json", path], env));
  return {
    format: json.format,
    virtualSize: json["virtual-size"],
    actualSize: json["actual-size"] ?? 0,
    backingFile: json["backing-filename"],
  };
}

/**
 * The file an overlay's reads fall through to, as an absolute path (a relative backing file name
 * is relative to the overlay's directory, as QEMU resolves it), or `undefined` when it has none.
 * It is what QEMU will open, whatever `instance.json` says.
 */
export async function backingFileOf(
  path: string,
  env: Record<string, string | undefined>,
): Promise<string | undefined> {
  const backing = (await imageInfo(path, env)).backingFile;
  return backing === undefined || backing === "" ? undefined : resolve(dirname(path), backing);
}

/** Creates a qcow2 overlay of `base` (no copy) with the given virtual size. */
export async function createOverlay(
  base: string,
  overlay: string,
  options: { sizeBytes: number; env: Record<string, string | undefined> },
): Promise<void> {
  await qemuImg(
    ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, overlay, String(options.sizeBytes)],
    options.env,
  );
}
