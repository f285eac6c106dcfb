/**
 * A deliberately unreliable mirror for download fault tests. It speaks HTTP/1.1 over a raw
 * socket on 127.0.0.1 (one request per connection), so a test controls every byte: it can hang
 * up before answering, drop the connection or fall silent mid-body, throttle, ignore `Range`,
 * or answer with any status and body. Files are served from memory; a path ending in `/` gets a
 * listing of the files under it, enough for a provider's scraper.
 */
import { createHash } from "node:crypto";

/** A file the server holds. */
export interface ServedFile {
  body: Uint8Array;
  contentType?: string;
  /** Default: a strong ETag derived from the body. */
  etag?: string;
  /** Default: a fixed date. */
  lastModified?: string;
}

/** How to answer one request; the default (`{}`) is a correct answer. */
export interface Behaviour {
  /** Close the connection without sending anything. */
  hangUp?: boolean;
  /** Send nothing, keep the connection open until the server closes. */
  silent?: boolean;
  /** Answer with this status and `body` instead of the file. */
  status?: number;
  body?: Uint8Array | string;
  contentType?: string;
  /** Extra response headers, e.g. a redirect's `Location`. */
  headers?: Record<string, string>;
  /** Send no `Content-Length`: the body ends when the connection closes. */
  omitLength?: boolean;
  /** Send the whole file with 200 even when a `Range` is asked for. */
  ignoreRange?: boolean;
  /** Close the connection after this many body bytes. */
  dropAfter?: number;
  /** Fall silent after this many body bytes, keeping the connection open. */
  stallAfter?: number;
  /** Throttle the body to about this rate. */
  bytesPerSecond?: number;
}

/** One request as the server saw and answered it; `bodyBytes` grows while the body is sent. */
export interface RequestRecord {
  method: string;
  path: string;
  range: string | undefined;
  ifRange: string | undefined;
  /** The status sent, undefined when no response was. */
  status: number | undefined;
  bodyBytes: number;
  /** The whole response was sent. */
  finished: boolean;
}

/** Decides the behaviour for a request; `nth` counts earlier requests for the same path. */
export type Behave = (request: RequestRecord, nth: number) => Behaviour;

/** A running faulty server. */
export interface FaultyServer {
  /** `http://127.0.0.1:<port>` without a trailing slash. */
  url: string;
  /** Served files by URL path; tests may replace entries between or during requests. */
  files: Map<string, ServedFile>;
  /** Every request in arrival order. */
  requests: RequestRecord[];
  /** Replaces the behaviour for later requests. */
  behave(fn: Behave): void;
  /** The requests for one path. */
  requestsFor(path: string): RequestRecord[];
  /** Resolves once some request satisfies `predicate` (polled every 10 ms). */
  waitFor(predicate: (requests: RequestRecord[]) => boolean): Promise<void>;
  /** Closes the listener and every open connection, and waits for the handlers. */
  close(): Promise<void>;
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: "OK",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  416: "Range Not Satisfiable",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

const encoder = new TextEncoder();

/**
 * Every file under `root` (symbolic links followed) as served files by URL path, e.g. a vendor
 * layout written by vendor_mirrors.ts, so a faulty server can misbehave for one of them.
 */
export async function filesUnder(root: string): Promise<Record<string, ServedFile>> {
  const files: Record<string, ServedFile> = {};
  const walk = async (dir: string, prefix: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      const stat = await Deno.stat(path);
      if (stat.isDirectory) await walk(path, `${prefix}${entry.name}/`);
      else files[`${prefix}${entry.name}`] = { body: await Deno.readFile(path) };
    }
  };
  await walk(root, "/");
  return files;
}

/** Starts a faulty server holding `files` (URL path → file). */
export function startFaultyServer(files: Record<string, ServedFile>): FaultyServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const state = {
    files: new Map(Object.entries(files)),
    requests: [] as RequestRecord[],
    behave: (() => ({})) as Behave,
  };
  const connections = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  let closing = false;
  let release!: () => void;
  const closed = new Promise<void>((resolve) => release = resolve);

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        connections.add(conn);
        const handler = handle(conn, state, closed).catch(() => {}).finally(() => {
          connections.delete(conn);
          handlers.delete(handler);
          try {
            conn.close();
          } catch {
            // already closed
          }
        });
        handlers.add(handler);
      }
    } catch (error) {
      if (!closing) throw error;
    }
  })();

  return {
    url: `http://127.0.0.1:${port}`,
    files: state.files,
    requests: state.requests,
    behave(fn) {
      state.behave = fn;
    },
    requestsFor(path) {
      return state.requests.filter((r) => r.path === path);
    },
    async waitFor(predicate) {
      while (!predicate(state.requests)) await delay(10);
    },
    async close() {
      closing = true;
      listener.close();
      release();
      for (const conn of connections) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await accepting;
      await Promise.allSettled([...handlers]);
    },
  };
}

