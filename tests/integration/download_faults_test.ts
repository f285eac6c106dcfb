/**
 * Download faults against a real (deliberately unreliable) HTTP server on 127.0.0.1, through the
 * real CLI: dropped connections, kills mid-download, stalls, servers that ignore ranges or change
 * files, HTTP errors, wrong content, truncated checksum files, a full disk and concurrent pulls.
 * Every test ends with a clear error or a verified image, and asserts the cache listing exactly.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ensureImage } from "../../src/cache.ts";
import type { ImageRef } from "../../src/provider.ts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { type CliResult, type CubicHome, listDir, makeCubicHome } from "../support/cli.ts";
import { type Behave, type FaultyServer, startFaultyServer } from "../support/faulty_server.ts";

const DIR = "/images/cloud/bookworm/latest/";
const IMAGE_NAME = "debian-12-generic-amd64.qcow2";
const IMAGE_PATH = `${DIR}${IMAGE_NAME}`;
const SUMS_PATH = `${DIR}SHA512SUMS`;
const KEY = "debian-12-amd64";
const LOCK = `.${KEY}.lock`;
const PARTIAL = `.${KEY}.partial`;
const PARTIAL_STATE = `.${KEY}.partial.json`;
const MIB = 1024 * 1024;
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A real qcow2 holding `mib` MiB of random data, so transfers take measurable time. */
async function makeImage(mib: number): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "cubic-image-" });
  try {
    const raw = join(dir, "disk.raw");
    const data = new Uint8Array(mib * MIB);
    for (let i = 0; i < data.length; i += 65536) {
      crypto.getRandomValues(data.subarray(i, i + 65536));
    }
    await Deno.writeFile(raw, data);
    const qcow2 = join(dir, "disk.qcow2");
    const out = await new Deno.Command("qemu-img", {
      args: ["convert", "-q", "-f", "raw", "-O", "qcow2", raw, qcow2],
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return await Deno.readFile(qcow2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const sha512 = (bytes: Uint8Array) => createHash("sha512").update(bytes).digest("hex");

/** Debian's SHA512SUMS for `image`, with a sibling line before it as the real file has. */
function sumsText(image: Uint8Array): string {
  const sibling = createHash("sha512").update("json").digest("hex");
  return `${sibling}  debian-12-generic-amd64.json\n${sha512(image)}  ${IMAGE_NAME}\n`;
}

/** Serves `image` in Debian's layout (the listing is generated from the file map). */
function serveImage(server: FaultyServer, image: Uint8Array, options: { etag?: string } = {}) {
  server.files.set(IMAGE_PATH, { body: image, ...options });
  server.files.set(SUMS_PATH, {
    body: new TextEncoder().encode(sumsText(image)),
    contentType: "text/plain",
  });
}

/** The cache file name Cubic gives `image`. */
function finalName(image: Uint8Array): string {
  return `${KEY}-${sha512(image).slice(0, 16)}.qcow2`;
}

interface Fixture {
  server: FaultyServer;
  home: CubicHome;
  image: Uint8Array;
  /** Runs `cubic pull debian:12` with this fixture's environment. */
  pull(extraEnv?: Record<string, string>): Promise<CliResult>;
  imageRequests(): ReturnType<FaultyServer["requestsFor"]>;
}

let sharedImage: Uint8Array | undefined;

/** A 4 MiB image on a faulty server and a fresh Cubic home pointed at it. */
async function withFixture(
  fn: (fx: Fixture) => Promise<void>,
  options: { cacheHome?: string } = {},
): Promise<void> {
  sharedImage ??= await makeImage(4);
  const image = sharedImage;
  const server = startFaultyServer({});
  serveImage(server, image);
  const home = await makeCubicHome({
    CUBIC_MIRROR_DEBIAN: `${server.url}/images/cloud/`,
    CUBIC_STALL_TIMEOUT_MS: "2000",
    CUBIC_RETRY_DELAY_MS: "50",
    ...(options.cacheHome ? { XDG_CACHE_HOME: options.cacheHome } : {}),
  });
  if (options.cacheHome) home.images = join(options.cacheHome, "cubic", "images");
  try {
    await fn({
      server,
      home,
      image,
      pull: (extraEnv = {}) =>
        spawnCubic(["pull", "debian:12"], { ...home.env, ...extraEnv }).output,
      imageRequests: () => server.requestsFor(IMAGE_PATH),
    });
  } finally {
    await server.close();
    await Deno.remove(home.root, { recursive: true });
  }
}

/**
 * Starts `cubic args...` (optionally under `ulimit -f`), the way tests/support/cli.ts does. Under
 * a limit, SIGXFSZ keeps its default action (kill), as in a user's shell, unless `ignoreXfsz`;
 * V8's code cache is off so that Deno itself writes no file the limit could stop.
 */
function spawnCubic(
  args: string[],
  env: Record<string, string>,
  options: { fileSizeLimitBlocks?: number; ignoreXfsz?: boolean } = {},
): { child: Deno.ChildProcess; output: Promise<CliResult> } {
  const fullEnv: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "",
    // The temporary HOME must not hide Deno's own cache.
    DENO_DIR: Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/root", ".cache", "deno"),
    ...env,
  };
  const limited = options.fileSizeLimitBlocks !== undefined;
  const denoArgs = [
    "run",
    "--frozen",
    "-A",
    "--quiet",
    ...(limited ? ["--no-code-cache"] : []),
    MAIN,
    ...args,
  ];
  const trap = options.ignoreXfsz ? "trap '' XFSZ; " : "";
  const [program, programArgs] = !limited ? [Deno.execPath(), denoArgs] : ["/bin/sh", [
    "-c",
    `${trap}ulimit -f ${options.fileSizeLimitBlocks} && exec "$0" "$@"`,
    Deno.execPath(),
    ...denoArgs,
  ]];
  const child = new Deno.Command(program, {
    args: programArgs,
    env: fullEnv,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output().then((out) => {
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return {
      code: out.code,
      stdout: decode(out.stdout),
      stderr: decode(out.stderr) + (out.signal ? `\n(killed by ${out.signal})` : ""),
    };
  });
  return { child, output };
}

/** The path `cubic pull` reported for the verified image. */
function reportedPath(result: CliResult): string {
  const match = /: verified sha512 [0-9a-f]{16}… \(.+\) at (\S+)$/m.exec(result.stderr);
  assert(match?.[1], `no verified path in:\n${result.stderr}`);
  return match[1];
}

/** Asserts the cache holds exactly the verified `image` (plus the lock) and nothing partial. */
async function assertVerifiedImage(fx: Fixture, result: CliResult, image = fx.image) {
  assertEquals(result.code, 0, result.stderr);
  const name = finalName(image);
  assertEquals(await listDir(fx.home.images), [LOCK, name, `${name}.json`].sort());
  assertEquals(reportedPath(result), join(fx.home.images, name));
  assertEquals(sha512(await Deno.readFile(join(fx.home.images, name))), sha512(image));
}

async function fileSize(path: string): Promise<number> {
  return (await Deno.stat(path)).size;
}

/** Fails the first image request after `bytes`, then hangs up on every later one. */
function mirrorDiesAfter(bytes: number): Behave {
  return (request, nth) =>
    request.path !== IMAGE_PATH ? {} : nth === 0 ? { dropAfter: bytes } : { hangUp: true };
}

Deno.test("a connection dropped mid-transfer is kept and the next pull resumes with Range and verifies", async () => {
  await withFixture(async (fx) => {
    const cut = 1.5 * MIB;
    fx.server.files.set(IMAGE_PATH, { body: fx.image, etag: '"first"' });
    fx.server.behave(mirrorDiesAfter(cut));
    const first = await fx.pull();
    assertEquals(first.code, 1, first.stderr);
    assertMatch(
      first.stderr,
      /^error: Downloading 'http:\/\/127\.0\.0\.1:\d+\/images\/cloud\/bookworm\/latest\/debian-12-generic-amd64\.qcow2' failed after 4 attempts: the server closed the connection without answering$/m,
    );
    assertMatch(
      first.stderr,
      /^hint: The 1\.5 MiB received are kept: run `cubic pull debian:12:amd64` to resume/m,
    );
    assertEquals(await listDir(fx.home.images), [LOCK, PARTIAL, PARTIAL_STATE]);
    assertEquals(await fileSize(join(fx.home.images, PARTIAL)), cut);
    // Each in-process retry resumed too.
    const retries = fx.imageRequests().slice(1);
    assertEquals(retries.map((r) => r.range), [`bytes=${cut}-`, `bytes=${cut}-`, `bytes=${cut}-`]);

    fx.server.behave(() => ({}));
    const second = await fx.pull();
    await assertVerifiedImage(fx, second);
    const resumed = fx.imageRequests()[4]!;
    assertEquals(resumed.range, `bytes=${cut}-`);
    assertEquals(resumed.ifRange, '"first"', "If-Range carries the first response's ETag");
    assertEquals(resumed.status, 206);
    assertEquals(resumed.bodyBytes, fx.image.length - cut, "only the tail is sent again");
    assertEquals(fx.imageRequests().length, 5);
  });
});

Deno.test("a connection dropped mid-transfer is retried within the same pull and resumes", async () => {
  await withFixture(async (fx) => {
    fx.server.behave((r, nth) => r.path === IMAGE_PATH && nth === 0 ? { dropAfter: MIB } : {});
    const result = await fx.pull();
    await assertVerifiedImage(fx, result);
    const [first, second] = fx.imageRequests();
    assertEquals(first?.range, undefined);
    assertEquals(second?.range, `bytes=${MIB}-`);
    assertEquals(second?.status, 206);
    assertEquals(second?.bodyBytes, fx.image.length - MIB);
  });
});

for (const signal of ["SIGKILL", "SIGINT"] as const) {
  Deno.test(`cubic pull killed with ${signal} mid-download resumes on the next run and verifies`, async () => {
    await withFixture(async (fx) => {
      fx.server.behave((r) => r.path === IMAGE_PATH ? { bytesPerSecond: 2 * MIB } : {});
      const run = spawnCubic(["pull", "debian:12"], fx.home.env);
      await fx.server.waitFor(() => (fx.imageRequests()[0]?.bodyBytes ?? 0) >= 1.5 * MIB);
      run.child.kill(signal);
      const killed = await run.output;
      assert(killed.code !== 0, "the killed pull must not succeed");
      assertEquals(await listDir(fx.home.images), [LOCK, PARTIAL, PARTIAL_STATE]);
      const kept = await fileSize(join(fx.home.images, PARTIAL));
      assert(kept > 0 && kept < fx.image.length, `kept ${kept} bytes`);

      fx.server.behave(() => ({}));
      const second = await fx.pull();
      await assertVerifiedImage(fx, second);
      const resumed = fx.imageRequests()[1]!;
      assertEquals(resumed.range, `bytes=${kept}-`);
      assertEquals(resumed.status, 206);
      assertEquals(resumed.bodyBytes, fx.image.length - kept);
    });
  });
}

Deno.test("six concurrent pulls of one image download it once and all report the same path", async () => {
  await withFixture(async (fx) => {
    // About 2 s of transfer, so every process is already waiting when the image arrives.
    let earlyChecksumReads = 0;
    fx.server.behave((r) => {
      if (r.path === SUMS_PATH && !fx.imageRequests()[0]?.finished) earlyChecksumReads++;
      return r.path === IMAGE_PATH ? { bytesPerSecond: 2 * MIB } : {};
    });
    const runs = Array.from({ length: 6 }, () => spawnCubic(["pull", "debian:12"], fx.home.env));
    const results = await Promise.all(runs.map((r) => r.output));
    for (const result of results) assertEquals(result.code, 0, result.stderr);
    assertEquals(earlyChecksumReads, 6, "all six were pulling before the download finished");
    assertEquals(fx.imageRequests().length, 1, "the image body is served once");
    assertEquals(fx.imageRequests()[0]?.finished, true);
    const downloading = results.filter((r) => /^Downloading /m.test(r.stderr));
    assertEquals(downloading.length, 1, "one process downloads, five wait on the lock");
    const paths = new Set(results.map(reportedPath));
    assertEquals([...paths], [join(fx.home.images, finalName(fx.image))]);
    await assertVerifiedImage(fx, results[0]!);
  });
});

Deno.test("a 404 for the image fails at once without retrying and caches nothing", async () => {
  await withFixture(async (fx) => {
    fx.server.behave((r) => r.path === IMAGE_PATH ? { status: 404 } : {});
    const result = await fx.pull();
    assertEquals(result.code, 1, result.stderr);
    assertMatch(
      result.stderr,
      /^error: Fetching '.*debian-12-generic-amd64\.qcow2' failed: HTTP 404 Not Found$/m,
    );
    assertMatch(result.stderr, /^hint: The mirror does not have it/m);
    assertEquals(fx.imageRequests().length, 1);
    assertEquals(await listDir(fx.home.images), [LOCK]);
  });
});

Deno.test("an image gone from the mirror when resuming (404) fails at once and removes the partial", async () => {
  await withFixture(async (fx) => {
    fx.server.behave(mirrorDiesAfter(MIB));
    const first = await fx.pull();
    assertEquals(first.code, 1, first.stderr);
    assertEquals(await listDir(fx.home.images), [LOCK, PARTIAL, PARTIAL_STATE]);

    fx.server.behave((r) => r.path === IMAGE_PATH ? { status: 404 } : {});
    const second = await fx.pull();
    assertEquals(second.code, 1, second.stderr);
    assertMatch(second.stderr, /HTTP 404 Not Found$/m);
    assertEquals(fx.imageRequests().length, 5, "a 404 is not retried");
    assertEquals(await listDir(fx.home.images), [LOCK]);
  });
});

Deno.test("a 503 and a 429 are retried with backoff and the third attempt verifies", async () => {
  await withFixture(async (fx) => {
    fx.server.behave((r, nth) =>
      r.path !== IMAGE_PATH ? {} : nth === 0 ? { status: 503 } : nth === 1 ? { status: 429 } : {}
    );
    const result = await fx.pull();
    await assertVerifiedImage(fx, result);
    assertEquals(fx.imageRequests().map((r) => r.status), [503, 429, 200]);
  });
});

Deno.test("an HTML error page served as the image is a checksum mismatch, exit 3, nothing cached", async () => {
  await withFixture(async (fx) => {
    fx.server.behave((r) =>
      r.path === IMAGE_PATH
        ? {
          status: 200,
          contentType: "text/html",
          body: "<!DOCTYPE html><html><body><h1>Mirror under maintenance</h1></body></html>\n",
        }
        : {}
    );
    const result = await fx.pull();
    assertEquals(result.code, 3, result.stderr);
    assertMatch(
      result.stderr,
      /^error: Verifying 'debian-12-generic-amd64\.qcow2' failed: .* does not match/m,
    );
    assertMatch(result.stderr, /^hint: .*nothing was cached/m);
    assertEquals(fx.imageRequests().length, 1, "a checksum mismatch is not retried");
    assertEquals(await listDir(fx.home.images), [LOCK]);
  });
});

Deno.test("a checksum file cut off mid-digest is a clear error and nothing is downloaded", async () => {
  await withFixture(async (fx) => {
    const full = sumsText(fx.image);
    const cut = full.indexOf(sha512(fx.image)) + 70;
    fx.server.files.set(SUMS_PATH, { body: new TextEncoder().encode(full.slice(0, cut)) });
    const result = await fx.pull();
    assertEquals(result.code, 3, result.stderr);
    assertMatch(
      result.stderr,
      /^error: Finding the checksum of 'debian-12-generic-amd64\.qcow2' failed: .*SHA512SUMS does not list it$/m,
    );
    assertEquals(fx.imageRequests().length, 0);
    assertEquals(await listDir(fx.home.images), []);
  });
});

Deno.test("a stalled server fails within the stall timeout after retries and keeps the partial resumable", async () => {
  await withFixture(async (fx) => {
    const burst = 256 * 1024;
    // First no headers at all, then headers and a burst followed by silence.
    fx.server.behave((r, nth) =>
      r.path !== IMAGE_PATH ? {} : nth === 0 ? { silent: true } : { stallAfter: burst }
    );
    const started = Date.now();
    const result = await fx.pull();
    const elapsed = Date.now() - started;
    assertEquals(result.code, 1, result.stderr);
    assertMatch(
      result.stderr,
      /^error: Downloading '.*debian-12-generic-amd64\.qcow2' failed after 4 attempts: no data for 2 s \(the transfer stalled\)$/m,
    );
    assertEquals(fx.imageRequests().length, 4);
    // 4 stalls of 2 s and 50 + 100 + 200 ms of backoff, plus start-up.
    assert(elapsed >= 8_000 && elapsed < 14_000, `took ${elapsed} ms`);
    assertEquals(fx.imageRequests().map((r) => r.range), [
      undefined,
      undefined,
      `bytes=${burst}-`,
      `bytes=${2 * burst}-`,
    ]);
    assertEquals(await listDir(fx.home.images), [LOCK, PARTIAL, PARTIAL_STATE]);
    assertEquals(await fileSize(join(fx.home.images, PARTIAL)), 3 * burst);

    fx.server.behave(() => ({}));
    const second = await fx.pull();
    await assertVerifiedImage(fx, second);
    assertEquals(fx.imageRequests()[4]?.range, `bytes=${3 * burst}-`);
  });
});

Deno.test("a slow but steady transfer that outlasts the stall timeout completes", async () => {
  await withFixture(async (fx) => {
    // About 2.2 s at 2 MiB/s against a 1 s stall timeout: only silence may fail a transfer.
    fx.server.behave((r) => r.path === IMAGE_PATH ? { bytesPerSecond: 2 * MIB } : {});
    const started = Date.now();
    const result = await fx.pull({ CUBIC_STALL_TIMEOUT_MS: "1000" });
    await assertVerifiedImage(fx, result);
    assert(Date.now() - started > 2_000);
    assertEquals(fx.imageRequests().length, 1);
  });
});

Deno.test("an invalid or zero CUBIC_STALL_TIMEOUT_MS is a clear error before anything is fetched", async () => {
  await withFixture(async (fx) => {
    for (const value of ["soon", "0", "-5", "1.5"]) {
      const result = await fx.pull({ CUBIC_STALL_TIMEOUT_MS: value });
      assertEquals(result.code, 1, result.stderr);
      assertMatch(
        result.stderr,
        new RegExp(
          `^error: Reading CUBIC_STALL_TIMEOUT_MS failed: '${value}' is not a positive whole number of milliseconds$`,
          "m",
        ),
      );
    }
    assertEquals(fx.server.requests, []);
    // A retry delay of 0 is fine (retry at once); only the stall timeout must be positive.
    const zeroDelay = await fx.pull({ CUBIC_RETRY_DELAY_MS: "0" });
    await assertVerifiedImage(fx, zeroDelay);
  });
});

Deno.test("a server that ignores Range restarts the download from zero and still verifies", async () => {
  await withFixture(async (fx) => {
    fx.server.behave((r, nth) =>
      r.path !== IMAGE_PATH ? {} : nth === 0 ? { dropAfter: MIB } : { ignoreRange: true }
    );
    const result = await fx.pull();
    await assertVerifiedImage(fx, result);
    const retry = fx.imageRequests()[1]!;
    assertEquals(retry.range, `bytes=${MIB}-`);
    assertEquals(retry.status, 200);
    assertEquals(retry.bodyBytes, fx.image.length);
  });
});

Deno.test("an image whose ETag changed between attempts is downloaded again from zero and verifies", async () => {
  await withFixture(async (fx) => {
    fx.server.files.set(IMAGE_PATH, { body: fx.image, etag: '"build-1"' });
    fx.server.behave((r, nth) => {
      if (r.path !== IMAGE_PATH) return {};
      if (nth === 0) return { dropAfter: MIB };
      // The mirror re-published the file in between: same bytes, new validator.
      fx.server.files.set(IMAGE_PATH, { body: fx.image, etag: '"build-2"' });
      return {};
    });
    const result = await fx.pull();
    await assertVerifiedImage(fx, result);
    const retry = fx.imageRequests()[1]!;
    assertEquals([retry.range, retry.ifRange], [`bytes=${MIB}-`, '"build-1"']);
    assertEquals(retry.status, 200, "If-Range no longer matches: the whole file comes");
    assertEquals(retry.bodyBytes, fx.image.length);
  });
});

Deno.test("a partial left by an older build is discarded when the checksum file names a new one", async () => {
  await withFixture(async (fx) => {
    fx.server.behave(mirrorDiesAfter(MIB));
    const first = await fx.pull();
    assertEquals(first.code, 1, first.stderr);
    assertEquals(await listDir(fx.home.images), [LOCK, PARTIAL, PARTIAL_STATE]);

    const newer = await makeImage(3);
    serveImage(fx.server, newer);
    fx.server.behave(() => ({}));
    const second = await fx.pull();
    await assertVerifiedImage(fx, second, newer);
    const fresh = fx.imageRequests()[4]!;
    assertEquals([fresh.range, fresh.status, fresh.bodyBytes], [undefined, 200, newer.length]);
  });
});

Deno.test("a resumed download reports progress from the resumed offset", async () => {
  await withFixture(async (fx) => {
    const ref: ImageRef = {
      vendor: "debian",
      names: ["12", "bookworm"],
      arch: "amd64",
      imageUrl: `${fx.server.url}${IMAGE_PATH}`,
      fileName: IMAGE_NAME,
      checksumUrl: `${fx.server.url}${SUMS_PATH}`,
      algorithm: "sha512",
    };
    const options = { imagesDir: fx.home.images };
    fx.server.behave(mirrorDiesAfter(MIB));
    let failure: unknown;
    await ensureImage(ref, { ...options, transfer: { attempts: 1 } }).catch((e) => failure = e);
    assertMatch(String(failure), /failed after 1 attempt: /);

    fx.server.behave(() => ({}));
    const reports: [number, number | undefined, number][] = [];
    const cached = await ensureImage(ref, {
      ...options,
      onProgress: (done, total, resumedFrom) => reports.push([done, total, resumedFrom]),
    });
    assertEquals(cached.size, fx.image.length);
    assertEquals(reports[0], [MIB, fx.image.length, MIB]);
    assertEquals(reports.at(-1), [fx.image.length, fx.image.length, MIB]);
    for (let i = 1; i < reports.length; i++) assert(reports[i]![0] >= reports[i - 1]![0]);
  });
});

async function canMountTmpfs(): Promise<boolean> {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir],
      stderr: "null",
    }).output();
    if (!out.success) return false;
    await new Deno.Command("umount", { args: [dir] }).output();
    return true;
  } finally {
    await Deno.remove(dir);
  }
}

Deno.test({
  name: "a full disk ends with a DiskFull error, no image and the space given back",
  ignore: !(await canMountTmpfs()),
  async fn() {
    const disk = await Deno.makeTempDir({ prefix: "cubic-small-disk-" });
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=2m", "tmpfs", disk],
    }).output();
    assert(mount.success);
    try {
      await withFixture(async (fx) => {
        const result = await fx.pull();
        assertEquals(result.code, 1, result.stderr);
        assertMatch(
          result.stderr,
          /^error: Saving 'debian-12-generic-amd64\.qcow2' in '.*' failed: the disk is full$/m,
        );
        assertMatch(
          result.stderr,
          /^hint: Free at least 4\.\d MiB there .*cubic prune.* the partial download was removed$/m,
        );
        assertEquals(await listDir(fx.home.images), [LOCK]);
        const df = new TextDecoder().decode(
          (await new Deno.Command("df", { args: ["-k", "--output=used", disk] }).output()).stdout,
        );
        assert(Number(df.trim().split("\n")[1]) < 100, `still used on the small disk: ${df}`);
      }, { cacheHome: disk });
    } finally {
      await new Deno.Command("umount", { args: [disk] }).output();
      await Deno.remove(disk, { recursive: true });
    }
  },
});

for (const ignoreXfsz of [false, true]) {
  const how = ignoreXfsz ? "with SIGXFSZ ignored by the shell" : "(SIGXFSZ not ignored)";
  Deno.test(`a file-size limit (ulimit -f) ${how} ends with a DiskFull error and no image`, async () => {
    await withFixture(async (fx) => {
      // 1 MiB for a POSIX sh (512-byte blocks), 2 MiB for bash: either is less than the image.
      const run = spawnCubic(["pull", "debian:12"], fx.home.env, {
        fileSizeLimitBlocks: 2048,
        ignoreXfsz,
      });
      const result = await run.output;
      assertEquals(result.code, 1, result.stderr);
      assertMatch(
        result.stderr,
        /^error: Saving 'debian-12-generic-amd64\.qcow2' in '.*' failed: the file-size limit \(ulimit -f\) is smaller than the image \(4\.\d MiB\)$/m,
      );
      assertMatch(result.stderr, /^hint: Raise the limit .* the partial download was removed$/m);
      assertEquals(await listDir(fx.home.images), [LOCK]);
    });
  });
}
