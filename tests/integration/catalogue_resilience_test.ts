/**
 * `cubic images` when mirrors misbehave: a 503 for one release, a listing that suddenly names
 * nothing, a vendor whose base URL is a 404, a lying Content-Length, every vendor down. The
 * mirror is a raw HTTP/1.1 server on 127.0.0.1 whose answers a test changes between runs (a
 * HEAD answer's Content-Length included, which Deno.serve would correct).
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { makeCubicHome, runCubic } from "../support/cli.ts";

/** One path's answer: a status (default 200), a body, and optionally a HEAD Content-Length. */
interface Route {
  status?: number;
  body?: string;
  headLength?: string;
}

interface RawMirror {
  url: string;
  routes: Map<string, Route>;
  close(): Promise<void>;
}

const encoder = new TextEncoder();

function listing(names: string[]): string {
  return `<html><body>${names.map((n) => `<a href="${n}">${n}</a>`).join("\n")}</body></html>`;
}

/** Debian's layout with bookworm's amd64 image, whose HEAD says it has 16 MiB. */
function debianRoutes(): Map<string, Route> {
  return new Map<string, Route>([
    ["/images/cloud/", { body: listing(["../", "bookworm/", "bookworm-backports/"]) }],
    ["/images/cloud/bookworm/latest/", {
      body: listing(["debian-12-generic-amd64.qcow2", "SHA512SUMS"]),
    }],
    ["/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2", {
      body: "",
      headLength: String(16 * 1024 ** 2),
    }],
  ]);
}

function startRawMirror(routes: Map<string, Route>): RawMirror {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const handlers = new Set<Promise<void>>();
  const serve = async (conn: Deno.Conn) => {
    try {
      let head = "";
      const buffer = new Uint8Array(8192);
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buffer);
        if (n === null) return;
        head += new TextDecoder().decode(buffer.subarray(0, n));
      }
      const [method = "", target = ""] = head.split("\r\n")[0]!.split(" ");
      const route = routes.get(new URL(target, "http://127.0.0.1").pathname) ??
        { status: 404, body: "not found\n" };
      const status = route.status ?? 200;
      const body = encoder.encode(route.body ?? "");
      const length = method === "HEAD" && route.headLength !== undefined
        ? route.headLength
        : String(body.length);
      const lines = [
        `HTTP/1.1 ${status} ${status === 200 ? "OK" : "Error"}`,
        `Content-Length: ${length}`,
        "Content-Type: text/html",
        "Connection: close",
      ];
      let out = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
      if (method !== "HEAD") out = new Uint8Array([...out, ...body]);
      for (let written = 0; written < out.length;) {
        written += await conn.write(out.subarray(written));
      }
    } finally {
      conn.close();
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const handler = serve(conn).catch(() => {}).finally(() => handlers.delete(handler));
        handlers.add(handler);
      }
    } catch {
      // closed
    }
  })();
  return {
    url: `http://127.0.0.1:${port}`,
    routes,
    async close() {
      listener.close();
      await accepting;
      await Promise.allSettled([...handlers]);
    },
  };
}

async function storedEntries(cache: string, vendor: string): Promise<unknown[]> {
  const stored = JSON.parse(await Deno.readTextFile(join(cache, "catalogue.json")));
  return stored[vendor]?.entries ?? [];
}

