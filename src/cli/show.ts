/** `cubic show`: details of an image (`vendor:name[:arch]`) or an instance. */
import { Command } from "./commander.ts";
import { type CachedImage, findCachedImage } from "../cache.ts";
import {
  findProvider,
  formatImageName,
  hostArch,
  parseImageName,
  resolveImage,
} from "../images.ts";
import type { Context } from "../context.ts";
import { UserError } from "../errors.ts";
import { redactUrl } from "../http.ts";
import {
  type TrustedKeys,
  trustedKeysFor,
  type TrustRecord,
  verifiedChecksum,
} from "../image_trust.ts";
import type { ImageRef, Provider } from "../provider.ts";
import { diskUsedBytes, loadInstance, pathsFor, runningPid } from "../store.ts";
import { fingerprint } from "../ssh.ts";
import { formatBytes } from "../ui.ts";
import { shellQuote } from "./options.ts";
import type { CommandResult, GetContext } from "./root.ts";

function trustNote(trust: TrustRecord | undefined): string {
  if (trust === undefined) return "";
  return trust.kind === "signature" ? `, signature by ${trust.signer}` : ", checksum only";
}

/** POSIX shell quoting (pure), from options.ts; re-exported because callers import it from here. */
export { shellQuote };

/**
 * A file name as ssh reads it in an option value: `%` doubled (ssh expands `%h`-style tokens in
 * file names) and, when it has blanks or quotes, double-quoted with `"` and `\` escaped (ssh
 * splits option values into words, e.g. UserKnownHostsFile takes several files) (pure).
 */
