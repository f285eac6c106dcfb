/**
 * `fetchText` (listings, checksum files) against real HTTP servers on 127.0.0.1: a response
 * larger than the cap — declared or streamed without a length, as an endless listing would be —
 * is a `ResponseTooLarge` error after at most the cap's bytes, and credentials in a URL are sent
 * as HTTP Basic but never shown.
 */
import {
  DeadlineExceeded,
  fetchBytes,
  fetchText,
  MAX_TEXT_BYTES,
  ResponseTooLarge,
  SMALL_FETCH_DEADLINE_MS,
} from "../../src/http.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../support/assert.ts";
import { makeCubicHome, runCubic } from "../support/cli.ts";
import { startFaultyServer } from "../support/faulty_server.ts";

const NO_RETRY = { attempts: 1, retryDelayMs: 1, stallTimeoutMs: 5_000 };

/** A server whose every answer is an endless stream of listing lines, without Content-Length. */
function startEndlessServer() {
  let sent = 0;
  const line = new TextEncoder().encode('<a href="x/">x/</a>\n'.repeat(3000));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          sent += line.length;
          controller.enqueue(line);
        },
      }),
      { headers: { "content-type": "text/html" } },
    ));
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get sent() {
      return sent;
    },
    close: () => server.shutdown(),
  };
}

Deno.test("a text response declared larger than the cap fails before its body is read", async () => {
  const server = startFaultyServer({ "/SHA256SUMS": { body: new Uint8Array(2000).fill(0x61) } });
  try {
    const error = await assertRejects<ResponseTooLarge>(
      () => fetchText(`${server.url}/SHA256SUMS`, { transfer: NO_RETRY, maxBytes: 1000 }),
      ResponseTooLarge,
    );
    assertEquals(error.code, "ResponseTooLarge");
    assertMatch(
      error.message,
      /^Fetching 'http:\/\/127\.0\.0\.1:\d+\/SHA256SUMS' failed: the response is larger than 1000 bytes$/,
    );
    assertEquals(
      server.requestsFor("/SHA256SUMS").length,
      1,
      "a too large response is not retried",
    );
  } finally {
    await server.close();
  }
});

Deno.test("a text response of exactly the cap is read whole", async () => {
  const server = startFaultyServer({ "/SHA256SUMS": { body: new Uint8Array(1000).fill(0x61) } });
  try {
    const text = await fetchText(`${server.url}/SHA256SUMS`, {
      transfer: NO_RETRY,
      maxBytes: 1000,
    });
    assertEquals(text, "a".repeat(1000));
  } finally {
    await server.close();
  }
});

Deno.test("an endless listing without Content-Length stops at the default cap of 32 MiB", async () => {
  const server = startEndlessServer();
  try {
    await assertRejects(
      () => fetchText(`${server.url}/images/`, { transfer: NO_RETRY }),
      ResponseTooLarge,
      "larger than 32 MiB",
    );
    assert(server.sent < MAX_TEXT_BYTES + 8 * 1024 * 1024, `read ${server.sent} bytes`);
  } finally {
    await server.close();
  }
});

Deno.test("cubic pull against a mirror with an endless listing is a ResponseTooLarge error, not a crash", async () => {
  const server = startEndlessServer();
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: `${server.url}/images/cloud/` });
  try {
    const result = await runCubic(["pull", "debian:12"], { env: home.env });
    assertEquals(result.code, 1, result.stderr);
    assertMatch(
      result.stderr,
      /^error: Fetching 'http:\/\/127\.0\.0\.1:\d+\/images\/cloud\/.*' failed: the response is larger than 32 MiB$/m,
    );
    assertMatch(result.stderr, /^hint: .*mirror/m);
    assert(!result.stderr.includes("unexpected failure"), result.stderr);
  } finally {
    await server.close();
    await Deno.remove(home.root, { recursive: true });
  }
});

/** A server sending a 100 KB document one byte every 50 ms: never stalled, never finished. */
function startDripServer() {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    let timer: ReturnType<typeof setInterval> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        timer = setInterval(() => {
          try {
            controller.enqueue(new Uint8Array([0x61]));
          } catch {
            clearInterval(timer);
          }
        }, 50);
      },
      cancel() {
        clearInterval(timer);
      },
    });
    return new Response(body, { headers: { "content-length": "100000" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get requests() {
      return requests;
    },
    close: () => server.shutdown(),
  };
}

Deno.test("a document dripping a byte at a time fails at the overall deadline, not retried", async () => {
  assertEquals(SMALL_FETCH_DEADLINE_MS, 120_000);
  const server = startDripServer();
  try {
    const started = Date.now();
    const error = await assertRejects<DeadlineExceeded>(
      () =>
        fetchText(`${server.url}/SHA256SUMS`, {
          transfer: { attempts: 4, retryDelayMs: 1, stallTimeoutMs: 1_000 },
          deadlineMs: 1_500,
        }),
      DeadlineExceeded,
    );
    const elapsed = Date.now() - started;
    assertEquals(error.code, "DeadlineExceeded");
    assertMatch(
      error.message,
      /^Fetching 'http:\/\/127\.0\.0\.1:\d+\/SHA256SUMS' failed: it did not arrive within 1\.5 s \(the mirror sends too slowly\)$/,
    );
    assert(elapsed >= 1_400 && elapsed < 4_000, `took ${elapsed} ms`);
    assertEquals(server.requests, 1, "a deadline is not retried");
  } finally {
    await server.close();
  }
});

Deno.test("fetchBytes returns the exact bytes received, a byte-order mark and invalid UTF-8 included", async () => {
  const body = new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xfc, 0x0a]);
  const server = startFaultyServer({ "/SHA256SUMS": { body } });
  try {
    assertEquals(await fetchBytes(`${server.url}/SHA256SUMS`, { transfer: NO_RETRY }), body);
  } finally {
    await server.close();
  }
});

Deno.test("credentials in a URL are sent as HTTP Basic and left out of errors", async () => {
  const seen: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    seen.push(request.headers.get("authorization"));
    return new URL(request.url).pathname === "/ok"
      ? new Response("listing")
      : new Response("nope", { status: 404 });
  });
  const base = `http://us%40er:p%3Ass@127.0.0.1:${server.addr.port}`;
  try {
    assertEquals(await fetchText(`${base}/ok`, { transfer: NO_RETRY }), "listing");
    const error = await assertRejects(() => fetchText(`${base}/missing`, { transfer: NO_RETRY }));
    assert(!(error as Error).message.includes("p%3Ass"), (error as Error).message);
    assertMatch((error as Error).message, /'http:\/\/us%40er:\*\*\*@127\.0\.0\.1:\d+\/missing'/);
    assertEquals(seen, [`Basic ${btoa("us@er:p:ss")}`, `Basic ${btoa("us@er:p:ss")}`]);
  } finally {
    await server.shutdown();
  }
});
