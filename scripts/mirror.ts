/**
 * Serves a test image as a local Debian cloud-image mirror, for humans and quick-start scripts.
 *
 *   deno run -A scripts/mirror.ts --image <qcow2> --root <dir> [--port N]
 *
 * The first stdout line is `CUBIC_MIRROR_DEBIAN=<url>/images/cloud/` (eval-able); it then
 * serves until interrupted. Logs go to stderr.
 */
import { parseArgs } from "node:util";
import { startMirrorServer } from "../tests/support/mirror_server.ts";
import { layoutDebianMirror } from "../tests/support/debian_mirror.ts";

const USAGE = "usage: deno run -A scripts/mirror.ts --image <qcow2> --root <dir> [--port N]";

function parseOptions(args: string[]) {
  return parseArgs({
    args,
    options: {
      image: { type: "string" },
      root: { type: "string" },
      port: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  }).values;
}

/** Runs the mirror until SIGINT or SIGTERM; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  let values: ReturnType<typeof parseOptions>;
  try {
    values = parseOptions(args);
  } catch (error) {
    console.error(`mirror.ts: ${error instanceof Error ? error.message : String(error)}`);
    console.error(USAGE);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.image || !values.root) {
    console.error(`mirror.ts: --image and --root are required\n${USAGE}`);
    return 2;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`mirror.ts: --port '${values.port}' is not a TCP port number`);
    return 2;
  }
  try {
    await Deno.stat(values.image);
  } catch (error) {
    console.error(`mirror.ts: cannot read image '${values.image}': ${String(error)}`);
    console.error("hint: build one with scripts/build-test-image.sh");
    return 1;
  }

  await Deno.mkdir(values.root, { recursive: true });
  const layout = await layoutDebianMirror(values.image, values.root);
  const server = await startMirrorServer(values.root, { port });
  // Listen for signals before announcing the URL: a script may kill us right after reading it.
  const stopped = Promise.withResolvers<void>();
  const stop = () => stopped.resolve();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  console.log(`CUBIC_MIRROR_DEBIAN=${server.url}/images/cloud/`);
  console.error(
    `mirror.ts: serving ${values.root} at ${server.url}; image ${server.url}${layout.imageUrlPath}` +
      ` (sha512 ${layout.sha512.slice(0, 16)}...); Ctrl-C stops`,
  );
  await stopped.promise;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  // Do not wait for a client that stalls mid-download: a stop request means stop.
  await Promise.race([server.close(), new Promise((done) => setTimeout(done, 2000))]);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