export function sshFileValue(path: string): string {
  const escaped = path.replaceAll("%", "%%");
  return /[\s"'\\#]/.test(escaped) ? `"${escaped.replace(/["\\]/g, "\\$&")}"` : escaped;
}

/**
 * The OpenSSH command that logs into an instance, quoted for a POSIX shell and, inside `-o`
 * values, for ssh itself (pure). ssh checks that a `-i` file exists before it expands `%`
 * tokens in the name, so a key path with `%` is given as `-o IdentityFile=` instead. (ssh always
 * expands `${VAR}`: a path containing `${` cannot be written so that ssh takes it literally.)
 */
export function sshCommandLine(
  target: { key: string; port: number; knownHosts: string; user: string },
): string {
  const identity = target.key.includes("%")
    ? ["-o", `IdentityFile=${sshFileValue(target.key)}`]
    : ["-i", target.key];
  return [
    "ssh",
    ...identity,
    "-p",
    String(target.port),
    "-o",
    `UserKnownHostsFile=${sshFileValue(target.knownHosts)}`,
    "-o",
    "StrictHostKeyChecking=yes",
    `${target.user}@127.0.0.1`,
  ].map(shellQuote).join(" ");
}

function printPairs(pairs: [string, string][]): void {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  for (const [k, v] of pairs) console.log(`${(k + ":").padEnd(width)} ${v}`);
}

/** `3 keys: 1 Ubuntu key built into Cubic, 2 from config.yaml` (pure). */
function describeKeys(keys: TrustedKeys, provider: Provider): string {
  const builtIn = keys.keys.length - keys.fromConfig;
  const total = keys.keys.length;
  return `${total} key${total === 1 ? "" : "s"}: ${builtIn} ${provider.displayName} key${
    builtIn === 1 ? "" : "s"
  } built into Cubic, ${keys.fromConfig} from config.yaml`;
}

/** What the Signature line says once the checksum file was believed (pure). */
function signatureText(
  ref: ImageRef,
  provider: Provider,
  keys: TrustedKeys,
  trust: TrustRecord | undefined,
): string {
  const signature = ref.signature;
  if (signature === undefined) {
    return `none: ${provider.displayName} publishes no signature for this image, so only its checksum is verified`;
  }
  if (signature.kind === "detached" && signature.over === "image") {
    return `OpenPGP detached signature over the image at ${
      redactUrl(signature.url)
    }, checked when the image is downloaded, against ${describeKeys(keys, provider)}`;
  }
  if (trust?.kind !== "signature") throw new Error("a signed checksum file verified no signer");
  const what = signature.kind === "clearsigned"
    ? "OpenPGP clear-signed checksum file"
    : `OpenPGP detached signature ${redactUrl(signature.url)} over the checksum file`;
  return `verified, signed by ${trust.signer} (${what}; checked against ${
    describeKeys(keys, provider)
  })`;
}

/**
 * What the cache knows of an image, for `show` while its mirror is unreachable: the URLs, digest
 * and trust recorded when it was verified, with a notice that the mirror was not asked.
 */
function showCachedImage(ctx: Context, cached: CachedImage, json: boolean): void {
  const trust = cached.trust;
  const signature = trust?.kind === "signature"
    ? `verified at download, signed by ${trust.signer} (${redactUrl(trust.signatureUrl)})`
    : trust?.kind === "checksum-only"
    ? "none: only the checksum was verified at download"
    : "not recorded (cached by an older Cubic)";
  ctx.ui.warn(
    `the ${cached.vendor} mirror is unreachable; showing the cached image as verified at ${cached.verifiedAt}`,
  );
  const info: ImageInfo = {
    image: formatImageName({
      vendor: cached.vendor,
      name: cached.names[0] ?? "",
      arch: cached.arch,
    }),
    names: cached.names,
    imageUrl: redactUrl(cached.imageUrl),
    checksumUrl: redactUrl(cached.checksumUrl),
    checksum: `${cached.algorithm}:${cached.digest}`,
    signature,
    signer: trust?.kind === "signature" ? trust.signer : null,
    cached: cached.path,
    cachedDigestMatches: null,
  };
  printImageInfo(
    info,
    `${cached.path} (verified ${cached.verifiedAt}; the mirror was not reachable)`,
    json,
  );
}

/** What `show <image>` prints: the JSON record, or a table ending in the `Cached` line. */
interface ImageInfo {
  image: string;
  names: string[];
  imageUrl: string;
  checksumUrl: string;
  checksum: string;
  signature: string;
  signer: string | null;
  cached: string | null;
  cachedDigestMatches: boolean | null;
}

function printImageInfo(info: ImageInfo, cachedLine: string, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(info, null, 2));
    return;
  }
  printPairs([
    ["Image", `${info.image} (names: ${info.names.join(", ")})`],
    ["Image URL", info.imageUrl],
    ["Checksum URL", info.checksumUrl],
    ["Checksum", info.checksum],
    ["Signature", info.signature],
    ["Cached", cachedLine],
  ]);
}

async function showImage(ctx: Context, text: string, json: boolean): Promise<void> {
  const name = parseImageName(text, hostArch());
  const provider = findProvider(ctx.providers, name.vendor);
  let ref;
  try {
    ref = await resolveImage(name, ctx);
  } catch (error) {
    const cached = error instanceof UserError && error.code === "NetworkError"
      ? await findCachedImage(ctx.paths.images, name)
      : undefined;
    if (cached === undefined) throw error;
    return showCachedImage(ctx, cached, json);
  }
  // Believed exactly as `cubic pull` believes it: the same keys and the same verification, so a
  // tampered checksum file fails here too (exit 3) instead of showing the attacker's digest.
  const { warning, ...keys } = await trustedKeysFor(ref, ctx);
  if (warning !== undefined) ctx.ui.warn(warning);
  const checksum = await verifiedChecksum(ref, { keys });
  const digest = checksum.digest;
  const cached = await findCachedImage(ctx.paths.images, name);
  const signature = signatureText(ref, provider, keys, checksum.trust);
  const info: ImageInfo = {
    image: formatImageName(name),
    names: ref.names,
    imageUrl: redactUrl(ref.imageUrl),
    checksumUrl: redactUrl(ref.checksumUrl),
    checksum: `${ref.algorithm}:${digest}`,
    signature,
    signer: checksum.trust?.kind === "signature" ? checksum.trust.signer : null,
    cached: cached ? cached.path : null,
    cachedDigestMatches: cached ? cached.digest === digest : null,
  };
  printImageInfo(
    info,
    cached
      ? `${cached.path} (verified ${cached.verifiedAt}${trustNote(cached.trust)}${
        cached.digest === digest ? "" : "; the mirror now offers a different build"
      })`
      : "no (cubic pull " + text + ")",
    json,
  );
}

async function showInstance(ctx: Context, name: string, json: boolean): Promise<void> {
  const config = await loadInstance(ctx.paths.machines, name);
  const paths = pathsFor(ctx.paths.machines, name);
  const pid = await runningPid(paths);
  const used = await diskUsedBytes(paths.disk);
  const sshCommand = sshCommandLine({
    key: paths.sshKey,
    port: config.sshPort,
    knownHosts: paths.knownHosts,
    user: config.user,
  });
  if (json) {
    console.log(
      JSON.stringify(
        {
          ...config,
          state: pid ? "running" : "stopped",
          pid: pid ?? null,
          diskUsedBytes: used ?? null,
          dir: paths.dir,
          sshCommand,
        },
        null,
        2,
      ),
    );
    return;
  }
  printPairs([
    ["Name", config.name],
    ["Image", `${config.image} (${config.baseImage})`],
    ["State", pid ? `running (pid ${pid}, ${config.accel ?? "?"})` : "stopped"],
    ["CPUs", String(config.cpus)],
    ["Memory", formatBytes(config.memoryMiB * 1024 ** 2)],
    [
      "Disk",
      `${used === undefined ? "?" : formatBytes(used)} used of ${formatBytes(config.diskBytes)}`,
    ],
    ["User", config.user],
    ["Isolated", config.isolate ? "yes" : "no"],
    ["SSH port", `127.0.0.1:${config.sshPort}`],
    ["Monitor port", config.monitorPort ? `127.0.0.1:${config.monitorPort} (mutual TLS)` : "-"],
    ["Console port", config.consolePort ? `127.0.0.1:${config.consolePort} (mutual TLS)` : "-"],
    ["Host key", fingerprint(config.hostPublicKey)],
    ["Directory", paths.dir],
    ["Created", config.createdAt],
    ["SSH", sshCommand],
  ]);
}

/** The `show` command. */
export function showCommand(getContext: GetContext, _result: CommandResult): Command {
  return new Command("show").description("Show an image (vendor:name[:arch]) or an instance")
    .argument("<name>", "image or instance name")
    .option("--json", "print JSON")
    .action(async (text: string, flags: { json?: boolean }) => {
      const ctx = await getContext();
      if (text.includes(":")) await showImage(ctx, text, flags.json ?? false);
      else await showInstance(ctx, text, flags.json ?? false);
    });
}
