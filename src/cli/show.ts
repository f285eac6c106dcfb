/** `cubic show`: details of an image (`vendor:name[:arch]`) or an instance. */
import { Command } from "./commander.ts";
import { findCachedImage } from "../cache.ts";
import { expectedDigest } from "../checksum.ts";
import {
  findProvider,
  formatImageName,
  hostArch,
  parseImageName,
  resolveImage,
} from "../images.ts";
import type { Context } from "../context.ts";
import { redactUrl } from "../http.ts";
import type { TrustRecord } from "../image_trust.ts";
import { diskUsedBytes, loadInstance, pathsFor, runningPid } from "../store.ts";
import { fingerprint } from "../ssh.ts";
import { formatBytes } from "../ui.ts";
import type { CommandResult, GetContext } from "./root.ts";

function trustNote(trust: TrustRecord | undefined): string {
  if (trust === undefined) return "";
  return trust.kind === "signature" ? `, signature by ${trust.signer}` : ", checksum only";
}

function printPairs(pairs: [string, string][]): void {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  for (const [k, v] of pairs) console.log(`${(k + ":").padEnd(width)} ${v}`);
}

async function showImage(ctx: Context, text: string, json: boolean): Promise<void> {
  const name = parseImageName(text, hostArch());
  const provider = findProvider(ctx.providers, name.vendor);
  const ref = await resolveImage(name, ctx);
  const digest = expectedDigest(await ctx.fetchText(ref.checksumUrl), ref.fileName, {
    algorithm: ref.algorithm,
    source: redactUrl(ref.checksumUrl),
  });
  const cached = await findCachedImage(ctx.paths.images, name);
  const signature = ref.signature === undefined
    ? `none: ${provider.displayName} publishes no signature for this image, so only its checksum is verified`
    : ref.signature.kind === "clearsigned"
    ? `OpenPGP clear-signed checksum file, checked against ${
      (ref.keys ?? provider.keys).length
    } ${provider.displayName} key(s)`
    : `OpenPGP detached signature over the ${ref.signature.over} at ${
      redactUrl(ref.signature.url)
    }, checked against ${(ref.keys ?? provider.keys).length} ${provider.displayName} key(s)`;
  const info = {
    image: formatImageName(name),
    names: ref.names,
    imageUrl: redactUrl(ref.imageUrl),
    checksumUrl: redactUrl(ref.checksumUrl),
    checksum: `${ref.algorithm}:${digest}`,
    signature,
    cached: cached ? cached.path : null,
    cachedDigestMatches: cached ? cached.digest === digest : null,
  };
  if (json) {
    console.log(JSON.stringify(info, null, 2));
    return;
  }
  printPairs([
    ["Image", `${info.image} (names: ${ref.names.join(", ")})`],
    ["Image URL", info.imageUrl],
    ["Checksum URL", info.checksumUrl],
    ["Checksum", info.checksum],
    ["Signature", signature],
    [
      "Cached",
      cached
        ? `${cached.path} (verified ${cached.verifiedAt}${trustNote(cached.trust)}${
          cached.digest === digest ? "" : "; the mirror now has a newer build"
        })`
        : "no (cubic pull " + text + ")",
    ],
  ]);
}

async function showInstance(ctx: Context, name: string, json: boolean): Promise<void> {
  const config = await loadInstance(ctx.paths.machines, name);
  const paths = pathsFor(ctx.paths.machines, name);
  const pid = await runningPid(paths);
  const used = await diskUsedBytes(paths.disk);
  const sshCommand =
    `ssh -i ${paths.sshKey} -p ${config.sshPort} -o UserKnownHostsFile=${paths.knownHosts} -o StrictHostKeyChecking=yes ${config.user}@127.0.0.1`;
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
