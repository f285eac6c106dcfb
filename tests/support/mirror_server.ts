/**
 * A local stand-in for a vendor's image mirror: serves a directory tree over real HTTP on
 * 127.0.0.1 the way Apache serves cloud.debian.org (autoindex listings, 301 to the slash form of
 * a directory, byte ranges), so Cubic's scraper and downloader run unmodified in tests.
 */
import { join } from "node:path";

/** A running mirror server. */
export interface MirrorServer {
  /** `http://127.0.0.1:<port>` without a trailing slash. */
  url: string;
  port: number;
  /** Stops accepting connections and waits for in-flight responses to finish. */
  close(): Promise<void>;
  /** The URL path of every request, in arrival order (as sent, still percent-encoded). */
  requests: string[];
}

/** Options for {@linkcode startMirrorServer}. */
export interface MirrorServerOptions {
  /** TCP port on 127.0.0.1; 0 or absent picks a free one. */
  port?: number;
  /** Answer 401 to requests without these HTTP Basic credentials (a private mirror). */
  basicAuth?: { user: string; password: string };
}

/** Serves the files under `root` on 127.0.0.1 with Apache-style listings and ranges. */
export async function startMirrorServer(
  root: string,
  options: MirrorServerOptions = {},
): Promise<MirrorServer> {
  // Resolve once so a relative root keeps working if the test changes directory later.
  const base = await Deno.realPath(root);
  const requests: string[] = [];
  let port = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
    async (request) => {
      const url = new URL(request.url);
      requests.push(url.pathname);
      if (options.basicAuth && request.headers.get("authorization") !== basic(options.basicAuth)) {
        return new Response("credentials required\n", {
          status: 401,
          headers: { "www-authenticate": 'Basic realm="mirror"' },
        });
      }
      try {
        return await respond(base, request, url, port);
      } catch (error) {
        return text(500, `failed to serve ${url.pathname}: ${String(error)}\n`);
      }
    },
  );
  port = server.addr.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    async close() {
      await server.shutdown();
    },
  };
}

const CHUNK_BYTES = 256 * 1024;

function basic(credentials: { user: string; password: string }): string {
  return `Basic ${btoa(`${credentials.user}:${credentials.password}`)}`;
}

async function respond(base: string, request: Request, url: URL, port: number) {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
  }
  const segments = decodeSegments(url.pathname);
  if (segments === undefined) return text(400, `bad path ${url.pathname}\n`);
  const path = join(base, ...segments);

  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path); // follows symlinks: the test image is a symlink into a cache
  } catch (error) {
    if (isMissing(error)) return text(404, `not found: ${url.pathname}\n`);
    throw error;
  }

  const head = request.method === "HEAD";
  if (info.isDirectory) {
    if (!url.pathname.endsWith("/")) {
      return new Response(null, {
        status: 301,
        headers: { location: `${url.pathname}/${url.search}` },
      });
    }
    const index = join(path, "index.html");
    const indexInfo = await statOrUndefined(index);
    if (indexInfo?.isFile) return await serveFile(index, indexInfo, request, head);
    const html = await renderListing(path, url.pathname, port);
    const body = new TextEncoder().encode(html);
    return new Response(head ? null : body, {
      headers: {
        "content-type": "text/html;charset=UTF-8",
        "content-length": String(body.byteLength),
      },
    });
  }
  // Apache answers 404 for "file/": a trailing slash names a directory.
  if (!info.isFile || url.pathname.endsWith("/")) {
    return text(404, `not found: ${url.pathname}\n`);
  }
  return await serveFile(path, info, request, head);
}

/** Decoded path segments, or undefined when a segment could escape the root. */
function decodeSegments(pathname: string): string[] | undefined {
  const segments: string[] = [];
  for (const raw of pathname.split("/")) {
    if (raw === "") continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    // The URL parser already folds literal "." and ".." segments; encoded slashes and dots
    // ("..%2f", "%2e%2e%2f") only become traversal after decoding, so check here.
    if (segment === "." || segment === ".." || /[/\\\0]/.test(segment)) return undefined;
    segments.push(segment);
  }
  return segments;
}