Deno.test("a 503 for one Debian release keeps the stored list instead of dropping the release", async () => {
  const mirror = startRawMirror(debianRoutes());
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: `${mirror.url}/images/cloud/` });
  try {
    const first = await runCubic(["images"], { env: home.env });
    assertEquals(first.code, 0, first.stderr);
    assertMatch(first.stdout, /^debian:12\s+debian:bookworm\s+amd64\s+16 MiB/m);

    mirror.routes.set("/images/cloud/bookworm/latest/", { status: 503, body: "busy\n" });
    const busy = await runCubic(["images", "--refresh"], { env: home.env });
    assertEquals(busy.code, 0, busy.stderr);
    assertMatch(busy.stdout, /^debian:12\s+debian:bookworm\s+amd64/m);
    assertMatch(
      busy.stderr,
      /^warning: debian: mirror unreachable \(Fetching '.*\/bookworm\/latest\/' failed: HTTP 503 .*\); showing its list from /m,
    );
    assertEquals((await storedEntries(home.cache, "debian")).length, 1);
  } finally {
    await mirror.close();
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("a mirror that suddenly lists nothing does not replace the stored list, and says so", async () => {
  const mirror = startRawMirror(debianRoutes());
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: `${mirror.url}/images/cloud/` });
  try {
    assertEquals((await runCubic(["images"], { env: home.env })).code, 0);
    mirror.routes.set("/images/cloud/", { body: listing(["../"]) });
    const empty = await runCubic(["images", "--refresh"], { env: home.env });
    assertEquals(empty.code, 0, empty.stderr);
    assertMatch(empty.stdout, /^debian:12\s+debian:bookworm\s+amd64/m);
    assertMatch(
      empty.stderr,
      /^warning: debian: no images found at http:\/\/127\.0\.0\.1:\d+\/images\/cloud\/; showing its list from /m,
    );
    assertEquals((await storedEntries(home.cache, "debian")).length, 1);
  } finally {
    await mirror.close();
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("a vendor whose mirror offers nothing is named on stderr, not silently left out", async () => {
  const mirror = startRawMirror(debianRoutes());
  const home = await makeCubicHome({
    CUBIC_MIRROR_DEBIAN: `${mirror.url}/images/cloud/`,
    CUBIC_MIRROR_ARCHLINUX: `${mirror.url}/archlinux/`,
    CUBIC_MIRROR_GENTOO: `${mirror.url}/gentoo/`,
  });
  try {
    const r = await runCubic(["images", "--all"], { env: home.env });
    assertEquals(r.code, 0, r.stderr);
    assertMatch(
      r.stderr,
      /^warning: archlinux: no images found at http:\/\/127\.0\.0\.1:\d+\/archlinux\/$/m,
    );
    assertMatch(
      r.stderr,
      /^warning: gentoo: no images found at http:\/\/127\.0\.0\.1:\d+\/gentoo\/$/m,
    );
  } finally {
    await mirror.close();
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("an implausible Content-Length is shown as an unknown size", async () => {
  const routes = debianRoutes();
  routes.get("/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2")!.headLength =
    "100000000000000000000";
  const mirror = startRawMirror(routes);
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: `${mirror.url}/images/cloud/` });
  try {
    const table = await runCubic(["images"], { env: home.env });
    assertEquals(table.code, 0, table.stderr);
    assertMatch(table.stdout, /^debian:12\s+debian:bookworm\s+amd64\s+\?\s+no\s+no$/m);
    assert(!table.stdout.includes("TiB"), table.stdout);
    const json = JSON.parse((await runCubic(["images", "--json"], { env: home.env })).stdout);
    assertEquals(json[0].size, null);
  } finally {
    await mirror.close();
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("images fails with exit 1 when no vendor offers anything, its warnings in vendor order", async () => {
  const home = await makeCubicHome();
  try {
    const r = await runCubic(["images"], { env: home.env });
    assertEquals(r.code, 1, r.stderr);
    assertMatch(r.stderr, /^error: Listing images failed: no mirror offered any image$/m);
    assertMatch(r.stderr, /^hint: .*cubic images --refresh/m);
    const vendors = [...r.stderr.matchAll(/^warning: ([a-z-]+): listing failed: /gm)].map((m) =>
      m[1]!
    );
    assertEquals(vendors.length, 9, r.stderr);
    assertEquals(vendors, [...vendors].sort());
  } finally {
    await Deno.remove(home.root, { recursive: true });
  }
});

Deno.test("a stored catalogue of the wrong shape is ignored and rewritten from the mirror", async () => {
  const mirror = startRawMirror(debianRoutes());
  const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: `${mirror.url}/images/cloud/` });
  const file = join(home.cache, "catalogue.json");
  try {
    await Deno.mkdir(home.cache, { recursive: true });
    const broken = [
      "null",
      "[]",
      '{"debian": null}',
      '{"debian": {"vendor": "debian", "baseUrl": 1, "fetchedAt": "x", "entries": null}}',
      `{"debian": {"vendor": "debian", "baseUrl": "${mirror.url}/images/cloud/", ` +
      `"fetchedAt": "${new Date().toISOString()}", "entries": [{"vendor": "debian"}]}}`,
    ];
    for (const text of broken) {
      await Deno.writeTextFile(file, text);
      const r = await runCubic(["images"], { env: home.env });
      assertEquals(r.code, 0, `${text}: ${r.stderr}`);
      assert(!r.stderr.includes("a bug in Cubic"), r.stderr);
      assertMatch(r.stdout, /^debian:12\s+debian:bookworm\s+amd64\s+16 MiB/m, text);
      assertEquals((await storedEntries(home.cache, "debian")).length, 1, text);
    }
  } finally {
    await mirror.close();
    await Deno.remove(home.root, { recursive: true });
  }
});