async function handle(
  conn: Deno.Conn,
  state: { files: Map<string, ServedFile>; requests: RequestRecord[]; behave: Behave },
  closed: Promise<void>,
): Promise<void> {
  const head = await readHead(conn);
  if (head === undefined) return;
  const [requestLine = "", ...headerLines] = head.split("\r\n");
  const [method = "", target = ""] = requestLine.split(" ");
  const headers = new Map<string, string>();
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
  }
  const record: RequestRecord = {
    method,
    path: new URL(target, "http://127.0.0.1").pathname,
    range: headers.get("range"),
    ifRange: headers.get("if-range"),
    status: undefined,
    bodyBytes: 0,
    finished: false,
  };
  const nth = state.requests.filter((r) => r.path === record.path).length;
  state.requests.push(record);
  const behaviour = state.behave(record, nth);
  if (behaviour.hangUp) return;
  if (behaviour.silent) return await closed;

  const answer = respond(record, behaviour, state.files);
  record.status = answer.status;
  const lines = [
    `HTTP/1.1 ${answer.status} ${STATUS_TEXT[answer.status] ?? "Unknown"}`,
    ...(behaviour.omitLength ? [] : [`Content-Length: ${answer.body.length}`]),
    "Connection: close",
    ...Object.entries({ ...answer.headers, ...behaviour.headers }).map(([name, value]) =>
      `${name}: ${value}`
    ),
  ];
  await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
  if (method === "HEAD") {
    record.finished = true;
    return;
  }

  const cut = Math.min(
    answer.body.length,
    behaviour.dropAfter ?? Infinity,
    behaviour.stallAfter ?? Infinity,
  );
  const rate = behaviour.bytesPerSecond;
  const chunkSize = rate === undefined ? 64 * 1024 : Math.max(1024, Math.floor(rate / 20));
  const started = Date.now();
  record.finished = answer.body.length === 0;
  while (record.bodyBytes < cut) {
    const end = Math.min(cut, record.bodyBytes + chunkSize);
    await writeAll(conn, answer.body.subarray(record.bodyBytes, end));
    record.bodyBytes = end;
    record.finished = end === answer.body.length;
    if (rate !== undefined && end < cut) {
      const due = started + (record.bodyBytes / rate) * 1000;
      await delay(Math.max(0, due - Date.now()));
    }
  }
  if (record.finished) return;
  if (behaviour.stallAfter !== undefined && behaviour.dropAfter === undefined) await closed;
}

function respond(
  record: RequestRecord,
  behaviour: Behaviour,
  files: Map<string, ServedFile>,
): { status: number; body: Uint8Array; headers: Record<string, string> } {
  if (behaviour.status !== undefined) {
    const body = behaviour.body ?? `${behaviour.status} ${STATUS_TEXT[behaviour.status] ?? ""}\n`;
    return {
      status: behaviour.status,
      body: typeof body === "string" ? encoder.encode(body) : body,
      headers: { "Content-Type": behaviour.contentType ?? "text/plain" },
    };
  }
  const file = files.get(record.path) ?? listing(record.path, files);
  if (file === undefined) {
    return {
      status: 404,
      body: encoder.encode(`not found: ${record.path}\n`),
      headers: { "Content-Type": "text/plain" },
    };
  }
  const etag = file.etag ??
    `"${createHash("sha256").update(file.body).digest("hex").slice(0, 16)}"`;
  const lastModified = file.lastModified ?? "Mon, 01 Dec 2025 10:00:00 GMT";
  const headers: Record<string, string> = {
    "Content-Type": behaviour.contentType ?? file.contentType ?? "application/octet-stream",
    "ETag": etag,
    "Last-Modified": lastModified,
    "Accept-Ranges": "bytes",
  };
  const range = /^bytes=(\d+)-$/.exec(record.range ?? "");
  const current = record.ifRange === undefined || record.ifRange === etag ||
    record.ifRange === lastModified;
  if (range && current && !behaviour.ignoreRange) {
    const start = Number(range[1]);
    const size = file.body.length;
    if (start >= size) {
      return {
        status: 416,
        body: new Uint8Array(),
        headers: { "Content-Range": `bytes */${size}` },
      };
    }
    headers["Content-Range"] = `bytes ${start}-${size - 1}/${size}`;
    return { status: 206, body: file.body.subarray(start), headers };
  }
  return { status: 200, body: file.body, headers };
}

/** An HTML listing of the files directly under a directory path, or undefined. */
function listing(path: string, files: Map<string, ServedFile>): ServedFile | undefined {
  if (!path.endsWith("/")) return undefined;
  const names = new Set<string>();
  for (const key of files.keys()) {
    if (!key.startsWith(path)) continue;
    const rest = key.slice(path.length);
    const slash = rest.indexOf("/");
    names.add(slash < 0 ? rest : rest.slice(0, slash + 1));
  }
  if (names.size === 0) return undefined;
  const links = [...names].sort().map((n) => `<a href="${n}">${n}</a>`).join("\n");
  return {
    body: encoder.encode(`<html><body><h1>Index of ${path}</h1>\n${links}\n</body></html>\n`),
    contentType: "text/html",
  };
}

/** Reads up to the blank line ending a request head; undefined when the client went away. */
async function readHead(conn: Deno.Conn): Promise<string | undefined> {
  const buffer = new Uint8Array(16 * 1024);
  let filled = 0;
  while (filled < buffer.length) {
    const n = await conn.read(buffer.subarray(filled));
    if (n === null) return undefined;
    filled += n;
    const text = new TextDecoder().decode(buffer.subarray(0, filled));
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) return text.slice(0, end);
  }
  return undefined;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