async function serveFile(
  path: string,
  info: Deno.FileInfo,
  request: Request,
  head: boolean,
): Promise<Response> {
  const size = info.size;
  const headers = new Headers({
    "content-type": contentType(path),
    "accept-ranges": "bytes",
  });
  if (info.mtime) headers.set("last-modified", info.mtime.toUTCString());

  let start = 0;
  let end = size - 1;
  let status = 200;
  const range = request.headers.get("range");
  if (range !== null) {
    const parsed = parseRange(range, size);
    if (parsed === "unsatisfiable") {
      headers.set("content-range", `bytes */${size}`);
      return new Response(null, { status: 416, headers });
    }
    // A malformed or multi-range header is ignored, as RFC 9110 allows: the whole file follows.
    if (parsed !== undefined) {
      [start, end] = parsed;
      status = 206;
      headers.set("content-range", `bytes ${start}-${end}/${size}`);
    }
  }
  const length = Math.max(0, end - start + 1);
  headers.set("content-length", String(length));
  if (head) return new Response(null, { status, headers });

  const file = await Deno.open(path, { read: true });
  try {
    if (start > 0) await file.seek(start, Deno.SeekMode.Start);
  } catch (error) {
    file.close();
    throw error;
  }
  return new Response(fileStream(file, length), { status, headers });
}

/** `[first, last]` byte offsets, "unsatisfiable", or undefined for a header we do not honour. */
function parseRange(header: string, size: number): [number, number] | "unsatisfiable" | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return undefined;
  if (first === "") {
    // "bytes=-N": the last N bytes.
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size) return "unsatisfiable";
  if (end < start) return undefined;
  return [start, end];
}

/** Streams `length` bytes from the file's current offset; images are too big to buffer. */
function fileStream(file: Deno.FsFile, length: number): ReadableStream<Uint8Array> {
  let left = length;
  let closed = false;
  const done = () => {
    if (!closed) {
      closed = true;
      file.close();
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (left <= 0) {
        done();
        controller.close();
        return;
      }
      const buffer = new Uint8Array(Math.min(left, CHUNK_BYTES));
      let read: number | null;
      try {
        read = await file.read(buffer);
      } catch (error) {
        done();
        controller.error(error);
        return;
      }
      if (read === null) {
        // The file shrank under us; ending early makes the client see a short body.
        done();
        controller.close();
        return;
      }
      left -= read;
      controller.enqueue(buffer.subarray(0, read));
    },
    cancel() {
      done();
    },
  });
}

interface Entry {
  name: string;
  info: Deno.FileInfo;
}

/** An Apache 2.4 mod_autoindex HTMLTable page, as cloud.debian.org renders it. */
async function renderListing(dir: string, pathname: string, port: number): Promise<string> {
  const entries: Entry[] = [];
  for await (const entry of Deno.readDir(dir)) {
    // Debian's Apache config hides dot files (IndexIgnore .??*); broken symlinks have no stat.
    if (entry.name.startsWith(".")) continue;
    const info = await statOrUndefined(join(dir, entry.name));
    if (info) entries.push({ name: entry.name, info });
  }
  const label = (entry: Entry) => entry.info.isDirectory ? `${entry.name}/` : entry.name;
  // Apache sorts by the displayed name byte by byte, so "bookworm-backports/" < "bookworm/".
  entries.sort((a, b) => compareCodeUnits(label(a), label(b)));

  const title = pathname === "/" ? "/" : pathname.replace(/\/$/, "");
  const rows: string[] = [];
  if (pathname !== "/") {
    const parent = escapeHtml(pathname.replace(/[^/]+\/$/, ""));
    rows.push(
      `<td class="indexcolicon"><a href="${parent}"><img src="/icons2/go-previous.png" alt="[PARENTDIR]"></a></td><td class="indexcolname"><a href="${parent}">Parent Directory</a></td><td class="indexcollastmod">&nbsp;</td><td class="indexcolsize">  - </td>`,
    );
  }
  for (const entry of entries) {
    const dir = entry.info.isDirectory;
    const shown = label(entry);
    // A relative href like "Cloud:/" would parse as a URL scheme; Apache prefixes "./" too.
    const href = escapeHtml(
      (shown.includes(":") ? "./" : "") + encodePathSegment(entry.name) + (dir ? "/" : ""),
    );
    const icon = dir
      ? `<img src="/icons2/folder.png" alt="[DIR]">`
      : `<img src="/icons2/unknown.png" alt="[   ]">`;
    const modified = entry.info.mtime ? `${formatDate(entry.info.mtime)}  ` : "&nbsp;";
    const size = dir ? "  - " : formatSize(entry.info.size);
    rows.push(
      `<td class="indexcolicon"><a href="${href}">${icon}</a></td><td class="indexcolname"><a href="${href}">${
        escapeHtml(shown)
      }</a></td><td class="indexcollastmod">${modified}</td><td class="indexcolsize">${size}</td>`,
    );
  }
  const body = rows.map((row, i) => `   <tr class="${i % 2 ? "odd" : "even"}">${row}</tr>\n`);
  return `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html>
 <head>
  <title>Index of ${escapeHtml(title)}</title>
  <link rel="stylesheet" href="/layout/autoindex.css" type="text/css">
<meta name="viewport" content="width=device-width, initial-scale=1"> </head>
 <body>
  <h1 id="indextitle">Index of ${escapeHtml(title)}</h1>
  <table id="indexlist">
   <tr class="indexhead"><th class="indexcolicon"><img src="/icons2/blank.png" alt="[ICO]"></th><th class="indexcolname"><a href="?C=N;O=D">Name</a></th><th class="indexcollastmod"><a href="?C=M;O=A">Last modified</a></th><th class="indexcolsize"><a href="?C=S;O=A">Size</a></th></tr>
   <tr class="indexbreakrow"><th colspan="4"><hr></th></tr>
${body.join("")}   <tr class="indexbreakrow"><th colspan="4"><hr></th></tr>
</table>
<address>Apache/2.4.63 (Unix) Server at 127.0.0.1 Port ${port}</address>
</body></html>
`;
}

/** Apache's apr_strfsize: "833 ", "6.0K", "275M", "3.0G". */
function formatSize(bytes: number): string {
  if (bytes < 973) return `${String(bytes).padStart(3)} `;
  const units = "KMGTPE";
  let size = bytes;
  for (const unit of units) {
    let remain = size % 1024;
    size = Math.floor(size / 1024);
    if (size >= 973) continue;
    if (size < 9 || (size === 9 && remain < 973)) {
      remain = Math.floor((remain * 5 + 256) / 512);
      if (remain >= 10) {
        size += 1;
        remain = 0;
      }
      return `${size}.${remain}${unit}`;
    }
    if (remain >= 512) size += 1;
    return `${String(size).padStart(3)}${unit}`;
  }
  return "****";
}

/** "YYYY-MM-DD HH:MM" in UTC, so listings do not depend on the machine's time zone. */
function formatDate(date: Date): string {
  return date.toISOString().slice(0, 16).replace("T", " ");
}

function encodePathSegment(name: string): string {
  // Keep the sub-delimiters Apache leaves alone (openSUSE's "Cloud:" directories, "+" in names).
  return encodeURIComponent(name).replace(
    /%(3A|40|21|24|26|27|28|29|2A|2B|2C|3B|3D)/g,
    (s) => decodeURIComponent(s),
  );
}

function escapeHtml(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** Byte order for ASCII names (what Apache does), without locale rules. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function contentType(path: string): string {
  if (path.endsWith(".html")) return "text/html";
  if (path.endsWith(".json")) return "application/json";
  if (/(\.txt|\.asc|SUMS|CHECKSUM|\.sha\d+|\.SHA\d+)$/.test(path)) {
    return "text/plain";
  }
  return "application/octet-stream";
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory;
}

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain;charset=UTF-8" } });
}
